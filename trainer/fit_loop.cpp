// The fit loop: epochs of training batches with Lightning 2.x's order of hooks,
// optimization (zero_grad, backward, clipping, step), scheduler updates, validation
// checks and logging; and where a resumed fit re-enters it.
#include <algorithm>
#include <cstdio>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "tensor/random.h"
#include "trainer/trainer_hooks.h"

namespace ember {

namespace {
bool is_monitoring(const Callback& c) { return c.is_monitoring(); }
bool not_monitoring(const Callback& c) { return !c.is_monitoring(); }
bool every(const Callback&) { return true; }
}  // namespace

void Trainer::run_sanity_check() {
  if (!has_val_loader() || options_.num_sanity_val_steps == 0) return;
  // num_sanity_val_steps batches of each validation loader.
  std::vector<int64_t> n;
  for (const DataLoader* l : val_loaders_) {
    const int64_t total = options_.limit_val_batches.of(l->size());
    n.push_back(options_.num_sanity_val_steps == -1
                    ? total
                    : std::min(options_.num_sanity_val_steps, total));
  }
  if (std::all_of(n.begin(), n.end(), [](int64_t k) { return k == 0; })) return;
  // The sanity check leaves the generator as it found it (Lightning's isolate_rng), so
  // training draws the same numbers with or without it.
  const PhiloxState rng = get_rng_state();
  sanity_checking_ = true;
  call_callbacks(
      "on_sanity_check_start", [&](Callback& c) { c.on_sanity_check_start(*this, *model_); },
      every);
  run_evaluation(Stage::validate, val_loaders_, n);
  call_callbacks(
      "on_sanity_check_end", [&](Callback& c) { c.on_sanity_check_end(*this, *model_); }, every);
  sanity_checking_ = false;
  // What the sanity check logged is forgotten, as in Lightning.
  eval_results_.reset();
  clear_metrics();
  set_rng_state(rng);
}

bool Trainer::fit_done() const {
  if (options_.max_steps != -1 && global_step_ >= options_.max_steps) return true;
  if (*max_epochs_ != -1 && current_epoch_ >= *max_epochs_) return true;
  return should_stop && can_stop_early();  // min_epochs / min_steps first
}

void Trainer::warn_if_modules_in_eval_mode() const {
  const auto modules = model_->modules();
  const auto eval = std::count_if(modules.begin() + 1, modules.end(),  // not the model itself
                                  [](const auto& m) { return !m->is_training(); });
  if (eval > 0 && is_global_zero())  // issue 17: once, as Lightning's rank_zero_warn
    std::fprintf(stderr,
                 "ember: Found %lld module(s) in eval mode at the start of training. This may "
                 "lead to unexpected behavior during training. If this is intentional, you can "
                 "ignore this warning.\n",
                 static_cast<long long>(eval));
}

void Trainer::run_fit_loop() {
  should_stop = false;
  // Modes of submodules (Lightning 2.2+): fit does not call train(); the modes are the
  // user's (a frozen injected encoder stays in eval()), and Lightning's warning says so.
  warn_if_modules_in_eval_mode();
  stop_message_shown_ = false;
  autograd::GradModeGuard grad_on(true);
  stage_ = Stage::train;
  train_start_ = std::chrono::steady_clock::now();  // max_time counts from here, as Timer
  EMBER_HOOKS(on_train_start);
  while (!fit_done()) {
    run_train_epoch();
    if (num_training_batches_ == 0) break;  // limit_train_batches=0: nothing to train
  }
  stage_ = Stage::train;
  EMBER_HOOKS(on_train_end);
  stage_ = Stage::none;
}

void Trainer::run_train_epoch() {
  const int64_t total = train_loader_->size();
  num_training_batches_ = is_fast_dev_run() ? std::min(total, options_.fast_dev_run.batches)
                                            : options_.limit_train_batches.of(total);
  if (num_training_batches_ == 0) {
    std::fprintf(
        stderr,
        "ember: no training batches (limit_train_batches or an empty loader); skipping training\n");
    return;
  }
  const BatchCount& vci = options_.val_check_interval;
  if (vci.is_fraction) {
    val_check_batch_ = std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(num_training_batches_) * vci.fraction));
  } else {
    val_check_batch_ = vci.count;
    if (options_.check_val_every_n_epoch && val_check_batch_ > num_training_batches_ &&
        has_val_loader())
      fail<ValueError>("Trainer", "val_check_interval (", val_check_batch_,
                       ") must be at most the number of training batches (", num_training_batches_,
                       "); unset check_val_every_n_epoch to count batches across epochs");
  }

  // Where a resumed fit re-enters this epoch.
  std::optional<ResumeState> r = std::move(resume_);
  resume_.reset();
  const int64_t start = r ? std::min(r->batches_done, num_training_batches_) : 0;
  const std::string phase = r ? r->phase : "batch";

  train_loader_->set_epoch(current_epoch_);
  stage_ = Stage::train;
  if (r && !r->train_results.empty()) train_results_.from_json(r->train_results);
  else train_results_.reset();
  active_results_ = &train_results_;
  epoch_end_reached_ = false;
  batches_done_ = start;
  phase_ = "batch";

  // The generator is restored where the interrupted run was when it saved: before the
  // epoch-start hooks for a checkpoint from between epochs, after them otherwise.
  const bool at_epoch_start = start == 0 && phase == "batch";
  if (r && at_epoch_start) set_rng_state(r->rng);
  if (phase != "epoch_end") EMBER_HOOKS(on_train_epoch_start);
  if (r && !at_epoch_start) set_rng_state(r->rng);
  if (phase == "epoch_end") {
    finish_train_epoch(true, true);
    return;
  }
  // The batch the checkpoint was saved after may still owe its validation and logging.
  if (r && start > 0) {
    post_batch(start - 1, r->stepped, phase == "validated");
    const bool stop = should_stop && can_stop_early();
    if (stop || (options_.max_steps != -1 && global_step_ >= options_.max_steps)) {
      finish_train_epoch(start == num_training_batches_ || stop, false);
      return;
    }
  }

  bool completed = true;
  std::unique_ptr<BatchStream> stream = train_loader_->stream(start, num_training_batches_);
  for (int64_t b = start; b < num_training_batches_; ++b) {
    std::optional<Batch> next = stream->next();
    if (!next) break;
    // The batch's copy to the device, counted apart while the profiler records (a step's
    // own transfers are what ProfilerCallback reports).
    const profiler::TransferCounts before =
        profiler::is_enabled() ? profiler::transfer_counts() : profiler::TransferCounts{};
    const Batch batch = precision_->convert_input(next->to(device_));
    batch_transfers_ =
        profiler::is_enabled() ? profiler::transfer_counts() - before : profiler::TransferCounts{};
    batch_idx_ = b;
    train_results_.begin_step();
    current_batch_size_ = batch.batch_size();
    bool go_on = true;
    call_hooks(
        "on_train_batch_start",
        [&](Callback& c) { c.on_train_batch_start(*this, *model_, batch, b); },
        [&](LightningModule& m) { go_on = m.on_train_batch_start(batch, b); });
    if (!go_on) break;  // the module asked to skip the rest of the epoch

    bool stepped = false;
    const Tensor loss = run_training_batch(batch, b, stepped);
    // Lightning: step-interval schedulers, and epoch-interval ones at the epoch's last
    // batch, are stepped before on_train_batch_end (plateau ones after validation).
    if (stepped) update_schedulers("step", false);
    if (b + 1 == num_training_batches_) update_schedulers("epoch", false);
    batches_done_ = b + 1;
    ++total_batch_idx_;
    last_stepped_ = stepped;
    phase_ = "batch";
    EMBER_HOOKS(on_train_batch_end, loss, batch, b);
    check_max_time();  // after the hooks, as Lightning's Timer callback
    post_batch(b, stepped, false);

    if (options_.max_steps != -1 && global_step_ >= options_.max_steps) {
      completed = b + 1 == num_training_batches_;
      break;
    }
    if (should_stop && can_stop_early()) break;
  }
  finish_train_epoch(completed, false);
}

