#include "trainer/callbacks/prediction_writer.h"

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

BasePredictionWriter::BasePredictionWriter(const std::string& write_interval) {
  if (write_interval == "batch" || write_interval == "batch_and_epoch") on_batch_ = true;
  if (write_interval == "epoch" || write_interval == "batch_and_epoch") on_epoch_ = true;
  if (!on_batch_ && !on_epoch_)
    fail<ValueError>("BasePredictionWriter",
                     "write_interval should be one of \"batch\", "
                     "\"epoch\", \"batch_and_epoch\"; got \"",
                     write_interval, "\"");
}

void BasePredictionWriter::write_on_batch_end(Trainer&, LightningModule&, const Tensor&,
                                              const std::vector<int64_t>&, const Batch&, int64_t,
                                              int64_t) {
  fail<ValueError>("BasePredictionWriter",
                   "write_interval includes \"batch\" but write_on_batch_end is not overridden");
}

void BasePredictionWriter::write_on_epoch_end(Trainer&, LightningModule&,
                                              const std::vector<Tensor>&,
                                              const std::vector<std::vector<int64_t>>&) {
  fail<ValueError>("BasePredictionWriter",
                   "write_interval includes \"epoch\" but write_on_epoch_end is not overridden");
}

void BasePredictionWriter::on_predict_start(Trainer&, LightningModule&) {
  epoch_predictions_.clear();
  epoch_batch_indices_.clear();
}

void BasePredictionWriter::on_predict_batch_end(Trainer& trainer, LightningModule& module,
                                                const Tensor& prediction, const Batch& batch,
                                                int64_t batch_idx) {
  if (on_epoch_) {
    epoch_predictions_.push_back(prediction);
    epoch_batch_indices_.push_back(current_batch_indices_);
  }
  if (on_batch_)
    write_on_batch_end(trainer, module, prediction, current_batch_indices_, batch, batch_idx, 0);
}

void BasePredictionWriter::on_predict_end(Trainer& trainer, LightningModule& module) {
  if (!on_epoch_) return;
  // Moved out first: the tensors are not kept after the write, and a failed write does not
  // leave them for the next predict.
  std::vector<Tensor> predictions = std::move(epoch_predictions_);
  std::vector<std::vector<int64_t>> indices = std::move(epoch_batch_indices_);
  epoch_predictions_.clear();
  epoch_batch_indices_.clear();
  write_on_epoch_end(trainer, module, predictions, indices);
}

}  // namespace ember
