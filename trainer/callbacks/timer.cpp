#include "trainer/callbacks/timer.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "trainer/duration.h"
#include "trainer/trainer.h"

namespace ember {

namespace {
const char* const kStages[] = {"train", "validate", "test"};

void check_stage(const std::string& stage) {
  for (const char* s : kStages)
    if (stage == s) return;
  fail<ValueError>("Timer", "stage must be \"train\", \"validate\" or \"test\", got \"", stage,
                   "\"");
}
}  // namespace

TimerDuration::TimerDuration(const char* text)
    : seconds(parse_dd_hh_mm_ss(text ? text : "", "Timer", "duration")) {}

Timer::Timer(TimerOptions options) : options_(std::move(options)) {
  if (options_.interval != "step" && options_.interval != "epoch")
    fail<ValueError>("Timer", "interval must be \"step\" or \"epoch\", got \"", options_.interval,
                     "\"");
  if (options_.duration && options_.duration->seconds.count() < 0)
    fail<ValueError>("Timer", "duration must be >= 0, got ", options_.duration->seconds.count(),
                     " s");
}

double Timer::now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Timer::time_elapsed(const std::string& stage) const {
  check_stage(stage);
  const double offset = stage == "train" ? offset_ : 0.0;
  const auto s = start_.find(stage);
  if (s == start_.end()) return offset;
  const auto e = end_.find(stage);
  return (e == end_.end() ? now() : e->second) - s->second + offset;
}

std::optional<double> Timer::time_remaining(const std::string& stage) const {
  if (!options_.duration) return std::nullopt;
  return options_.duration->seconds.count() - time_elapsed(stage);
}

std::optional<double> Timer::start_time(const std::string& stage) const {
  check_stage(stage);
  const auto it = start_.find(stage);
  return it == start_.end() ? std::nullopt : std::optional<double>(it->second);
}

std::optional<double> Timer::end_time(const std::string& stage) const {
  check_stage(stage);
  const auto it = end_.find(stage);
  return it == end_.end() ? std::nullopt : std::optional<double>(it->second);
}

void Timer::on_fit_start(Trainer& trainer, LightningModule&) {
  // A restored budget may already be spent.
  if (options_.duration) check_time_remaining(trainer);
}

void Timer::on_train_start(Trainer&, LightningModule&) {
  start_["train"] = now();
  end_.erase("train");
}
void Timer::on_train_end(Trainer&, LightningModule&) { end_["train"] = now(); }
void Timer::on_validation_start(Trainer&, LightningModule&) {
  start_["validate"] = now();
  end_.erase("validate");
}
void Timer::on_validation_end(Trainer&, LightningModule&) { end_["validate"] = now(); }
void Timer::on_test_start(Trainer&, LightningModule&) {
  start_["test"] = now();
  end_.erase("test");
}
void Timer::on_test_end(Trainer&, LightningModule&) { end_["test"] = now(); }

void Timer::on_train_batch_end(Trainer& trainer, LightningModule&, const Tensor&, const Batch&,
                               int64_t) {
  if (options_.interval == "step" && options_.duration) check_time_remaining(trainer);
}

void Timer::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  if (options_.interval == "epoch" && options_.duration) check_time_remaining(trainer);
}

void Timer::check_time_remaining(Trainer& trainer) {
  const double elapsed = time_elapsed("train");
  if (elapsed < options_.duration->seconds.count()) return;
  if (options_.verbose && !trainer.should_stop) {
    const auto s = static_cast<long long>(elapsed);
    std::fprintf(stderr,
                 "Timer: time limit reached. Elapsed time is %lld:%02lld:%02lld. Signaling "
                 "Trainer to stop.\n",
                 s / 3600, s / 60 % 60, s % 60);
  }
  trainer.should_stop = true;
}

std::string Timer::state_dict() const {
  nlohmann::json j;
  for (const char* s : kStages) j["time_elapsed"][s] = time_elapsed(s);
  return j.dump();
}

void Timer::load_state_dict(const std::string& state) {
  try {
    const nlohmann::json j = nlohmann::json::parse(state);
    offset_ = j.at("time_elapsed").value("train", 0.0);
  } catch (const nlohmann::json::exception& e) {
    fail<ValueError>("Timer", "cannot read its checkpoint state: ", e.what());
  }
}

}  // namespace ember
