// LightningModule: an nn::Module that keeps the training logic (steps, optimizers,
// logging) apart from the models it is given, with Lightning 2.x's hooks.
//
//   struct Captioner : LightningModule {
//     Tensor training_step(const Batch& batch, int64_t) override {
//       auto [image, text, target] = batch.unpack<3>();
//       Tensor loss = ...;
//       log("train_loss", loss, {.prog_bar = true});
//       return loss;
//     }
//     OptimizerConfig configure_optimizers() override { return optim::Adam::make(parameters()); }
//   };
//
// Every hook does nothing unless overridden. The Trainer calls them in Lightning's order
// (docs/trainer.md), callbacks first, then the module.
#pragma once

#include <concepts>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "nn/module.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "trainer/batch.h"
#include "trainer/hparams.h"

namespace ember {

class Trainer;

// How a scheduler is stepped (Lightning's lr_scheduler_config). Exactly one of
// `scheduler` and `plateau` is set; a plateau scheduler needs `monitor`.
struct SchedulerConfig {
  std::shared_ptr<optim::LRScheduler> scheduler{};
  std::shared_ptr<optim::ReduceLROnPlateau> plateau{};
  std::string interval = "epoch";  // "epoch" or "step" (optimizer steps)
  int64_t frequency = 1;           // step every `frequency` intervals
  std::string monitor{};           // metric a plateau scheduler reads
  bool strict = true;              // a missing monitor is an error (else a warning)
  std::string name{};              // LearningRateMonitor's key; default "lr-<Optimizer>"
  bool empty() const { return !scheduler && !plateau; }
};

// What configure_optimizers returns: an optimizer, or an optimizer and a scheduler.
//   return optim::Adam::make(parameters());
//   return {opt, {.scheduler = std::make_shared<optim::StepLR>(opt, 10), .interval = "step"}};
struct OptimizerConfig {
  std::shared_ptr<optim::Optimizer> optimizer;
  SchedulerConfig lr_scheduler{};

  OptimizerConfig() = default;
  template <std::derived_from<optim::Optimizer> O>
  OptimizerConfig(std::shared_ptr<O> opt,
                  SchedulerConfig sched = {})  // NOLINT: implicit on purpose
      : optimizer(std::move(opt)), lr_scheduler(std::move(sched)) {}
};

// log()'s options. Unset on_step/on_epoch take the defaults of the hook that logs
// (training_step and batch hooks: step only; validation/test and epoch hooks: epoch only).
struct LogOptions {
  std::optional<bool> on_step{};
  std::optional<bool> on_epoch{};
  bool prog_bar = false;
  bool logger = true;
  std::string reduce_fx =
      "mean";  // epoch reduction: "mean" (weighted by batch size), "sum", "max", "min"
  std::optional<int64_t> batch_size{};  // unset: the current batch's leading size
  // With several validation/test loaders, names logged while loader i runs get the suffix
  // "/dataloader_idx_i" (Lightning's add_dataloader_idx); false keeps the name as given.
  bool add_dataloader_idx = true;
};

// A checkpoint as the hooks see it: tensors by name and string metadata. The module's
// on_save_checkpoint may add entries (prefer its own prefix) and read them back in
// on_load_checkpoint.
struct Checkpoint {
  nn::StateDict tensors;
  std::map<std::string, std::string> metadata;
};

class LightningModule : public nn::Module {
 public:
  // ---- steps -------------------------------------------------------------------------------
  // The loss to minimise; an undefined tensor skips the batch's backward and step.
  virtual Tensor training_step(const Batch& batch, int64_t batch_idx);
  // validation_step and test_step (and their batch hooks below) come in two forms: the
  // Trainer calls the one with dataloader_idx (which loader of several the batch is from),
  // whose default calls the two-index one, so a module overrides whichever it needs.
  // -Woverloaded-virtual is silenced around each pair: overriding one form and leaving
  // the other to the base is the intended use, not an accident.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
  virtual void validation_step(const Batch& batch, int64_t batch_idx);
  virtual void validation_step(const Batch& batch, int64_t batch_idx, int64_t /*dataloader_idx*/) {
    validation_step(batch, batch_idx);
  }
  virtual void test_step(const Batch& batch, int64_t batch_idx);
  virtual void test_step(const Batch& batch, int64_t batch_idx, int64_t /*dataloader_idx*/) {
    test_step(batch, batch_idx);
  }
#pragma GCC diagnostic pop
  virtual Tensor predict_step(const Batch& batch, int64_t batch_idx);
  virtual OptimizerConfig configure_optimizers();

