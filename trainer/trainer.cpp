// Trainer: construction, the entry points, hooks' logging context and metric plumbing.
// The loops are in fit_loop.cpp and eval_loop.cpp, checkpoints in checkpoint_io.cpp.
#include "trainer/trainer.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "autograd/anomaly_mode.h"
#include "tensor/ops.h"
#include "trainer/callbacks/model_checkpoint.h"
#include "trainer/callbacks/model_summary.h"
#include "trainer/callbacks/progress_bar.h"
#include "trainer/ddp_strategy.h"  // issue 17, strategy
#include "trainer/loggers/csv_logger.h"
#include "trainer/loggers/tensorboard_logger.h"
#include "trainer/trainer_hooks.h"

namespace ember {

namespace fs = std::filesystem;

int64_t BatchCount::of(int64_t total) const {
  if (is_fraction) {
    if (fraction < 0 || fraction > 1)
      fail<ValueError>("Trainer", "a batch fraction must be in [0, 1], got ", fraction);
    return static_cast<int64_t>(static_cast<double>(total) * fraction);
  }
  if (count < 0) fail<ValueError>("Trainer", "a batch count must be >= 0, got ", count);
  return std::min(count, total);
}

void Trainer::set_accumulate_grad_batches(int64_t n) {
  if (n < 1) fail<ValueError>("Trainer", "accumulate_grad_batches must be >= 1, got ", n);
  accumulate_grad_batches_ = n;
}

LightningModule& ModelRef::get() const {
  if (!model_) fail<ValueError>("Trainer", "the model is null");
  return *model_;
}

// ---- construction ---------------------------------------------------------------------------

Trainer::Trainer(TrainerOptions options)
    : options_(std::move(options)), self_(std::make_shared<Trainer* const>(this)) {
  const TrainerOptions& o = options_;
  if (o.accumulate_grad_batches < 1)
    fail<ValueError>("Trainer", "accumulate_grad_batches must be >= 1, got ",
                     o.accumulate_grad_batches);
  accumulate_grad_batches_ = o.accumulate_grad_batches;
  // precision (issue 16, scaler): the value is checked even when a plugin replaces it
  const PrecisionMode precision = parse_precision(o.precision);
  precision_ = o.precision_plugin ? o.precision_plugin : make_precision_plugin(precision);
  precision_->check_supported();
  if (o.gradient_clip_val < 0)
    fail<ValueError>("Trainer", "gradient_clip_val must be >= 0, got ", o.gradient_clip_val);
  if (o.gradient_clip_algorithm != "norm" && o.gradient_clip_algorithm != "value")
    fail<ValueError>("Trainer", "gradient_clip_algorithm must be \"norm\" or \"value\", got \"",
                     o.gradient_clip_algorithm, "\"");
  if (o.max_steps < -1) fail<ValueError>("Trainer", "max_steps must be >= -1, got ", o.max_steps);
  if (o.log_every_n_steps < 1)
    fail<ValueError>("Trainer", "log_every_n_steps must be >= 1, got ", o.log_every_n_steps);
  if (o.num_sanity_val_steps < -1)
    fail<ValueError>("Trainer", "num_sanity_val_steps must be >= -1");
  if (o.fast_dev_run.batches < 0)
    fail<ValueError>("Trainer", "fast_dev_run must be >= 0, got ", o.fast_dev_run.batches);
  if (o.check_val_every_n_epoch && *o.check_val_every_n_epoch < 1)
    fail<ValueError>("Trainer", "check_val_every_n_epoch must be >= 1, got ",
                     *o.check_val_every_n_epoch);
  if (!o.val_check_interval.is_fraction && o.val_check_interval.count < 1)
    fail<ValueError>("Trainer", "an integer val_check_interval must be >= 1, got ",
                     o.val_check_interval.count);
  if (o.val_check_interval.is_fraction &&
      (o.val_check_interval.fraction <= 0 || o.val_check_interval.fraction > 1))
    fail<ValueError>("Trainer", "a fractional val_check_interval must be in (0, 1], got ",
                     o.val_check_interval.fraction);
  if (o.accelerator != "auto" && o.accelerator != "cpu" && o.accelerator != "cuda" &&
      o.accelerator != "gpu" && o.accelerator != "sim")
    fail<ValueError>("Trainer", "accelerator must be auto, cpu, cuda or sim, got \"", o.accelerator,
                     "\"");

  // Lightning: neither limit set -> 1000 epochs; max_steps (or max_time) alone -> no epoch
  // limit.
  max_epochs_ = o.max_epochs ? *o.max_epochs : (o.max_steps == -1 && !o.max_time ? 1000 : -1);
  init_run_options();
  if (is_fast_dev_run()) {
    max_epochs_ = 1;
    options_.max_steps = o.fast_dev_run.batches;
    options_.num_sanity_val_steps = 0;
    options_.val_check_interval = 1.0;
    options_.check_val_every_n_epoch = 1;
    options_.log_every_n_steps = 1;
  }
  if (o.seed) manual_seed(*o.seed);
  // issue 17: ddp launches or joins its processes here, so the ranks are known below.
  strategy_ = make_strategy(options_);
  resolve_callbacks_and_loggers();
}

Trainer::~Trainer() = default;

void Trainer::resolve_callbacks_and_loggers() {
  for (const auto& c : options_.callbacks)
    if (!c) fail<ValueError>("Trainer", "a callback is null");
  callbacks_ = options_.callbacks;
  auto has = [&](auto pred) { return std::any_of(callbacks_.begin(), callbacks_.end(), pred); };
  if (options_.enable_model_summary &&
      !has([](const auto& c) { return dynamic_cast<ModelSummary*>(c.get()); }))
    callbacks_.insert(callbacks_.begin(), ModelSummary::make());
  if (options_.enable_progress_bar && !has([](const auto& c) { return c->is_progress_bar(); }))
    callbacks_.push_back(ProgressBar::make());
  if (options_.enable_checkpointing && !is_fast_dev_run() &&
      !has([](const auto& c) { return c->is_checkpoint(); }))
    callbacks_.push_back(ModelCheckpoint::make());
  // Checkpoint callbacks last, so a checkpoint holds every other callback's final state.
  std::stable_partition(callbacks_.begin(), callbacks_.end(),
                        [](const auto& c) { return !c->is_checkpoint(); });

  if (!is_fast_dev_run()) {
    // Lightning's default is TensorBoard (when installed; ember always has it); ember keeps
    // a CSV beside it in the same version_N folder (docs/trainer.md, Options).
    if (options_.logger.use_default) {
      loggers_.push_back(TensorBoardLogger::make(options_.default_root_dir));
      loggers_.push_back(CSVLogger::make(options_.default_root_dir));
    }
    for (const auto& l : options_.logger.loggers) {
      if (!l) fail<ValueError>("Trainer", "a logger is null");
      loggers_.push_back(l);
    }
  }
  if (!is_global_zero()) {
    // issue 17: the progress bar and the model summary show on global rank zero only, and
    // the other ranks' loggers write nothing (their folders stay the same, for checkpoints).
    std::erase_if(callbacks_, [](const auto& c) {
      return c->is_progress_bar() || dynamic_cast<ModelSummary*>(c.get());
    });
    for (auto& l : loggers_) l = rank_zero_only(l);
  }
  std::vector<std::string> keys;
  for (const auto& c : callbacks_) {
    const std::string key = c->state_key();
    if (std::find(keys.begin(), keys.end(), key) != keys.end())
      fail<ValueError>("Trainer", "two callbacks have the state key '", key,
                       "'; give them different options");
    keys.push_back(key);
  }
}

std::string Trainer::log_dir() const {
  return loggers_.empty() ? options_.default_root_dir : loggers_[0]->log_dir();
}

std::shared_ptr<ModelCheckpoint> Trainer::checkpoint_callback() const {
  auto all = checkpoint_callbacks();
  return all.empty() ? nullptr : all[0];
}

std::vector<std::shared_ptr<ModelCheckpoint>> Trainer::checkpoint_callbacks() const {
  std::vector<std::shared_ptr<ModelCheckpoint>> out;
  for (const auto& c : callbacks_)
    if (auto m = std::dynamic_pointer_cast<ModelCheckpoint>(c)) out.push_back(m);
  return out;
}

LightningModule& Trainer::lightning_module() const {
  if (!model_)
    fail<ValueError>("Trainer", "no model is attached (call fit, validate, test or predict)");
  return *model_;
}

// ---- runs -----------------------------------------------------------------------------------

void Trainer::begin_run(TrainerFn fn, LightningModule& model) {
  const std::string& a = options_.accelerator;
  Device device = Device::cpu();
  if (a == "auto") device = Device::best();
  else if (a == "sim") device = Device::sim();
  else if (a == "cuda" || a == "gpu") device = Device::cuda(0);
  if (!backend_available(device.type))
    fail<DeviceError>("Trainer", "accelerator \"", a, "\" asks for ", device.str(),
                      ", which is not available here");
  device_ = strategy_->root_device(device);  // ddp on cuda: cuda:LOCAL_RANK
  model_ = &model;
  fn_ = fn;
  model.attach(self_, device_);
  model.to(device_);
  precision_->check_device(device_);
  precision_->convert_module(model);  // "64-true": f64 parameters and buffers
  strategy_->setup_module(model);     // ddp: rank 0's parameters and buffers everywhere
  // Versions are chosen before anything is written, so loggers sharing a folder agree (and
  // under ddp every rank chooses before rank zero writes).
  for (const auto& l : loggers_) (void)l->version();
  strategy_->barrier("Trainer.begin_run");
}

void Trainer::end_run() {
  // The loaders belong to the caller and may not outlive this call.
  train_loader_ = nullptr;
  val_loaders_.clear();
  run_loaders_.clear();
  datamodule_ = nullptr;
  dataloader_idx_ = 0;
  num_eval_loaders_ = 0;
  overfit_train_.reset();  // overfit_batches' unshuffled twins read the caller's datasets
  overfit_val_.reset();
  // issue 17: ddp's loaders read the caller's datasets
  distributed_twins_.clear();
  resume_.reset();  // a resume the loop never reached (max_epochs already met) ends here
  stage_ = Stage::none;
  fn_ = TrainerFn::none;
  active_results_ = nullptr;
  current_fx_.clear();
}

std::string Trainer::resolve_ckpt_path(const std::string& ckpt_path, TrainerFn fn) const {
  if (ckpt_path.empty()) return "";
  const char* fn_name = fn == TrainerFn::fit        ? "fit"
                        : fn == TrainerFn::validate ? "validate"
                        : fn == TrainerFn::test     ? "test"
                                                    : "predict";
  const std::string call = "." + std::string(fn_name) + "(ckpt_path=\"" + ckpt_path + "\")";
  const auto callbacks = checkpoint_callbacks();
  // Lightning's _parse_ckpt_path: "best" is the first ModelCheckpoint's best_model_path.
  if (ckpt_path == "best") {
    if (callbacks.size() > 1)
      std::fprintf(stderr,
                   "ember: `%s` is called with Trainer configured with multiple `ModelCheckpoint` "
                   "callbacks. It will use the best checkpoint path from first checkpoint "
                   "callback.\n",
                   call.c_str());
    if (callbacks.empty())
      fail<ValueError>("Trainer", "`", call, "` is set but `ModelCheckpoint` is not configured.");
    if (callbacks.front()->best_model_path().empty()) {
      if (is_fast_dev_run())
        fail<ValueError>("Trainer", "You cannot execute `", call,
                         "` with `fast_dev_run=True`. Please pass an exact checkpoint path.");
      fail<ValueError>("Trainer", "`", call,
                       "` is set but `ModelCheckpoint` is not configured to save the best model "
                       "(no best checkpoint was saved)");
    }
    return callbacks.front()->best_model_path();
  }
  if (ckpt_path != "last") return ckpt_path;
  // "last" is the newest last*.ckpt in this trainer's ModelCheckpoint folders, nowhere else
  // (Lightning's _find_last_checkpoints): another run's folder under default_root_dir is
  // never resumed by accident. A callback not set up yet has no dirpath; its folder is the
  // one ModelCheckpoint::setup will choose.
  fs::path newest;
  fs::file_time_type newest_time{};
  for (const auto& cb : callbacks) {
    std::string dir = cb->dirpath();
    if (dir.empty())
      dir = (fs::path(loggers_.empty() ? options_.default_root_dir : log_dir()) / "checkpoints")
                .string();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string n = e.path().filename().string();
      if (!n.starts_with("last") || e.path().extension() != ".ckpt" || !e.is_regular_file(ec))
        continue;
      const auto t = fs::last_write_time(e.path(), ec);
      if (!ec && (newest.empty() || t > newest_time)) {
        newest = e.path();
        newest_time = t;
      }
    }
  }
  if (newest.empty()) {
    // Not an error, so "last" can be set before the first fit (Lightning's warning).
    std::fprintf(stderr,
                 "ember: %s is set, but there is no last checkpoint available. No checkpoint "
                 "will be loaded. HINT: Set `ModelCheckpoint(..., save_last=True)`.\n",
                 call.c_str());
    return "";
  }
  return newest.string();
}

