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
#include <utility>
#include <vector>

#include "nn/module.h"
#include "optim/lr_scheduler.h"
#include "optim/optimizer.h"
#include "trainer/batch.h"
#include "trainer/hparams.h"
#include "trainer/lightning_optimizer.h"
#include "trainer/module_mode.h"

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

struct OptimizerConfig;
using OptimizerList = std::vector<std::shared_ptr<optim::Optimizer>>;
using SchedulerList = std::vector<SchedulerConfig>;
using OptimizerConfigList = std::vector<OptimizerConfig>;

// What configure_optimizers returns, in Lightning's forms: an optimizer; an optimizer and
// a scheduler; a list of optimizers; a list of optimizer configs (each with its own
// scheduler); or a list of optimizers and a list of schedulers. Several optimizers need
// manual optimization (LightningModule::automatic_optimization(false)), as in Lightning.
//   return optim::Adam::make(parameters());
//   return {opt, {.scheduler = std::make_shared<optim::StepLR>(opt, 10), .interval = "step"}};
//   return OptimizerList{gen_opt, disc_opt};
//   return OptimizerConfigList{{gen_opt, {.scheduler = gen_sched}}, disc_opt};
//   return {OptimizerList{gen_opt, disc_opt}, SchedulerList{{.scheduler = gen_sched}}};
struct OptimizerConfig {
  // The single-optimizer form (kept source-compatible).
  std::shared_ptr<optim::Optimizer> optimizer;
  SchedulerConfig lr_scheduler{};
  // The list forms: every optimizer, and every scheduler (any of these optimizers').
  OptimizerList optimizers{};
  SchedulerList lr_schedulers{};

  OptimizerConfig() = default;
  template <std::derived_from<optim::Optimizer> O>
  OptimizerConfig(std::shared_ptr<O> opt,
                  SchedulerConfig sched = {})  // NOLINT: implicit on purpose
      : optimizer(std::move(opt)), lr_scheduler(std::move(sched)) {}
  OptimizerConfig(OptimizerList opts, SchedulerList scheds = {})  // NOLINT
      : optimizers(std::move(opts)), lr_schedulers(std::move(scheds)) {}
  OptimizerConfig(const OptimizerConfigList& configs);  // NOLINT: implicit on purpose

  // Every optimizer and every scheduler config, whichever form built this.
  OptimizerList all_optimizers() const;
  SchedulerList all_schedulers() const;
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
  // Under ddp: reduce the value over the ranks with reduce_fx ("mean": their mean) when it
  // is logged (Lightning's sync_dist); false keeps it this rank's own.
  bool sync_dist = false;
};

// A checkpoint as the hooks see it: tensors by name and string metadata. The module's
// on_save_checkpoint may add entries (prefer its own prefix) and read them back in
// on_load_checkpoint.
struct Checkpoint {
  nn::StateDict tensors;
  std::map<std::string, std::string> metadata;
};

// load_from_checkpoint's options (Lightning's strict and map_location).
struct LoadCheckpointOptions {
  // false: keys missing from the checkpoint or unknown to the module are listed in a warning
  // instead of failing; mis-shaped tensors fail either way (as in PyTorch).
  bool strict = true;
  // Where the module goes after loading; unset: it stays on its device.
  std::optional<Device> map_location{};
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
  // ---- optimization (automatic: the Trainer calls these; docs/trainer.md "Optimization") ----
  // Steps the optimizer at the end of an accumulation window. `closure` runs training_step,
  // zero_grad and backward and returns the loss; the default is optimizer.step(closure).
  // An override must call the closure (directly or through optimizer.step(closure)).
  virtual void optimizer_step(int64_t /*epoch*/, int64_t /*batch_idx*/,
                              LightningOptimizer& optimizer, const Closure& closure) {
    optimizer.step(closure);
  }
  // Zeroes the gradients at the first batch of an accumulation window.
  virtual void optimizer_zero_grad(int64_t /*epoch*/, int64_t /*batch_idx*/,
                                   optim::Optimizer& optimizer) {
    optimizer.zero_grad(true);
  }
  virtual void on_save_checkpoint(Checkpoint& /*checkpoint*/) {}
  virtual void on_load_checkpoint(const Checkpoint& /*checkpoint*/) {}

  // ---- modes around evaluation (Lightning 2.2+) ----------------------------------------------
  // Validation, test and predict record every submodule's train/eval mode, then call
  // *_model_eval (before on_*_start); after on_validation_end / on_test_end they call
  // *_model_train, and predict restores after on_predict_end. The defaults are eval() and
  // "restore what was recorded", so an injected module its user left in eval() stays there.
  // An override of *_model_train replaces the restore (Lightning calls that hook only when it
  // is overridden, and restores otherwise); restore_module_modes() is the default's body.
  virtual void on_validation_model_eval() { eval(); }
  virtual void on_validation_model_train() { restore_module_modes(); }
  virtual void on_test_model_eval() { eval(); }
  virtual void on_test_model_train() { restore_module_modes(); }
  virtual void on_predict_model_eval() { eval(); }
  // Every submodule back to the mode the running evaluation loop recorded.
  void restore_module_modes() { recorded_modes_.restore(*this); }

