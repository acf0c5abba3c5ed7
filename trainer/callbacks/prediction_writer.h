// BasePredictionWriter: Lightning's base for callbacks that write predict's outputs, batch by
// batch and/or once at the end, with the data set indices of each batch. Under ddp each rank
// predicts its own share of the loader (docs/distributed.md), so a writer that saves each
// rank's outputs with their indices lets the user merge them into one process's result.
//
//   struct Writer : BasePredictionWriter {
//     Writer() : BasePredictionWriter("epoch") {}
//     void write_on_epoch_end(Trainer& t, LightningModule&, const std::vector<Tensor>& preds,
//                             const std::vector<std::vector<int64_t>>& indices) override {
//       ...  // save preds and indices to "predictions_" + std::to_string(t.global_rank())
//     }
//   };
//
// ember's predict takes one loader, so write_on_epoch_end gets that loader's predictions
// and batch indices (Lightning's single-loader `predictions`, without the per-loader list
// around `batch_indices`), and it is called in on_predict_end (ember has no
// on_predict_epoch_end hook; predict has one epoch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/callback.h"

namespace ember {

class BasePredictionWriter : public Callback {
 public:
  // When to write: "batch" (write_on_batch_end after every batch), "epoch"
  // (write_on_epoch_end once, with all of them) or "batch_and_epoch".
  explicit BasePredictionWriter(const std::string& write_interval = "batch");

  // The default of the one the interval calls throws: a writer overrides it.
  // batch_indices: the data set indices of the batch's samples, in order.
  virtual void write_on_batch_end(Trainer& trainer, LightningModule& module,
                                  const Tensor& prediction,
                                  const std::vector<int64_t>& batch_indices, const Batch& batch,
                                  int64_t batch_idx, int64_t dataloader_idx);
  // predictions[i] and batch_indices[i]: batch i's, in the order they were predicted.
  virtual void write_on_epoch_end(Trainer& trainer, LightningModule& module,
                                  const std::vector<Tensor>& predictions,
                                  const std::vector<std::vector<int64_t>>& batch_indices);

  bool on_batch() const { return on_batch_; }
  bool on_epoch() const { return on_epoch_; }

  void on_predict_start(Trainer& trainer, LightningModule& module) override;
  void on_predict_batch_end(Trainer& trainer, LightningModule& module, const Tensor& prediction,
                            const Batch& batch, int64_t batch_idx) override;
  void on_predict_end(Trainer& trainer, LightningModule& module) override;

  // Set by the predict loop before each batch's hooks (Lightning's
  // predict_loop.current_batch_indices): the data set indices of the batch.
  void set_current_batch_indices(std::vector<int64_t> indices) {
    current_batch_indices_ = std::move(indices);
  }
  const std::vector<int64_t>& current_batch_indices() const { return current_batch_indices_; }

 private:
  bool on_batch_ = false, on_epoch_ = false;
  std::vector<int64_t> current_batch_indices_;
  std::vector<Tensor> epoch_predictions_;  // kept only for "epoch" writes
  std::vector<std::vector<int64_t>> epoch_batch_indices_;
};

}  // namespace ember