void Trainer::fit(ModelRef model, DataLoader& train_loader, const std::string& ckpt_path) {
  fit_impl(model.get(), &train_loader, {}, ckpt_path, nullptr);
}

void Trainer::fit(ModelRef model, DataLoader& train_loader, LoaderList val_loaders,
                  const std::string& ckpt_path) {
  fit_impl(model.get(), &train_loader, std::move(val_loaders), ckpt_path, nullptr);
}

void Trainer::fit(ModelRef model, LightningDataModule& datamodule, const std::string& ckpt_path) {
  fit_impl(model.get(), nullptr, {}, ckpt_path, &datamodule);
}

// ---- DataModules ----------------------------------------------------------------------------

void Trainer::datamodule_begin(const std::string& stage) {
  if (!datamodule_) return;
  datamodule_->prepare_data();
  datamodule_->setup(stage);
}

void Trainer::restore_datamodule(const Checkpoint& ckpt) {
  if (!datamodule_) return;
  auto it = ckpt.metadata.find("datamodule");
  if (it != ckpt.metadata.end()) datamodule_->load_state_dict(it->second);
}

HParams Trainer::run_hparams() const {
  HParams out = model_->hparams();
  if (!datamodule_) return out;
  for (const auto& [k, v] : datamodule_->hparams()) {
    const std::string& key = k;  // clang 14 cannot capture a structured binding
    auto same = std::find_if(out.begin(), out.end(), [&](const auto& e) { return e.first == key; });
    if (same == out.end()) out.emplace_back(k, v);
    else if (!(same->second == v))
      fail<ValueError>("Trainer", "the hyperparameter '", k, "' is ", same->second.as_string(),
                       " in the LightningModule and ", v.as_string(),
                       " in the LightningDataModule (merged hparams must agree)");
  }
  return out;
}

