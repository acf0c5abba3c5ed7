// StochasticWeightAveraging, as Lightning's: from swa_epoch_start on, the module's weights
// are averaged at the start of every training epoch, the first scheduler is replaced by an
// optim::SWALR annealing the rate to swa_lrs, and when fit ends the average is copied into
// the module (batch norm statistics recomputed for it).
//
//   Trainer trainer({.max_epochs = 20, .callbacks = {StochasticWeightAveraging::make(
//                                          {.swa_lrs = 1e-2, .swa_epoch_start = 0.75})}});
//
// Epochs are 0-based: with swa_epoch_start s (an epoch count, or int(fraction * max_epochs))
// the average takes the weights at the start of epochs max(s - 1, 0) .. max_epochs - 1
// (Lightning's timing: the last epoch's training is not in it). docs/trainer.md
// "StochasticWeightAveraging" lists where ember differs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "optim/lr_scheduler.h"
#include "trainer/callback.h"

namespace ember {

// swa_lrs: one rate for every param group, or one per group.
struct SwaLrs {
  std::vector<double> lrs;
  SwaLrs() = default;
  SwaLrs(double lr) : lrs{lr} {}                        // NOLINT: implicit on purpose
  SwaLrs(std::vector<double> v) : lrs(std::move(v)) {}  // NOLINT
  SwaLrs(std::initializer_list<double> v) : lrs(v) {}   // NOLINT
};

// swa_epoch_start: a fraction of max_epochs in [0, 1] (a double) or an epoch count >= 1.
struct SwaEpochStart {
  bool is_fraction = true;
  double fraction = 0.8;
  int64_t count = 0;
  SwaEpochStart(double f) : fraction(f) {}                    // NOLINT: implicit on purpose
  SwaEpochStart(int n) : is_fraction(false), count(n) {}      // NOLINT
  SwaEpochStart(int64_t n) : is_fraction(false), count(n) {}  // NOLINT
};

// (averaged, current, n_averaged) -> the new average; n_averaged >= 1 models are in it.
using SwaAvgFn = std::function<Tensor(const Tensor&, const Tensor&, int64_t)>;

struct StochasticWeightAveragingOptions {
  SwaLrs swa_lrs{};  // required (Lightning's first argument); each > 0
  SwaEpochStart swa_epoch_start = 0.8;
  int64_t annealing_epochs = 10;           // SWALR's anneal_epochs (>= 0)
  std::string annealing_strategy = "cos";  // "cos" or "linear"
  SwaAvgFn avg_fn{};                       // unset: the running mean avg + (p - avg) / (n + 1)
};

class StochasticWeightAveraging : public Callback {
 public:
  // Throws ValueError naming the option: swa_lrs missing or <= 0, swa_epoch_start out of
  // range, annealing_epochs < 0, an unknown annealing_strategy.
  explicit StochasticWeightAveraging(StochasticWeightAveragingOptions options);
  static std::shared_ptr<StochasticWeightAveraging> make(StochasticWeightAveragingOptions options) {
    return std::make_shared<StochasticWeightAveraging>(std::move(options));
  }

  // 0-based epochs of the first and last update (valid from on_fit_start on).
  int64_t swa_start() const { return std::max<int64_t>(start_epoch_ - 1, 0); }
  int64_t swa_end() const { return max_epochs_ - 1; }
  int64_t n_averaged() const { return n_averaged_; }
  int64_t latest_update_epoch() const { return latest_update_epoch_; }
  // The averaged parameters by name (empty before the first update).
  const std::vector<std::pair<std::string, Tensor>>& averaged_parameters() const {
    return averaged_;
  }
  // The default avg_fn.
  static Tensor running_mean(const Tensor& averaged, const Tensor& current, int64_t n_averaged);

  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_fit_start(Trainer& trainer, LightningModule& module) override;
  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_save_checkpoint(Trainer& trainer, LightningModule& module, Checkpoint& ckpt) override;
  void on_load_checkpoint(Trainer& trainer, LightningModule& module,
                          const Checkpoint& ckpt) override;
  // JSON: n_averaged, latest_update_epoch.
  // The averaged parameters and SWALR's state go into the checkpoint's tensors under
  // "extra.callbacks.StochasticWeightAveraging." (on_save_checkpoint).
  std::string state_dict() const override;
  void load_state_dict(const std::string& state) override;

 private:
  void start_swa(Trainer& trainer);
  void update_average(LightningModule& module);
  void transfer_weights(LightningModule& module) const;
  void recompute_batch_norm(Trainer& trainer, LightningModule& module) const;

  StochasticWeightAveragingOptions options_;
  int64_t start_epoch_ = 0;  // swa_epoch_start as an epoch count
  int64_t max_epochs_ = 0;
  bool initialized_ = false;
  int64_t n_averaged_ = 0;
  int64_t latest_update_epoch_ = -1;
  std::vector<std::pair<std::string, Tensor>> averaged_;
  std::shared_ptr<optim::LRScheduler> swa_scheduler_;
  // The config SWALR replaced (kept in checkpoints in its place, so that a resumed fit's
  // configure_optimizers matches); unset when SWALR was added to none.
  std::optional<SchedulerConfig> replaced_;
  nn::StateDict scheduler_state_;  // SWALR's, from a checkpoint, until SWA starts again
};

}  // namespace ember
