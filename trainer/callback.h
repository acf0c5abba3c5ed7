// Callback: code the Trainer runs at the same points as the LightningModule's hooks,
// kept out of the model (checkpointing, early stopping, progress bars, ...). For each
// hook, callbacks run first, in the order given, then the module.
#pragma once

#include <cstdint>
#include <string>

#include "trainer/lightning_module.h"

namespace ember {

class Callback {
 public:
  virtual ~Callback() = default;

  virtual void setup(Trainer&, LightningModule&, const std::string& /*stage*/) {}
  virtual void teardown(Trainer&, LightningModule&, const std::string& /*stage*/) {}
  virtual void on_fit_start(Trainer&, LightningModule&) {}
  virtual void on_fit_end(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_start(Trainer&, LightningModule&) {}
  virtual void on_sanity_check_end(Trainer&, LightningModule&) {}
  virtual void on_train_start(Trainer&, LightningModule&) {}
  virtual void on_train_end(Trainer&, LightningModule&) {}
  virtual void on_train_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_train_epoch_end(Trainer&, LightningModule&) {}
  virtual void on_train_batch_start(Trainer&, LightningModule&, const Batch&,
                                    int64_t /*batch_idx*/) {}
  virtual void on_train_batch_end(Trainer&, LightningModule&, const Tensor& /*loss*/, const Batch&,
                                  int64_t /*batch_idx*/) {}
  virtual void on_validation_start(Trainer&, LightningModule&) {}
  virtual void on_validation_end(Trainer&, LightningModule&) {}
  virtual void on_validation_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_validation_epoch_end(Trainer&, LightningModule&) {}
  // The batch hooks of validation and test come in two forms: the Trainer calls the one
  // with dataloader_idx, whose default calls the two-index one, so a callback overrides
  // whichever it needs. (-Woverloaded-virtual is silenced here: overriding one form and
  // leaving the other to the base is the intended use.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
  virtual void on_validation_batch_start(Trainer&, LightningModule&, const Batch&,
                                         int64_t /*batch_idx*/) {}
  virtual void on_validation_batch_start(Trainer& t, LightningModule& m, const Batch& batch,
                                         int64_t batch_idx, int64_t /*dataloader_idx*/) {
    on_validation_batch_start(t, m, batch, batch_idx);
  }
  virtual void on_validation_batch_end(Trainer&, LightningModule&, const Batch&,
                                       int64_t /*batch_idx*/) {}
  virtual void on_validation_batch_end(Trainer& t, LightningModule& m, const Batch& batch,
                                       int64_t batch_idx, int64_t /*dataloader_idx*/) {
    on_validation_batch_end(t, m, batch, batch_idx);
  }
#pragma GCC diagnostic pop
  virtual void on_test_start(Trainer&, LightningModule&) {}
  virtual void on_test_end(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_start(Trainer&, LightningModule&) {}
  virtual void on_test_epoch_end(Trainer&, LightningModule&) {}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
  virtual void on_test_batch_start(Trainer&, LightningModule&, const Batch&,
                                   int64_t /*batch_idx*/) {}
  virtual void on_test_batch_start(Trainer& t, LightningModule& m, const Batch& batch,
                                   int64_t batch_idx, int64_t /*dataloader_idx*/) {
    on_test_batch_start(t, m, batch, batch_idx);
  }
  virtual void on_test_batch_end(Trainer&, LightningModule&, const Batch&, int64_t /*batch_idx*/) {}
  virtual void on_test_batch_end(Trainer& t, LightningModule& m, const Batch& batch,
                                 int64_t batch_idx, int64_t /*dataloader_idx*/) {
    on_test_batch_end(t, m, batch, batch_idx);
  }
#pragma GCC diagnostic pop
  virtual void on_predict_start(Trainer&, LightningModule&) {}
  virtual void on_predict_end(Trainer&, LightningModule&) {}
  virtual void on_predict_batch_start(Trainer&, LightningModule&, const Batch&,
                                      int64_t /*batch_idx*/) {}
  virtual void on_predict_batch_end(Trainer&, LightningModule&, const Tensor& /*prediction*/,
                                    const Batch&, int64_t /*batch_idx*/) {}
  virtual void on_before_backward(Trainer&, LightningModule&, const Tensor& /*loss*/) {}
  virtual void on_after_backward(Trainer&, LightningModule&) {}
  virtual void on_before_zero_grad(Trainer&, LightningModule&, optim::Optimizer&) {}
  virtual void on_before_optimizer_step(Trainer&, LightningModule&, optim::Optimizer&) {}
  virtual void on_save_checkpoint(Trainer&, LightningModule&, Checkpoint&) {}
  virtual void on_load_checkpoint(Trainer&, LightningModule&, const Checkpoint&) {}

  // ---- state in checkpoints ----------------------------------------------------------------
  // The key of this callback's state in a checkpoint: unique among the callbacks of one
  // Trainer (Lightning adds the options that tell two instances apart).
  virtual std::string state_key() const { return name(); }
  virtual std::string name() const;  // the class name, without namespaces
  // Opaque text (JSON for ember's callbacks); empty means no state.
  virtual std::string state_dict() const { return {}; }
  virtual void load_state_dict(const std::string& /*state*/) {}

  // Monitoring callbacks (EarlyStopping, ModelCheckpoint) run their on_train_epoch_end
  // after the module's, so they see what it logged; checkpoint callbacks run after all
  // others, so a checkpoint holds the other callbacks' final state (both as Lightning).
  virtual bool is_monitoring() const { return false; }
  virtual bool is_checkpoint() const { return false; }
  virtual bool is_progress_bar() const { return false; }
};

}  // namespace ember
