// Trainer: runs a LightningModule's fit, validate, test and predict loops with Lightning
// 2.x's options, hook order and logging semantics (docs/trainer.md lists them, and where
// ember differs).
//
//   Trainer trainer({.max_epochs = 5, .callbacks = {ModelCheckpoint::make({.monitor =
//   "val_loss"})}}); trainer.fit(model, train_loader, val_loader);          // or ..., "last" / a
//   .ckpt path
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/profiler.h"
#include "trainer/callback.h"
#include "trainer/checkpoint.h"
#include "trainer/data.h"
#include "trainer/datamodule.h"
#include "trainer/lightning_module.h"
#include "trainer/loggers/logger.h"
#include "trainer/metrics.h"
#include "trainer/precision.h"  // issue 16, scaler
#include "trainer/strategy.h"   // issue 17, strategy

namespace ember {

// A batch limit or interval: a fraction of the loader (0.25) or a count of batches (10).
struct BatchCount {
  bool is_fraction = true;
  double fraction = 1.0;
  int64_t count = 0;
  BatchCount(double f) : fraction(f) {}                    // NOLINT: implicit on purpose
  BatchCount(int n) : is_fraction(false), count(n) {}      // NOLINT
  BatchCount(int64_t n) : is_fraction(false), count(n) {}  // NOLINT
  // The number of batches of a loader with `total` batches this means.
  int64_t of(int64_t total) const;
};

// fast_dev_run: true runs 1 batch of each loop, a number n runs n.
struct FastDevRun {
  int64_t batches = 0;
  FastDevRun(bool on) : batches(on ? 1 : 0) {}  // NOLINT: implicit on purpose
  FastDevRun(int n) : batches(n) {}             // NOLINT
};

// The `logger` option: true (a TensorBoardLogger and a CSVLogger, both writing to
// default_root_dir/lightning_logs/version_N), false (none), one logger, or several:
// `.logger = {tb, csv}` or a vector.
struct LoggerChoice {
  bool use_default = true;
  std::vector<std::shared_ptr<Logger>> loggers;
  LoggerChoice(bool on) : use_default(on) {}  // NOLINT: implicit on purpose
  template <std::derived_from<Logger> L>
  LoggerChoice(std::shared_ptr<L> l) : use_default(false), loggers{std::move(l)} {}  // NOLINT
  LoggerChoice(std::vector<std::shared_ptr<Logger>> ls)
      : use_default(false), loggers(std::move(ls)) {}  // NOLINT
  // A braced list of loggers of different types (each converts to shared_ptr<Logger>).
  LoggerChoice(std::initializer_list<std::shared_ptr<Logger>> ls)
      : use_default(false), loggers(ls) {}  // NOLINT
};

// max_time: a duration (std::chrono::minutes(90)) or Lightning's "DD:HH:MM:SS" string.
struct MaxTime {
  std::chrono::duration<double> duration{};
  template <typename Rep, typename Period>
  MaxTime(std::chrono::duration<Rep, Period> d) : duration(d) {}  // NOLINT: implicit on purpose
  MaxTime(const std::string& dd_hh_mm_ss);                        // NOLINT
  MaxTime(const char* dd_hh_mm_ss) : MaxTime(std::string(dd_hh_mm_ss)) {}  // NOLINT
};

// deterministic: unset (leave ember::use_deterministic_algorithms as it is), true, false,
// or "warn" (non-deterministic ops warn once instead of throwing).
struct DeterministicChoice {
  std::optional<bool> enabled{};
  bool warn_only = false;
  DeterministicChoice() = default;
  DeterministicChoice(bool on) : enabled(on) {}  // NOLINT: implicit on purpose
  DeterministicChoice(const char* mode);         // NOLINT: "warn"
};

struct TrainerOptions {
  std::optional<int64_t>
      max_epochs{};                  // unset: 1000, or no limit when max_steps is set; -1: no limit
  int64_t max_steps = -1;            // optimizer steps; -1: no limit
  std::string accelerator = "auto";  // auto (cuda when present, else cpu), cpu, cuda, sim
  double gradient_clip_val = 0.0;    // 0: no clipping
  std::string gradient_clip_algorithm = "norm";  // "norm" (2-norm of all gradients) or "value"
  int64_t accumulate_grad_batches = 1;
  BatchCount val_check_interval = 1.0;  // fraction of an epoch, or every n training batches
  std::optional<int64_t> check_val_every_n_epoch =
      1;  // unset: count val_check_interval across epochs
  BatchCount limit_train_batches = 1.0;
  BatchCount limit_val_batches = 1.0;
  BatchCount limit_test_batches = 1.0;
  BatchCount limit_predict_batches = 1.0;
  int64_t num_sanity_val_steps = 2;  // -1: the whole validation loader
  FastDevRun fast_dev_run = false;
  int64_t log_every_n_steps = 50;
  std::optional<uint64_t> seed{};  // seeds the global generator when the Trainer is built
  bool enable_progress_bar = true;
  bool enable_checkpointing = true;  // adds a ModelCheckpoint when none is given
  bool enable_model_summary = true;
  std::string default_root_dir = ".";
  std::vector<std::shared_ptr<Callback>> callbacks{};
  LoggerChoice logger = true;