  // ---- hooks -------------------------------------------------------------------------------
  virtual void setup(const std::string& /*stage: fit, validate, test, predict*/) {}
  virtual void teardown(const std::string& /*stage*/) {}
  virtual void on_fit_start() {}
  virtual void on_fit_end() {}
  virtual void on_train_start() {}
  virtual void on_train_end() {}
  virtual void on_train_epoch_start() {}
  virtual void on_train_epoch_end() {}
  // Returning false skips the rest of the epoch (Lightning's `return -1`).
  virtual bool on_train_batch_start(const Batch& /*batch*/, int64_t /*batch_idx*/) { return true; }
  virtual void on_train_batch_end(const Tensor& /*loss*/, const Batch& /*batch*/,
                                  int64_t /*batch_idx*/) {}
  virtual void on_validation_start() {}
  virtual void on_validation_end() {}
  virtual void on_validation_epoch_start() {}
  virtual void on_validation_epoch_end() {}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
  virtual void on_validation_batch_start(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_validation_batch_start(const Batch& batch, int64_t batch_idx,
                                         int64_t /*dataloader_idx*/) {
    on_validation_batch_start(batch, batch_idx);
  }
  virtual void on_validation_batch_end(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_validation_batch_end(const Batch& batch, int64_t batch_idx,
                                       int64_t /*dataloader_idx*/) {
    on_validation_batch_end(batch, batch_idx);
  }
#pragma GCC diagnostic pop
  virtual void on_test_start() {}
  virtual void on_test_end() {}
  virtual void on_test_epoch_start() {}
  virtual void on_test_epoch_end() {}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
  virtual void on_test_batch_start(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_test_batch_start(const Batch& batch, int64_t batch_idx,
                                   int64_t /*dataloader_idx*/) {
    on_test_batch_start(batch, batch_idx);
  }
  virtual void on_test_batch_end(const Batch& /*batch*/, int64_t /*batch_idx*/) {}
  virtual void on_test_batch_end(const Batch& batch, int64_t batch_idx,
                                 int64_t /*dataloader_idx*/) {
    on_test_batch_end(batch, batch_idx);
  }
#pragma GCC diagnostic pop
  virtual void on_predict_start() {}
  virtual void on_predict_end() {}
  virtual void on_before_backward(const Tensor& /*loss*/) {}
  virtual void on_after_backward() {}
  virtual void on_before_zero_grad(optim::Optimizer& /*optimizer*/) {}
  virtual void on_before_optimizer_step(optim::Optimizer& /*optimizer*/) {}
  virtual void on_save_checkpoint(Checkpoint& /*checkpoint*/) {}
  virtual void on_load_checkpoint(const Checkpoint& /*checkpoint*/) {}

  // ---- logging -----------------------------------------------------------------------------
  // Records a scalar (a one-element tensor, detached) for the logger, the progress bar
  // and callbacks. Outside a Trainer's run it does nothing; in a hook that cannot log
  // (setup, configure_optimizers, predict, ...) it throws, as Lightning does.
  void log(const std::string& name, const Tensor& value, const LogOptions& options = {});
  void log(const std::string& name, double value, const LogOptions& options = {});
  void log_dict(const std::map<std::string, Tensor>& values, const LogOptions& options = {});
  void log_dict(const std::map<std::string, double>& values, const LogOptions& options = {});

  // ---- hyperparameters and state -----------------------------------------------------------
  void save_hyperparameters(HParams hparams) { hparams_ = std::move(hparams); }
  const HParams& hparams() const { return hparams_; }
  bool has_trainer() const { return live_trainer() != nullptr; }
  Trainer& trainer() const;       // throws ValueError when not attached to a Trainer
  int64_t current_epoch() const;  // 0 outside a Trainer
  int64_t global_step() const;
  Device device() const { return device_; }

  // Set by the Trainer at the start of a run. The module holds a weak handle, so a
  // module that outlives its Trainer is simply detached.
  void attach(std::weak_ptr<Trainer* const> trainer, Device device) {
    trainer_ = std::move(trainer);
    device_ = device;
  }

 private:
  Trainer* live_trainer() const {
    auto p = trainer_.lock();
    return p ? *p : nullptr;
  }
  std::weak_ptr<Trainer* const> trainer_;
  Device device_ = Device::cpu();
  HParams hparams_;
};

}  // namespace ember
