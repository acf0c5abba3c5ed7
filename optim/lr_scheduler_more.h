// More schedulers of torch.optim.lr_scheduler: OneCycleLR (per batch), SGDR's
// CosineAnnealingWarmRestarts, and ChainedScheduler (several schedulers stepped together on
// one optimizer; their effects compose because schedulers are chainable).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optim/lr_scheduler.h"

namespace ember::optim {

// Option names and defaults are torch's. max_lr, base_momentum and max_momentum take one
// value for every group or one per group.
struct OneCycleLROptions {
  std::vector<double> max_lr{};
  // total_steps, or else epochs * steps_per_epoch
  std::optional<int64_t> total_steps{}, epochs{}, steps_per_epoch{};
  double pct_start = 0.3;               // share of the steps spent raising the rate
  std::string anneal_strategy = "cos";  // or "linear"
  bool cycle_momentum = true;           // needs "momentum" (SGD, RMSprop) or "beta1" (Adam's betas)
  std::vector<double> base_momentum{0.85}, max_momentum{0.95};
  double div_factor = 25.0;       // initial_lr = max_lr / div_factor
  double final_div_factor = 1e4;  // min_lr = initial_lr / final_div_factor
  bool three_phase = false;       // up, back down to initial_lr, then to min_lr
};

// The 1cycle policy, stepped after every batch. Not chainable (as torch): it writes the rates
// from the groups' "initial_lr", "max_lr", "min_lr" (and "max_momentum", "base_momentum"),
// which it sets on construction. Stepping past total_steps is an error.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(std::shared_ptr<Optimizer> opt, OneCycleLROptions options);
  std::string name() const override { return "OneCycleLR"; }
  int64_t total_steps() const { return total_steps_; }
  const OneCycleLROptions& options() const { return options_; }
  // Adds "total_steps" (i64), "pct_start" (f64), "three_phase", "cycle_momentum",
  // "use_beta1" and "anneal_linear" (i64 flags).
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override { return get_lr(); }

 private:
  struct Phase {
    double end_step;
    const char *start_lr, *end_lr, *start_momentum, *end_momentum;
  };
  std::vector<Phase> phases() const;
  double anneal(double start, double end, double pct) const;

  OneCycleLROptions options_;
  int64_t total_steps_ = 0;
  bool use_beta1_ = false;
};

// SGDR: cosine from the base rate down to eta_min over T_i epochs, then a restart, with
// T_0 for the first period and T_i *= T_mult after each restart. Not chainable (as torch).
class CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(std::shared_ptr<Optimizer> opt, int64_t T_0, int64_t T_mult = 1,
                              double eta_min = 0.0);
  void step() override;
  // Jumps to a (fractional) epoch, e.g. epoch + batch / batches_per_epoch.
  void step(double epoch);
  std::string name() const override { return "CosineAnnealingWarmRestarts"; }
  double T_cur() const { return T_cur_; }
  int64_t T_i() const { return T_i_; }
  // Adds "T_0", "T_i", "T_mult" (i64), "eta_min" and "T_cur" (f64).
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;

  const int64_t T_0, T_mult;
  const double eta_min;

 protected:
  std::vector<double> get_lr() override;
  std::vector<double> closed_form_lr() override { return get_lr(); }

 private:
  double T_cur_ = -1;
  int64_t T_i_;
};

// Steps every scheduler, in order, on each step(); they must share one optimizer (the
// given one, else the first scheduler's). last_epoch counts its steps.
class ChainedScheduler : public LRScheduler {
 public:
  explicit ChainedScheduler(std::vector<std::shared_ptr<LRScheduler>> schedulers,
                            std::shared_ptr<Optimizer> optimizer = nullptr);
  void step() override;
  std::string name() const override { return "ChainedScheduler"; }
  // "last_epoch", "_last_lr", and each scheduler's state under "_schedulers.<i>.".
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;

 protected:
  void undo_initial_step() override;

 private:
  static std::shared_ptr<Optimizer> shared_optimizer(
      const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
      std::shared_ptr<Optimizer> optimizer);
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
};

}  // namespace ember::optim
