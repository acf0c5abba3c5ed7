// Learning-rate schedulers, as torch.optim.lr_scheduler. They are chainable as PyTorch's:
// step() computes the next rate from each group's CURRENT rate (get_lr), so a rate changed
// by hand, or by a second scheduler stepping the same optimizer, is kept and scaled rather
// than overwritten. Constructing one takes the initial step (epoch 0); step() advances by
// one. More schedulers (OneCycleLR, CosineAnnealingWarmRestarts, ChainedScheduler) are in
// optim/lr_scheduler_more.h.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace ember::optim {

class LRScheduler {
 public:
  explicit LRScheduler(std::shared_ptr<Optimizer> optimizer);
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual void step();
  const std::vector<double>& get_last_lr() const { return last_lr_; }
  int64_t last_epoch() const { return last_epoch_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() { return *optimizer_; }
  // The closed-form rates of epoch e from base_lrs (torch's _get_closed_form_lr), used when
  // a SequentialLR starts a scheduler at a milestone. Schedulers without one throw.
  virtual std::vector<double> lr_at(int64_t epoch) const;
  virtual std::string name() const = 0;

  // What torch saves: "last_epoch", "_step_count" (i64), "base_lrs", "_last_lr" (f64),
  // plus each subclass' fields under their torch names. Like torch, loading restores the
  // scheduler only: restore the optimizer's state too (it holds the groups' rates).
  virtual nn::StateDict state_dict() const;
  virtual void load_state_dict(const nn::StateDict& dict);

 protected:
  // Records base rates ("initial_lr", shared by all schedulers of the optimizer) and takes
  // the initial step; subclasses call it last in their constructor.
  void init();
  void initial_step();  // torch's _initial_step: step count 0, then step() in initial mode
  // The rates for last_epoch_ (torch's get_lr): chainable schedulers read the groups'
  // current rates. The default is the closed form (not chainable, as LambdaLR).
  virtual std::vector<double> get_lr() { return lr_at(last_epoch_); }
  // The rates update_lr(epoch) applies: the closed form where there is one, else get_lr.
  virtual std::vector<double> closed_form_lr() { return lr_at(last_epoch_); }
  // torch's _update_lr: no epoch advances by one with get_lr; an epoch jumps there.
  void update_lr(std::optional<int64_t> epoch = std::nullopt);
  // Writes the rates to the groups and records them, read back, as the last rates.
  void apply(const std::vector<double>& lrs);
  // SequentialLR undoes the initial step its schedulers took (torch's recursive_undo).
  virtual void undo_initial_step() { --last_epoch_; }
  std::vector<double> group_lrs() const;

  std::shared_ptr<Optimizer> optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = -1;
  int64_t step_count_ = 0;
  bool initial_ = false;  // torch's _is_initial: inside the constructor's step

  friend class SequentialLR;
  friend class ChainedScheduler;
};

// Multiplies the rate by gamma every step_size epochs.
class StepLR : public LRScheduler {
 public:
  StepLR(std::shared_ptr<Optimizer> opt, int64_t step_size, double gamma = 0.1);
  std::vector<double> lr_at(int64_t epoch) const override;  // base * gamma^(epoch / step_size)
  std::string name() const override { return "StepLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  int64_t step_size;
  double gamma;

 protected:
  std::vector<double> get_lr() override;
};

// Multiplies the rate by gamma at each milestone (gamma^k for a milestone given k times).
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(std::shared_ptr<Optimizer> opt, std::vector<int64_t> milestones, double gamma = 0.1);
  std::vector<double> lr_at(int64_t epoch) const override;  // base * gamma^(milestones <= e)
  std::string name() const override { return "MultiStepLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  std::vector<int64_t> milestones;  // sorted, repeats kept
  double gamma;

 protected:
  std::vector<double> get_lr() override;
};

// Multiplies the rate by gamma every epoch.
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(std::shared_ptr<Optimizer> opt, double gamma);
  std::vector<double> lr_at(int64_t epoch) const override;  // base * gamma^epoch
  std::string name() const override { return "ExponentialLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  double gamma;

 protected:
  std::vector<double> get_lr() override;
};

// Cosine annealing, recursively: lr' = eta_min + (lr - eta_min) (1 + cos(pi e / T_max)) /
// (1 + cos(pi (e - 1) / T_max)); closed form eta_min + (base - eta_min)(1 + cos(pi e/T_max))/2.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(std::shared_ptr<Optimizer> opt, int64_t T_max, double eta_min = 0.0);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "CosineAnnealingLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  int64_t T_max;
  double eta_min;

