#include "trainer/callbacks/grad_accum_scheduler.h"

#include <sstream>

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

namespace {
std::string list(const std::map<int64_t, int64_t>& m, bool keys) {
  std::ostringstream s;
  s << '[';
  for (auto it = m.begin(); it != m.end(); ++it)
    s << (it == m.begin() ? "" : ", ") << (keys ? it->first : it->second);
  s << ']';
  return s.str();
}
}  // namespace

GradientAccumulationScheduler::GradientAccumulationScheduler(std::map<int64_t, int64_t> scheduling)
    : scheduling_(std::move(scheduling)) {
  const char* op = "GradientAccumulationScheduler";
  if (scheduling_.empty()) fail<ValueError>(op, "scheduling is empty");
  if (scheduling_.begin()->first < 0)
    fail<ValueError>(op, "epochs must be >= 0, got ", list(scheduling_, true));
  for (const auto& [epoch, factor] : scheduling_)
    if (factor < 1)
      fail<ValueError>(op, "accumulation factors must be >= 1, got ", list(scheduling_, false));
  // Epochs before the first key accumulate nothing (Lightning adds {0: 1}).
  scheduling_.emplace(0, 1);
}

int64_t GradientAccumulationScheduler::get_accumulate_grad_batches(int64_t epoch) const {
  auto it = scheduling_.upper_bound(epoch);  // the first key > epoch; keys start at 0
  return std::prev(it)->second;
}

bool GradientAccumulationScheduler::going_to_accumulate_grad_batches() const {
  for (const auto& [epoch, factor] : scheduling_)
    if (factor > 1) return true;
  return false;
}

void GradientAccumulationScheduler::on_train_start(Trainer& trainer, LightningModule&) {
  if (trainer.options().accumulate_grad_batches != 1)
    fail<ValueError>("GradientAccumulationScheduler", "the Trainer's accumulate_grad_batches is ",
                     trainer.options().accumulate_grad_batches,
                     "; either remove accumulate_grad_batches from the Trainer or remove the "
                     "callback");
}

void GradientAccumulationScheduler::on_train_epoch_start(Trainer& trainer, LightningModule&) {
  trainer.set_accumulate_grad_batches(get_accumulate_grad_batches(trainer.current_epoch()));
}

}  // namespace ember