void Trainer::configure_optimizers() {
  FxScope fx(*this, "configure_optimizers");
  const OptimizerConfig config = model_->configure_optimizers();
  OptimizerList opts = config.all_optimizers();
  SchedulerList scheds = config.all_schedulers();
  if (opts.empty()) fail<ValueError>("configure_optimizers", "returned no optimizer");
  for (size_t i = 0; i < opts.size(); ++i)
    if (!opts[i]) fail<ValueError>("configure_optimizers", "optimizer ", i, " is null");
  // Lightning 2.x: several optimizers only with manual optimization.
  if (opts.size() > 1 && model_->automatic_optimization())
    fail<ValueError>("configure_optimizers",
                     "Training with multiple optimizers is only supported with manual "
                     "optimization. Set `automatic_optimization(false)` and access your "
                     "optimizers in `training_step` with `optimizers()` (got ",
                     opts.size(), " optimizers)");
  for (const SchedulerConfig& s : scheds) {
    if (s.empty())
      fail<ValueError>("configure_optimizers",
                       "a SchedulerConfig in the list has neither scheduler nor plateau");
    if (s.scheduler && s.plateau)
      fail<ValueError>("configure_optimizers",
                       "set either scheduler or plateau in a SchedulerConfig, not both");
    if (s.interval != "step" && s.interval != "epoch")
      fail<ValueError>("configure_optimizers", "interval must be \"step\" or \"epoch\", got \"",
                       s.interval, "\"");
    if (s.frequency < 1)
      fail<ValueError>("configure_optimizers", "frequency must be >= 1, got ", s.frequency);
    if (s.plateau && s.monitor.empty())
      fail<ValueError>("configure_optimizers",
                       "a ReduceLROnPlateau scheduler needs `monitor` (e.g. \"val_loss\")");
    // Lightning finds a scheduler's optimizer through it; it must be one of these.
    optim::Optimizer* owner = s.scheduler ? &s.scheduler->optimizer() : &s.plateau->optimizer();
    if (std::none_of(opts.begin(), opts.end(), [&](const auto& o) { return o.get() == owner; }))
      fail<ValueError>("configure_optimizers", "a scheduler wraps an optimizer (", owner->name(),
                       ") that configure_optimizers did not return");
  }
  optimizers_ = std::move(opts);
  scheduler_configs_ = std::move(scheds);
  check_optimization_options();
}