Tensor Trainer::run_training_batch(const Batch& batch, int64_t b, bool& stepped) {
  if (!model_->automatic_optimization()) {
    // Lightning counts every manual-optimization batch as stepped (_batches_that_stepped);
    // global_step counts the optimizer steps training_step made.
    stepped = true;
    return run_manual_batch(batch, b);
  }
  stepped = false;
  const int64_t accum = accumulate_grad_batches_;
  optim::Optimizer& opt = *optimizers_[0];
  Tensor loss;
  bool closure_ran = false;
  const bool last_in_window = (b + 1) % accum == 0 || b + 1 == num_training_batches_;
  // Lightning's closure: training_step, zero_grad (first batch of an accumulation window,
  // after the step's forward), backward.
  const Closure closure = [&]() -> Tensor {
    closure_ran = true;
    {
      FxScope fx(*this, "training_step");
      const profiler::Range profile("training_step");
      // ddp: a DistributedDataParallel forward; before the window's last batch, no_sync.
      // Mixed precision: the step under autocast, its backward (below) outside it.
      const auto amp = precision_->forward_context(device_);
      loss = strategy_->run_training_step([&] { return model_->training_step(batch, b); },
                                          last_in_window);
    }
    if (!loss.defined()) return loss;  // the module skips this batch
    if (loss.numel() != 1)
      fail<ValueError>("training_step", "must return a one-element loss, got shape ",
                       str(loss.sizes()));
    if (!loss.requires_grad())
      fail<ValueError>("training_step",
                       "the loss does not require grad (computed under NoGradGuard, or with every "
                       "parameter frozen?)");
    if (b % accum == 0) {
      EMBER_HOOKS(on_before_zero_grad, opt);
      FxScope fx(*this, "optimizer_zero_grad");
      const profiler::Range profile("zero_grad");
      model_->optimizer_zero_grad(current_epoch_, b, opt);
    }
    backward(accum > 1 ? loss / static_cast<double>(accum) : loss);
    return loss;
  };
  if (!last_in_window) {
    closure();
    return loss.defined() ? loss.detach() : loss;
  }
  LightningOptimizer handle(optimizers_[0], self_);
  {
    FxScope fx(*this, "optimizer_step");
    model_->optimizer_step(current_epoch_, b, handle, closure);
  }
  if (!closure_ran)
    fail<ValueError>("optimizer_step",
                     "The closure hasn't been executed. HINT: did you call `closure()` in your "
                     "`optimizer_step` hook? It could also happen because the "
                     "`optimizer.step(closure)` call did not execute it internally.");
  if (!loss.defined()) return loss;  // a skipped batch is no step
  ++global_step_;
  stepped = true;
  return loss.detach();
}