  // ---- run limits, debugging and determinism (issue 18, trainer_options.cpp) ----------------
  // should_stop (EarlyStopping, Timer, user code) cannot end fit before these are met.
  std::optional<int64_t> min_epochs{};  // unset: 0 (1 when min_steps is set)
  std::optional<int64_t> min_steps{};
  // Fit stops at the first training batch end after this much time (measured from
  // on_train_start); with max_epochs unset there is then no epoch limit, as Lightning.
  std::optional<MaxTime> max_time{};
  // > 0: train and validate on the first batches (a fraction or a count) of each loader,
  // with the training loader's shuffling off.
  BatchCount overfit_batches = 0.0;
  bool detect_anomaly = false;  // autograd::DetectAnomalyGuard around fit
  DeterministicChoice deterministic{};
  // cuDNN's algorithm search (backends::cudnn::benchmark); unset: false when deterministic,
  // else left as it is.
  std::optional<bool> benchmark{};

  // ---- precision (issue 16, scaler; trainer/precision.h) ----
  // Lightning's values: "32-true" ("32"), "64-true" ("64"), "bf16-mixed", "16-mixed",
  // "bf16-true", "16-true". The half modes need the bf16/f16 dtypes (an error until then).
  std::string precision = "32-true";
  // A precision plugin instead of `precision` (Lightning's plugins=[...]), e.g. a
  // MixedPrecision with its own GradScaler options.
  std::shared_ptr<PrecisionPlugin> precision_plugin{};

  // ---- strategy (issue 17; trainer/strategy.h, docs/distributed.md "Trainer") ----
  // "auto" (one process; ddp when devices or num_nodes ask for more), "single_device" or
  // "ddp". ddp without an external launcher starts the other local ranks itself: the
  // program re-executes itself when the Trainer is built (trainer/launcher.h).
  std::string strategy = "auto";
  DevicesChoice devices = "auto";  // processes per node, or "auto"
  int64_t num_nodes = 1;
  // Training and validation/test loaders get a DistributedSampler share under ddp (unless
  // they already have a DistributedSampler), as Lightning's use_distributed_sampler.
  bool use_distributed_sampler = true;
  // The rendezvous' and every collective's timeout (Lightning's DDPStrategy(timeout=)).
  std::chrono::milliseconds process_group_timeout = std::chrono::minutes(30);
};

// A LightningModule by reference or shared_ptr, for the entry points.
class ModelRef {
 public:
  ModelRef(LightningModule& m) : model_(&m) {}  // NOLINT: implicit on purpose
  template <std::derived_from<LightningModule> M>
  ModelRef(const std::shared_ptr<M>& m) : model_(m.get()) {}  // NOLINT
  LightningModule& get() const;