const SchedulerConfig& Trainer::lr_scheduler_config() const {
  static const SchedulerConfig none{};
  return scheduler_configs_.empty() ? none : scheduler_configs_[0];
}

void Trainer::fit_impl(LightningModule& model, DataLoader* train_loader, LoaderList val_loaders,
                       const std::string& ckpt_path, LightningDataModule* datamodule) {
  // The checkpoint is read (and validated) before anything is written or changed, so a
  // bad file fails cleanly and leaves every existing file as it was.
  const std::string path = resolve_ckpt_path(ckpt_path, TrainerFn::fit);
  std::optional<Checkpoint> ckpt;
  std::optional<ResumeState> resume;
  if (!path.empty()) {
    ckpt = read_checkpoint(path);
    resume = parse_resume_state(*ckpt, path);
  }
  begin_run(TrainerFn::fit, model);
  validated_in_fit_ = false;
  train_loader_ = overfit_view(train_loader, overfit_train_, "train");  // overfit_batches
  val_loaders_ = val_loaders.pointers();
  if (val_loaders_.size() == 1)
    val_loaders_[0] = overfit_view(val_loaders_[0], overfit_val_, "val");
  run_loaders_.push_back(std::move(val_loaders));
  datamodule_ = datamodule;
  // detect_anomaly: backward checks every node's gradients (autograd/anomaly_mode.h).
  std::optional<autograd::DetectAnomalyGuard> anomaly;
  if (options_.detect_anomaly) anomaly.emplace(true);
  ckpt_path_ = path;
  try {
    datamodule_begin("fit");
    EMBER_HOOKS(setup, std::string("fit"));
    if (ckpt) restore_model(*ckpt, path);
    if (ckpt) restore_datamodule(*ckpt);
    configure_optimizers();
    if (ckpt) restore_training_state(*ckpt, *resume);
    const HParams hparams = run_hparams();
    for (const auto& l : loggers_) l->log_hyperparams(hparams);
    EMBER_HOOKS(on_fit_start);
    if (datamodule_) {
      // Lightning asks for val_dataloader in the sanity check and for train_dataloader when
      // the fit loop starts, both after on_fit_start: the same order, asked once.
      LoaderList val = datamodule_->val_dataloader();
      val_loaders_ = val.pointers();
      run_loaders_.push_back(std::move(val));
      std::shared_ptr<DataLoader> train = datamodule_->train_dataloader();
      if (!train) fail<ValueError>("fit", "the LightningDataModule's train_dataloader() is null");
      train_loader_ = train.get();
      run_loaders_.emplace_back(std::move(train));
    }
    train_loader_ = distributed_view(train_loader_);  // ddp: this rank's share
    val_loaders_ = distributed_views(val_loaders_);
    run_sanity_check();
    run_fit_loop();
    EMBER_HOOKS(on_fit_end);
    for (const auto& l : loggers_) l->finalize("success");
    if (datamodule_) datamodule_->teardown("fit");
    EMBER_HOOKS(teardown, std::string("fit"));
  } catch (...) {
    strategy_->on_exception();
    for (const auto& l : loggers_) {
      try {
        l->finalize("failed");
      } catch (...) {  // the first error is the one to report
      }
    }
    end_run();
    throw;
  }
  end_run();
}