 protected:
  std::vector<double> get_lr() override;
};

// Linear warmup: the factor goes from start to end over total_iters epochs; each step
// scales the current rate by the ratio of consecutive factors.
class LinearLR : public LRScheduler {
 public:
  LinearLR(std::shared_ptr<Optimizer> opt, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
           int64_t total_iters = 5);
  // base * (start + (end - start) min(epoch, total_iters) / total_iters)
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "LinearLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  double start_factor, end_factor;
  int64_t total_iters;

 protected:
  std::vector<double> get_lr() override;
};

// Multiplies the rate by factor until epoch total_iters, where it divides it back.
class ConstantLR : public LRScheduler {
 public:
  ConstantLR(std::shared_ptr<Optimizer> opt, double factor = 1.0 / 3.0, int64_t total_iters = 5);
  std::vector<double> lr_at(int64_t epoch) const override;  // base * (e < total ? factor : 1)
  std::string name() const override { return "ConstantLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  double factor;
  int64_t total_iters;

 protected:
  std::vector<double> get_lr() override;
};

// Polynomial decay to 0 at total_iters: closed form base * (1 - min(e, total) / total)^power.
class PolynomialLR : public LRScheduler {
 public:
  PolynomialLR(std::shared_ptr<Optimizer> opt, int64_t total_iters = 5, double power = 1.0);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "PolynomialLR"; }
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  int64_t total_iters;
  double power;

 protected:
  std::vector<double> get_lr() override;
};

// lr = base * lambda(epoch), one function for all groups or one per group. Not chainable
// (as in torch): it overwrites the rate from base_lrs.
class LambdaLR : public LRScheduler {
 public:
  using Fn = std::function<double(int64_t)>;
  LambdaLR(std::shared_ptr<Optimizer> opt, Fn fn);
  LambdaLR(std::shared_ptr<Optimizer> opt, std::vector<Fn> fns);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "LambdaLR"; }

 private:
  std::vector<Fn> fns_;
};

// Runs schedulers one after another: scheduler i from milestone i-1 on, started there at
// its own epoch 0 in closed form, then stepped (e.g. LinearLR warmup, then cosine).
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(std::shared_ptr<Optimizer> opt, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  void step() override;
  std::string name() const override { return "SequentialLR"; }
  // Its own fields, and each scheduler's under "_schedulers.<i>.".
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;

 protected:
  void undo_initial_step() override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedulers_;
  std::vector<int64_t> milestones_;
};

// Lowers the rate by `factor` when a metric stops improving for `patience` checks.
struct ReduceLROnPlateauOptions {
  std::string mode = "min";  // or "max"
  double factor = 0.1;
  int64_t patience = 10;
  double threshold = 1e-4;
  std::string threshold_mode = "rel";  // or "abs"
  int64_t cooldown = 0;
  double min_lr = 0.0;
  double eps = 1e-8;  // changes smaller than this are skipped
};

class ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(std::shared_ptr<Optimizer> opt, ReduceLROnPlateauOptions options = {});
  void step(double metric);
  std::vector<double> get_last_lr() const;
  Optimizer& optimizer() { return *optimizer_; }
  nn::StateDict state_dict() const;  // best, num_bad_epochs, cooldown_counter, last_epoch
  void load_state_dict(const nn::StateDict& dict);
  const ReduceLROnPlateauOptions& options() const { return options_; }

 private:
  bool better(double a, double best) const;
  std::shared_ptr<Optimizer> optimizer_;
  ReduceLROnPlateauOptions options_;
  double best_;
  int64_t num_bad_epochs_ = 0, cooldown_counter_ = 0, last_epoch_ = 0;
};

}  // namespace ember::optim