 private:
  LightningModule* model_;
};

enum class TrainerFn { none, fit, validate, test, predict };

class Trainer {
 public:
  explicit Trainer(TrainerOptions options = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // ckpt_path: "" (start fresh), a checkpoint file, "last" (the newest last*.ckpt in this
  // trainer's ModelCheckpoint folders, nowhere else; none: a warning and a fresh start) or
  // "best" (the first ModelCheckpoint's best_model_path).
  void fit(ModelRef model, DataLoader& train_loader, const std::string& ckpt_path = "");
  // val_loaders: one loader or several ({val_a, val_b}); with several, the step hooks get
  // each batch's dataloader_idx and logged names a "/dataloader_idx_i" suffix.
  void fit(ModelRef model, DataLoader& train_loader, LoaderList val_loaders,
           const std::string& ckpt_path = "");
  // The loaders come from the DataModule (prepare_data, setup("fit"), then
  // val_dataloader() and train_dataloader() after on_fit_start).
  void fit(ModelRef model, LightningDataModule& datamodule, const std::string& ckpt_path = "");
  // Return the epoch-level metrics logged, one map per loader (Lightning's list of dicts):
  // map i holds what was logged while loader i ran, and what the epoch-level hooks logged.
  // ckpt_path: "" (the model as it is), a file, "best" or "last".
  std::vector<MetricMap> validate(ModelRef model, LoaderList loaders,
                                  const std::string& ckpt_path = "");
  std::vector<MetricMap> validate(ModelRef model, LightningDataModule& datamodule,
                                  const std::string& ckpt_path = "");
  std::vector<MetricMap> test(ModelRef model, LoaderList loaders,
                              const std::string& ckpt_path = "");
  std::vector<MetricMap> test(ModelRef model, LightningDataModule& datamodule,
                              const std::string& ckpt_path = "");
  std::vector<Tensor> predict(ModelRef model, DataLoader& loader,
                              const std::string& ckpt_path = "");
  // The DataModule's predict_dataloader() must give one loader.
  std::vector<Tensor> predict(ModelRef model, LightningDataModule& datamodule,
                              const std::string& ckpt_path = "");

  // Saves the current state (weights, optimizer, scheduler, loop, callbacks, RNG, hparams),
  // atomically: a failed write leaves an existing file at `path` as it was. weights_only:
  // the module's weights and hyperparameters only (Lightning's), which load into a model
  // and serve validate/test/predict, but cannot resume a fit.
  void save_checkpoint(const std::string& path, bool weights_only = false);

  // ---- state -------------------------------------------------------------------------------
  const TrainerOptions& options() const { return options_; }
  int64_t current_epoch() const { return current_epoch_; }
  int64_t global_step() const { return global_step_; }
  std::optional<int64_t> max_epochs() const { return max_epochs_; }
  int64_t max_steps() const { return options_.max_steps; }
  int64_t min_epochs() const { return min_epochs_; }
  std::optional<int64_t> min_steps() const { return options_.min_steps; }
  bool should_stop = false;  // set by callbacks (EarlyStopping) or user code to end fit
  // Batches accumulated per optimizer step: the option's value, changed by epoch by
  // GradientAccumulationScheduler. Read at every training batch.
  int64_t accumulate_grad_batches() const { return accumulate_grad_batches_; }
  void set_accumulate_grad_batches(int64_t n);
  TrainerFn fn() const { return fn_; }
  bool training() const { return stage_ == Stage::train; }
  bool validating() const { return stage_ == Stage::validate; }
  bool testing() const { return stage_ == Stage::test; }
  bool predicting() const { return stage_ == Stage::predict; }
  bool sanity_checking() const { return sanity_checking_; }
  bool is_fast_dev_run() const { return options_.fast_dev_run.batches > 0; }
  Device device() const { return device_; }
  LightningModule& lightning_module() const;

  int64_t num_training_batches() const { return num_training_batches_; }
  int64_t num_eval_batches() const { return num_eval_batches_; }  // of the running val/test loop
  int64_t batch_idx() const { return batch_idx_; }                // of the running loop
  int64_t val_check_batch() const { return val_check_batch_; }
  bool has_val_loader() const { return !val_loaders_.empty(); }
  // Which validation/test loader runs (0 when there is one), and how many there are.
  int64_t dataloader_idx() const { return dataloader_idx_; }
  int64_t num_eval_dataloaders() const { return num_eval_loaders_; }
  // The DataModule the running entry point was given (nullptr for loaders).
  LightningDataModule* datamodule() const { return datamodule_; }
  // Whether a validation loop (not the sanity check) has finished in the running fit.
  bool validated_in_fit() const { return validated_in_fit_; }
  // The checkpoint the running fit/validate/test/predict started from ("" for none).
  const std::string& ckpt_path() const { return ckpt_path_; }

  // What callbacks see (callback_metrics), what went to the loggers last, and what the
  // progress bar shows. callback_metrics includes what the running loop logged so far.
  // Values logged on a device are copied to the host here, when they are read, not when
  // they are logged.
  const MetricMap& callback_metrics();
  // One callback metric, the only value read (nullopt when not logged), and the names of
  // all of them (none read).
  std::optional<double> callback_metric(const std::string& name);
  std::vector<std::string> callback_metric_names();
  const MetricMap& logged_metrics() const { return logged_metrics_; }
  // Adds values to callback_metrics (LearningRateMonitor's rates, as Lightning's).
  void update_callback_metrics(const MetricMap& values);
  const MetricMap& progress_bar_metrics() const;
  // The epoch-level metrics of the last validation or test loop (set before its *_end hooks).
  const MetricMap& eval_metrics() const { return eval_metrics_; }

  const std::vector<std::shared_ptr<Callback>>& callbacks() const { return callbacks_; }
  const std::vector<std::shared_ptr<Logger>>& loggers() const { return loggers_; }
  std::shared_ptr<Logger> logger() const { return loggers_.empty() ? nullptr : loggers_[0]; }
  // The first logger's log_dir, else default_root_dir.
  std::string log_dir() const;
  std::shared_ptr<class ModelCheckpoint> checkpoint_callback() const;
  std::vector<std::shared_ptr<class ModelCheckpoint>> checkpoint_callbacks() const;
  // Optimization (docs/trainer.md "Optimization"): every optimizer and scheduler config
  // configure_optimizers returned; optimizer() and lr_scheduler_config() are the first
  // (null / empty when there is none).
  const OptimizerList& optimizers() const { return optimizers_; }
  const SchedulerList& lr_scheduler_configs() const { return scheduler_configs_; }
  std::shared_ptr<optim::Optimizer> optimizer() const {
    return optimizers_.empty() ? nullptr : optimizers_[0];
  }
  const SchedulerConfig& lr_scheduler_config() const;
  // The step loggers receive now (Lightning's _batches_that_stepped).
  int64_t logger_step() const { return batches_that_stepped_; }
  // Whether step metrics are sent to loggers at this batch (log_every_n_steps).
  bool should_update_logs() const;
  // The copies that moved the current training batch to the device, counted while the
  // profiler records (else zero).
  const profiler::TransferCounts& batch_transfers() const { return batch_transfers_; }

  // Called by LightningModule::log. A tensor (one element, detached) stays on its device.
  void log_metric(const std::string& name, double value, const LogOptions& options);
  void log_metric(const std::string& name, const Tensor& value, const LogOptions& options);

  // ---- StochasticWeightAveraging (trainer/callbacks/swa.h, trainer/swa_support.cpp) ---------
  // The scheduler configs, for a callback that swaps a scheduler in (SWA's SWALR).
  SchedulerList& mutable_lr_scheduler_configs() { return scheduler_configs_; }
  // One pass of training_step over the running fit's training batches (limit_train_batches
  // kept) without gradients, backward, steps, batch hooks or logging: what recomputes batch
  // norm statistics after SWA (Lightning's extra epoch with backward skipped).
  void forward_training_batches();

 private:
  enum class Stage { none, train, validate, test, predict };
  // manual optimization: the handles and the module reach the steps below
  friend class LightningOptimizer;
  friend class LightningModule;

  // Sets the hook name log() reads its defaults from, for a scope.
  struct FxScope {
    Trainer& t;
    std::string prev;
    FxScope(Trainer& tr, const char* fx) : t(tr), prev(std::move(tr.current_fx_)) {
      t.current_fx_ = fx;
    }
    ~FxScope() { t.current_fx_ = std::move(prev); }
    FxScope(const FxScope&) = delete;
    FxScope& operator=(const FxScope&) = delete;
  };
  // Runs a hook on every callback (those `which` accepts), then on the module (trainer_hooks.h).
  template <typename CbFn, typename ModFn>
  void call_hooks(const char* fx, CbFn&& cb, ModFn&& mod);
  template <typename CbFn, typename Which>
  void call_callbacks(const char* fx, CbFn&& cb, Which&& which);

  // entry points' shared parts (trainer.cpp)
  void fit_impl(LightningModule& model, DataLoader* train_loader, LoaderList val_loaders,
                const std::string& ckpt_path, LightningDataModule* datamodule);
  void begin_run(TrainerFn fn, LightningModule& model);
  void end_run();
  void resolve_callbacks_and_loggers();
  void init_run_options();  // issue 18's options: checks, globals (trainer_options.cpp)
  void configure_optimizers();
  std::string resolve_ckpt_path(const std::string& ckpt_path, TrainerFn fn) const;

  // loops (fit_loop.cpp, eval_loop.cpp)
  void run_fit_loop();
  bool fit_done() const;
  // Whether should_stop may end fit now: min_epochs and min_steps are met (trainer_options.cpp).
  bool can_stop_early() const;
  // Sets should_stop once max_time has elapsed since on_train_start.
  void check_max_time();
  // The loader a fit reads: `loader`, or with overfit_batches its unshuffled twin.
  DataLoader* overfit_view(DataLoader* loader, std::unique_ptr<DataLoader>& twin,
                           const char* which);
  void run_train_epoch();
  void finish_train_epoch(bool completed, bool resumed_at_end);
  Tensor run_training_batch(const Batch& batch, int64_t batch_idx, bool& stepped);
  // After on_train_batch_end: step metrics, the validation check, plateau schedulers.
  void post_batch(int64_t batch_idx, bool stepped, bool validated);
  bool should_check_val(int64_t batch_idx) const;
  void update_schedulers(const std::string& interval, bool plateau);
  void update_scheduler(const SchedulerConfig& s, const std::string& interval, bool plateau);
  // optimization (optimization.cpp)
  Tensor run_manual_batch(const Batch& batch, int64_t batch_idx);
  Tensor step_optimizer(optim::Optimizer& optimizer, const Closure& closure);
  void backward(const Tensor& loss);  // on_before_backward, backward, on_after_backward
  void check_optimization_options() const;
  void run_sanity_check();
  void warn_if_modules_in_eval_mode() const;  // modes of submodules: fit does not train()
  // Runs the loaders one after the other in one evaluation epoch, num_batches[i] of
  // loader i; returns the epoch metrics split per loader.
  std::vector<MetricMap> run_evaluation(Stage stage, const std::vector<DataLoader*>& loaders,
                                        const std::vector<int64_t>& num_batches);
  // The batches each loader runs: limit_val/test_batches or fast_dev_run.
  std::vector<int64_t> eval_batches(Stage stage, const std::vector<DataLoader*>& loaders) const;
  std::vector<MetricMap> run_eval_entry(TrainerFn fn, LightningModule& model, LoaderList loaders,
                                        const std::string& ckpt_path,
                                        LightningDataModule* datamodule);
  std::vector<Tensor> run_predict(LightningModule& model, DataLoader* loader,
                                  const std::string& ckpt_path, LightningDataModule* datamodule);
  // DataModule hooks around the module's (datamodule.h) and its checkpoint state.
  void datamodule_begin(const std::string& stage);
  void restore_datamodule(const Checkpoint& ckpt);
  // The module's hyperparameters and the DataModule's, merged (what loggers receive).
  HParams run_hparams() const;

  // checkpoints (checkpoint_io.cpp)
  Checkpoint dump_checkpoint(bool weights_only = false);
  void restore_model(const Checkpoint& ckpt, const std::string& path);
  void restore_training_state(const Checkpoint& ckpt, const ResumeState& resume);

  // metrics
  template <typename Value>
  void log_metric_impl(const std::string& name, const Value& value, const LogOptions& options);
  void send_to_loggers(const MetricValueMap& metrics, int64_t step);  // reads the values
  void merge_views(const MetricViews& views);
  void clear_metrics();           // callback, logged and progress bar metrics
  void update_callback_values();  // callback_values_ with what the running loop logged

  TrainerOptions options_;
  std::shared_ptr<Trainer* const> self_;  // modules hold it weakly (LightningModule::attach)
  std::optional<int64_t> max_epochs_;
  std::vector<std::shared_ptr<Callback>> callbacks_;
  std::vector<std::shared_ptr<Logger>> loggers_;

  LightningModule* model_ = nullptr;
  Device device_ = Device::cpu();
  TrainerFn fn_ = TrainerFn::none;
  Stage stage_ = Stage::none;
  bool sanity_checking_ = false;
  bool validated_in_fit_ = false;
  std::string current_fx_;
  int64_t current_batch_size_ = 1;

  DataLoader* train_loader_ = nullptr;
  // ---- several validation/test loaders, DataModules (data) ----
  std::vector<DataLoader*> val_loaders_;
  std::vector<LoaderList> run_loaders_;  // keep the loaders of the run alive until its end
  LightningDataModule* datamodule_ = nullptr;
  int64_t dataloader_idx_ = 0, num_eval_loaders_ = 0;
  OptimizerList optimizers_;         // optimization: configure_optimizers' optimizers
  SchedulerList scheduler_configs_;  // and scheduler configs, in order

  // progress
  int64_t current_epoch_ = 0, global_step_ = 0, batches_that_stepped_ = 0;
  int64_t batch_idx_ = 0;
  int64_t num_training_batches_ = 0, num_eval_batches_ = 0, val_check_batch_ = 0;
  int64_t total_batch_idx_ =
      0;  // training batches over all epochs (for check_val_every_n_epoch unset)
  int64_t eval_log_step_ = 0;  // logger step of on_step metrics in evaluation loops
  // Where a checkpoint saved now would resume: epoch, batches done in it, and "batch"
  // (after a batch), "validated" (after the validation following it) or "epoch_end"
  // (in the epoch-end hooks).
  int64_t batches_done_ = 0;
  std::string phase_ = "batch";
  int64_t accumulate_grad_batches_ = 1;  // see accumulate_grad_batches()
  bool last_stepped_ = false;            // whether the last training batch stepped the optimizer
  profiler::TransferCounts batch_transfers_;
  std::string ckpt_path_;
  std::optional<ResumeState> resume_;  // set by fit(ckpt_path) until the loop reaches it

  MetricCollection train_results_{true}, eval_results_{false};
  MetricCollection* active_results_ = nullptr;
  bool epoch_end_reached_ = false;
  // callback and progress bar metrics as logged (maybe on the device), and as last read
  MetricValueMap callback_values_, pbar_values_;
  MetricMap callback_metrics_, logged_metrics_, eval_metrics_;
  mutable MetricMap pbar_metrics_;

  // run limits and debugging (issue 18)
  int64_t min_epochs_ = 0;
  std::chrono::steady_clock::time_point train_start_{};
  mutable bool stop_message_shown_ = false;
  std::unique_ptr<DataLoader> overfit_train_, overfit_val_;

  // precision (issue 16, scaler): options_.precision's plugin, or options_.precision_plugin
  std::shared_ptr<PrecisionPlugin> precision_;

 public:
  PrecisionPlugin& precision_plugin() const { return *precision_; }

  // ---- strategy (issue 17; trainer/strategy.h, trainer/ddp_strategy.h) ----
  Strategy& strategy() const { return *strategy_; }
  int64_t world_size() const { return strategy_->world_size(); }
  int64_t global_rank() const { return strategy_->global_rank(); }
  int64_t local_rank() const { return strategy_->local_rank(); }
  int64_t node_rank() const { return strategy_->node_rank(); }
  int64_t num_nodes() const { return options_.num_nodes; }
  bool is_global_zero() const { return strategy_->is_global_zero(); }

 private:
  // Under ddp: the loader itself, or a twin whose sampler is this rank's share of the
  // loader's own order (trainer/distributed_loaders.cpp); twins live until end_run.
  DataLoader* distributed_view(DataLoader* loader);
  std::vector<DataLoader*> distributed_views(const std::vector<DataLoader*>& loaders);
  std::unique_ptr<Strategy> strategy_;
  std::vector<std::pair<DataLoader*, std::unique_ptr<DataLoader>>> distributed_twins_;
};

}  // namespace ember