// ---- logging --------------------------------------------------------------------------------

namespace {
struct FxRule {
  bool default_on_step, default_on_epoch, step_allowed;
};
// Lightning's defaults per hook; hooks not listed cannot log.
std::optional<FxRule> fx_rule(const std::string& fx) {
  static const std::map<std::string, FxRule> rules = {
      {"training_step", {true, false, true}},
      {"on_train_batch_start", {true, false, true}},
      {"on_train_batch_end", {true, false, true}},
      {"on_before_backward", {true, false, true}},
      {"on_after_backward", {true, false, true}},
      {"on_before_zero_grad", {true, false, true}},
      {"on_before_optimizer_step", {true, false, true}},
      {"on_train_start", {false, true, false}},
      {"on_train_epoch_start", {false, true, false}},
      {"on_train_epoch_end", {false, true, false}},
      {"validation_step", {false, true, true}},
      {"on_validation_batch_start", {false, true, true}},
      {"on_validation_batch_end", {false, true, true}},
      {"on_validation_start", {false, true, false}},
      {"on_validation_epoch_start", {false, true, false}},
      {"on_validation_epoch_end", {false, true, false}},
      {"test_step", {false, true, true}},
      {"on_test_batch_start", {false, true, true}},
      {"on_test_batch_end", {false, true, true}},
      {"on_test_start", {false, true, false}},
      {"on_test_epoch_start", {false, true, false}},
      {"on_test_epoch_end", {false, true, false}},
  };
  auto it = rules.find(fx);
  if (it == rules.end()) return std::nullopt;
  return it->second;
}
}  // namespace

