// The Trainer options of issue 18 that bound or instrument a run: min_epochs, min_steps,
// max_time, overfit_batches, detect_anomaly, deterministic and benchmark (docs/trainer.md,
// "Options"). The loops call can_stop_early and check_max_time; fit_impl overfit_view.
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tensor/backends.h"
#include "tensor/determinism.h"
#include "trainer/duration.h"
#include "trainer/trainer.h"

namespace ember {

MaxTime::MaxTime(const std::string& dd_hh_mm_ss)
    : duration(parse_dd_hh_mm_ss(dd_hh_mm_ss, "Trainer", "max_time")) {}

DeterministicChoice::DeterministicChoice(const char* mode) {
  if (mode == nullptr || std::string(mode) != "warn")
    fail<ValueError>("Trainer", "deterministic must be true, false or \"warn\", got \"",
                     mode ? mode : "(null)", "\"");
  enabled = true;
  warn_only = true;
}

void Trainer::init_run_options() {
  TrainerOptions& o = options_;
  if (o.min_epochs && *o.min_epochs < 0)
    fail<ValueError>("Trainer", "min_epochs must be >= 0, got ", *o.min_epochs);
  if (o.min_steps && *o.min_steps < 0)
    fail<ValueError>("Trainer", "min_steps must be >= 0, got ", *o.min_steps);
  if (o.min_epochs && *max_epochs_ != -1 && *o.min_epochs > *max_epochs_)
    fail<ValueError>("Trainer", "min_epochs (", *o.min_epochs, ") must be <= max_epochs (",
                     *max_epochs_, ")");
  if (o.min_steps && o.max_steps != -1 && *o.min_steps > o.max_steps)
    fail<ValueError>("Trainer", "min_steps (", *o.min_steps, ") must be <= max_steps (",
                     o.max_steps, ")");
  if (o.max_time && o.max_time->duration.count() < 0)
    fail<ValueError>("Trainer", "max_time must be >= 0 seconds, got ",
                     o.max_time->duration.count());
  // Lightning's _parse_loop_limits: min_steps alone implies one epoch at least.
  min_epochs_ = o.min_epochs ? *o.min_epochs : (o.min_steps ? 1 : 0);

  const BatchCount& ob = o.overfit_batches;
  if (ob.is_fraction && (ob.fraction < 0 || ob.fraction > 1))
    fail<ValueError>("Trainer", "a fractional overfit_batches must be in [0, 1], got ",
                     ob.fraction);
  if (!ob.is_fraction && ob.count < 0)
    fail<ValueError>("Trainer", "overfit_batches must be >= 0, got ", ob.count);
  if (!is_fast_dev_run() && (ob.is_fraction ? ob.fraction > 0 : ob.count > 0)) {
    // Lightning's _init_debugging_flags: the same limit for training and validation.
    o.limit_train_batches = ob;
    o.limit_val_batches = ob;
  }

  // Lightning's _set_torch_flags: process-wide switches, set when the Trainer is built.
  std::optional<bool> benchmark = o.benchmark;
  if (o.deterministic.enabled.value_or(false)) {
    if (!benchmark) benchmark = false;
    else if (*benchmark)
      std::fprintf(stderr,
                   "ember: deterministic=true and benchmark=true: cuDNN's algorithm search "
                   "still picks among deterministic algorithms only\n");
  }
  if (benchmark) backends::cudnn::benchmark = *benchmark;
  if (o.deterministic.enabled)
    use_deterministic_algorithms(*o.deterministic.enabled, o.deterministic.warn_only);
}

bool Trainer::can_stop_early() const {
  const bool epochs_met = current_epoch_ >= min_epochs_;
  const bool steps_met = !options_.min_steps || global_step_ >= *options_.min_steps;
  if (epochs_met && steps_met) return true;
  if (should_stop && !stop_message_shown_) {
    stop_message_shown_ = true;
    std::fprintf(stderr,
                 "ember: Trainer was signaled to stop but the required min_epochs=%lld or "
                 "min_steps=%lld has not been met. Training will continue...\n",
                 static_cast<long long>(min_epochs_),
                 static_cast<long long>(options_.min_steps.value_or(-1)));
  }
  return false;
}

void Trainer::check_max_time() {
  if (!options_.max_time || should_stop) return;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - train_start_;
  if (elapsed < options_.max_time->duration) return;
  should_stop = true;
  std::fprintf(stderr, "ember: time limit reached (max_time=%.3f s, elapsed %.3f s); stopping\n",
               options_.max_time->duration.count(), elapsed.count());
}

DataLoader* Trainer::overfit_view(DataLoader* loader, std::unique_ptr<DataLoader>& twin,
                                  const char* which) {
  twin.reset();
  const BatchCount& ob = options_.overfit_batches;
  const bool on = ob.is_fraction ? ob.fraction > 0 : ob.count > 0;
  if (!loader || !on || is_fast_dev_run() || !loader->options().shuffle) return loader;
  std::fprintf(stderr,
               "ember: you requested to overfit but enabled %s dataloader shuffling; it is turned "
               "off for this fit\n",
               which);
  // The twin reads the caller's dataset (which outlives the fit) in order; a non-owning
  // handle, since the loader exposes the dataset by reference only.
  DataLoaderOptions sequential = loader->options();
  sequential.shuffle = false;
  std::shared_ptr<const Dataset> data(std::shared_ptr<const Dataset>(), &loader->dataset());
  twin = std::make_unique<DataLoader>(std::move(data), sequential);
  return twin.get();
}

}  // namespace ember