void Trainer::post_batch(int64_t b, bool stepped, bool validated) {
  if (!validated) {
    // Step metrics go to the progress bar and callbacks every batch, to the loggers at
    // the end of an accumulation window every log_every_n_steps.
    const MetricViews v = train_results_.views(true);
    merge_views(v);
    if (stepped && should_update_logs()) send_to_loggers(v.log, batches_that_stepped_);
    if (should_check_val(b)) {
      if (stepped) model_->zero_grad(true);  // frees gradient memory during validation
      run_evaluation(Stage::validate, val_loaders_, eval_batches(Stage::validate, val_loaders_));
    }
  }
  if (stepped) {
    update_schedulers("step", true);
    ++batches_that_stepped_;
  }
}

bool Trainer::should_check_val(int64_t b) const {
  if (!has_val_loader()) return false;
  const std::vector<int64_t> n = eval_batches(Stage::validate, val_loaders_);
  if (std::all_of(n.begin(), n.end(), [](int64_t k) { return k == 0; })) return false;
  if (options_.check_val_every_n_epoch &&
      (current_epoch_ + 1) % *options_.check_val_every_n_epoch != 0)
    return false;
  if (should_stop && can_stop_early()) return true;
  // Lightning counts val_check_interval within the epoch, or across epochs when
  // check_val_every_n_epoch is unset.
  const int64_t done = options_.check_val_every_n_epoch ? b + 1 : total_batch_idx_;
  return done % val_check_batch_ == 0;
}

void Trainer::finish_train_epoch(bool completed, bool resumed_at_end) {
  stage_ = Stage::train;
  active_results_ = &train_results_;
  epoch_end_reached_ = true;
  if (!resumed_at_end) {
    // An epoch cut short by max_steps stays resumable where it stopped.
    if (completed) phase_ = "epoch_end";
    call_callbacks(
        "on_train_epoch_end", [&](Callback& c) { c.on_train_epoch_end(*this, *model_); },
        not_monitoring);
    {
      FxScope fx(*this, "on_train_epoch_end");
      model_->on_train_epoch_end();
    }
    call_callbacks(
        "on_train_epoch_end", [&](Callback& c) { c.on_train_epoch_end(*this, *model_); },
        is_monitoring);
  }
  const MetricViews v = train_results_.views(false);
  merge_views(v);
  send_to_loggers(v.log, std::max<int64_t>(batches_that_stepped_ - 1, 0));
  for (const auto& l : loggers_) l->save();
  if (completed) {
    update_schedulers("epoch", true);
    ++current_epoch_;
    batches_done_ = 0;
    phase_ = "batch";
  }
}

void Trainer::update_schedulers(const std::string& interval, bool plateau) {
  // Lightning: with manual optimization the module steps its schedulers itself.
  if (!model_->automatic_optimization()) return;
  for (const SchedulerConfig& s : scheduler_configs_) update_scheduler(s, interval, plateau);
}

void Trainer::update_scheduler(const SchedulerConfig& s, const std::string& interval,
                               bool plateau) {
  if (s.empty() || s.interval != interval || plateau != static_cast<bool>(s.plateau)) return;
  const int64_t idx = interval == "step" ? global_step_ : current_epoch_ + 1;
  if (idx % s.frequency != 0) return;
  if (!s.plateau) {
    s.scheduler->step();
    return;
  }
  const std::optional<double> value = callback_metric(s.monitor);  // reads that one only
  if (!value) {
    std::string available;
    for (const std::string& k : callback_metric_names())
      available += (available.empty() ? "" : ", ") + k;
    if (s.strict)
      fail<ValueError>("ReduceLROnPlateau", "conditioned on metric '", s.monitor,
                       "', which is not available; available metrics are: [", available, "]");
    std::fprintf(stderr, "ember: ReduceLROnPlateau skipped: metric '%s' is not available\n",
                 s.monitor.c_str());
    return;
  }
  s.plateau->step(*value);
}

}  // namespace ember