  // ---- loading checkpoints -------------------------------------------------------------------
  // Lightning's load_from_checkpoint for a module its user built again (injected submodules
  // cannot be rebuilt from a file): checks the checkpoint's weights and buffers against this
  // module by name and shape, calls on_load_checkpoint, loads them, and makes the saved
  // hyperparameters hparams() (those this module saved itself win, as Lightning's keyword
  // arguments do). A missing or unreadable file, a shape mismatch or (strict) a missing or
  // unexpected key throws ValueError naming the file and the keys, before anything changes.
  //   model->load_from_checkpoint("ckpts/last.ckpt", {.strict = false});
  nn::LoadResult load_from_checkpoint(const std::string& path,
                                      const LoadCheckpointOptions& options = {});

  // ---- logging -----------------------------------------------------------------------------
  // Records a scalar (a one-element tensor, detached) for the logger, the progress bar
  // and callbacks. Outside a Trainer's run it does nothing; in a hook that cannot log
  // (setup, configure_optimizers, predict, ...) it throws, as Lightning does.
  void log(const std::string& name, const Tensor& value, const LogOptions& options = {});
  void log(const std::string& name, double value, const LogOptions& options = {});
  void log_dict(const std::map<std::string, Tensor>& values, const LogOptions& options = {});
  void log_dict(const std::map<std::string, double>& values, const LogOptions& options = {});

  // ---- manual optimization (docs/trainer.md "Optimization") ---------------------------------
  // false: training_step does its own backward and steps (Lightning's
  // `self.automatic_optimization = False`); set it in the constructor.
  bool automatic_optimization() const { return automatic_optimization_; }
  void automatic_optimization(bool on) { automatic_optimization_ = on; }
  // The optimizers configure_optimizers returned, as handles whose step() runs the
  // hooks and counts global steps; optimizer(i) is the i-th. ValueError outside fit.
  std::vector<LightningOptimizer> optimizers() const;
  LightningOptimizer optimizer(size_t i = 0) const;
  const SchedulerList& lr_schedulers() const;
  // on_before_backward, loss.backward(), on_after_backward (manual optimization only).
  void manual_backward(const Tensor& loss);
  // Freezes (requires_grad false) the parameters of the other optimizers that `optimizer`
  // does not also hold; untoggle_optimizer restores what they were.
  void toggle_optimizer(const optim::Optimizer& optimizer);
  void toggle_optimizer(const LightningOptimizer& optimizer) {
    toggle_optimizer(optimizer.optimizer());
  }
  void untoggle_optimizer(const optim::Optimizer& optimizer);
  void untoggle_optimizer(const LightningOptimizer& optimizer) {
    untoggle_optimizer(optimizer.optimizer());
  }

  // ---- hyperparameters and state -----------------------------------------------------------
  void save_hyperparameters(HParams hparams) { hparams_ = std::move(hparams); }
  const HParams& hparams() const { return hparams_; }
  bool has_trainer() const { return live_trainer() != nullptr; }
  Trainer& trainer() const;  // throws ValueError when not attached to a Trainer
  // issue 17, strategy: every rank's `t` stacked along a new dim 0, (world_size, *t.sizes);
  // one process: t as it is (Lightning's all_gather). Every rank must call it.
  Tensor all_gather(const Tensor& t) const;
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
  friend class Trainer;  // records the modes before evaluation
  Trainer* live_trainer() const {
    auto p = trainer_.lock();
    return p ? *p : nullptr;
  }
  std::weak_ptr<Trainer* const> trainer_;
  Device device_ = Device::cpu();
  HParams hparams_;
  ModuleMode recorded_modes_;  // by the running validation/test/predict loop
  // manual optimization
  bool automatic_optimization_ = true;
  std::map<const void*, std::pair<Tensor, bool>> param_requires_grad_state_;  // toggle_optimizer
};

// Lightning's MyModule.load_from_checkpoint(path, **kwargs): builds M from `args` (the
// injected submodules and settings), then loads the checkpoint into it (strict).
//   auto model = load_from_checkpoint<Captioner>("last.ckpt", encoder, decoder, 1e-3);
// checkpoint_hparams(read_checkpoint(path)) (trainer/checkpoint.h) reads the saved
// hyperparameters first when the arguments should come from them.
template <std::derived_from<LightningModule> M, typename... Args>
std::shared_ptr<M> load_from_checkpoint(const std::string& path, Args&&... args) {
  auto model = std::make_shared<M>(std::forward<Args>(args)...);
  model->load_from_checkpoint(path);
  return model;
}

}  // namespace ember