void Trainer::log_metric(const std::string& name, double value, const LogOptions& options) {
  log_metric_impl(name, value, options);
}

void Trainer::log_metric(const std::string& name, const Tensor& value, const LogOptions& options) {
  log_metric_impl(name, value, options);
}

template <typename Value>
void Trainer::log_metric_impl(const std::string& name, const Value& value,
                              const LogOptions& options) {
  if (fn_ == TrainerFn::none) return;  // outside a run, as Lightning (which warns)
  const std::string fx = current_fx_.empty() ? "<no hook>" : current_fx_;
  const std::optional<FxRule> rule = fx_rule(fx);
  if (!rule || !active_results_)
    fail<ValueError>("log", "'", name, "': logging is not supported in ", fx);
  const bool on_step = options.on_step.value_or(rule->default_on_step);
  const bool on_epoch = options.on_epoch.value_or(rule->default_on_epoch);
  if (on_step && !rule->step_allowed)
    fail<ValueError>("log", "'", name, "': on_step=true is not supported in ", fx,
                     " (an epoch-level hook)");
  const int64_t bs = options.batch_size.value_or(current_batch_size_);
  if (options.sync_dist && world_size() > 1) {
    // issue 17: reduced when logged, so every rank holds the same value (Lightning syncs
    // step values when logged and epoch values when computed: the same when the ranks'
    // batch sizes are equal).
    const Value synced = strategy_->reduce(value, options.reduce_fx);
    LogOptions rest = options;
    rest.sync_dist = false;
    rest.batch_size = bs;
    log_metric_impl(name, synced, rest);
    return;
  }
  // Lightning's add_dataloader_idx: with several eval loaders, names logged while one of
  // them runs (step and batch hooks) are kept apart per loader.
  const bool in_loader = fx == "validation_step" || fx == "test_step" ||
                         fx.starts_with("on_validation_batch") || fx.starts_with("on_test_batch");
  if (options.add_dataloader_idx && num_eval_loaders_ > 1 && in_loader) {
    active_results_->log(fx, name + "/dataloader_idx_" + std::to_string(dataloader_idx_), value,
                         on_step, on_epoch, options.prog_bar, options.logger, options.reduce_fx,
                         bs);
    return;
  }
  active_results_->log(fx, name, value, on_step, on_epoch, options.prog_bar, options.logger,
                       options.reduce_fx, bs);
}

void Trainer::update_callback_metrics(const MetricMap& values) {
  for (const auto& [k, v] : values) callback_values_[k] = v;
}

void Trainer::update_callback_values() {
  if (active_results_)
    for (const auto& [k, v] : active_results_->views(!epoch_end_reached_).callback)
      callback_values_[k] = v;
}

const MetricMap& Trainer::callback_metrics() {
  update_callback_values();
  callback_metrics_ = read_metrics(callback_values_);
  return callback_metrics_;
}

std::optional<double> Trainer::callback_metric(const std::string& name) {
  update_callback_values();
  auto it = callback_values_.find(name);
  if (it == callback_values_.end()) return std::nullopt;
  return it->second.get();
}

std::vector<std::string> Trainer::callback_metric_names() {
  update_callback_values();
  std::vector<std::string> names;
  for (const auto& [k, v] : callback_values_) names.push_back(k);
  return names;
}

const MetricMap& Trainer::progress_bar_metrics() const {
  pbar_metrics_ = read_metrics(pbar_values_);
  return pbar_metrics_;
}

bool Trainer::should_update_logs() const {
  return (batches_that_stepped_ + 1) % options_.log_every_n_steps == 0 || should_stop;
}

void Trainer::send_to_loggers(const MetricValueMap& values, int64_t step) {
  if (values.empty() || loggers_.empty()) return;
  MetricMap metrics = read_metrics(values);
  metrics.emplace("epoch", static_cast<double>(current_epoch_));  // as Lightning adds it
  for (const auto& l : loggers_) l->log_metrics(metrics, step);
  for (const auto& [k, v] : metrics) logged_metrics_[k] = v;
}

void Trainer::merge_views(const MetricViews& v) {
  for (const auto& [k, x] : v.callback) callback_values_[k] = x;
  for (const auto& [k, x] : v.pbar) pbar_values_[k] = x;
}

void Trainer::clear_metrics() {
  callback_values_.clear();
  pbar_values_.clear();
  callback_metrics_.clear();
  logged_metrics_.clear();
  pbar_metrics_.clear();
}

}  // namespace ember
