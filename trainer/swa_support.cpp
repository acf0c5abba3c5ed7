// Trainer support for StochasticWeightAveraging: the forward-only pass over the training
// batches that recomputes batch norm statistics once the averaged weights are in place.
#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

void Trainer::forward_training_batches() {
  if (!model_ || !train_loader_ || fn_ != TrainerFn::fit)
    fail<ValueError>("forward_training_batches", "needs a running fit");
  autograd::NoGradGuard no_grad;
  // What training_step logs goes to a collection that is dropped: the pass is no epoch.
  MetricCollection discarded{true};
  MetricCollection* const saved_results = active_results_;
  const int64_t saved_batch_size = current_batch_size_;
  struct Restore {
    Trainer& t;
    MetricCollection* results;
    int64_t batch_size;
    ~Restore() {
      t.active_results_ = results;
      t.current_batch_size_ = batch_size;
    }
  } restore{*this, saved_results, saved_batch_size};
  active_results_ = &discarded;
  FxScope fx(*this, "training_step");
  const int64_t n = num_training_batches_;
  std::unique_ptr<BatchStream> stream = train_loader_->stream(0, n);
  for (int64_t b = 0; b < n; ++b) {
    std::optional<Batch> next = stream->next();
    if (!next) break;
    const Batch batch = precision_->convert_input(next->to(device_));
    discarded.begin_step();
    current_batch_size_ = batch.batch_size();
    const auto amp = precision_->forward_context(device_);
    model_->training_step(batch, b);
  }
}

}  // namespace ember
