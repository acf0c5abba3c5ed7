// Learning-rate schedulers, as torch.optim.lr_scheduler. Each computes the rate of epoch
// (or step) e in closed form from the groups' base rates, so a restored scheduler
// continues exactly. Constructing one applies epoch 0; step() advances by one.
#pragma once

#include <functional>
#include <memory>
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
  Optimizer& optimizer() { return *optimizer_; }
  // The rates of epoch e for every group (closed form).
  virtual std::vector<double> lr_at(int64_t epoch) const = 0;
  virtual std::string name() const = 0;

  // "last_epoch" (i64) and "base_lrs" (f64), plus what a subclass adds.
  virtual nn::StateDict state_dict() const;
  virtual void load_state_dict(const nn::StateDict& dict);

 protected:
  void init();  // records base rates and applies epoch 0; subclasses call it last
  void apply(const std::vector<double>& lrs);

  std::shared_ptr<Optimizer> optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lr_;
  int64_t last_epoch_ = -1;
};

// lr = base * gamma^(epoch / step_size)
class StepLR : public LRScheduler {
 public:
  StepLR(std::shared_ptr<Optimizer> opt, int64_t step_size, double gamma = 0.1);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "StepLR"; }
  int64_t step_size;
  double gamma;
};

// lr = base * gamma^(number of milestones <= epoch)
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(std::shared_ptr<Optimizer> opt, std::vector<int64_t> milestones, double gamma = 0.1);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "MultiStepLR"; }
  std::vector<int64_t> milestones;
  double gamma;
};

// lr = base * gamma^epoch
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(std::shared_ptr<Optimizer> opt, double gamma);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "ExponentialLR"; }
  double gamma;
};

// lr = eta_min + (base - eta_min) (1 + cos(pi epoch / T_max)) / 2
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(std::shared_ptr<Optimizer> opt, int64_t T_max, double eta_min = 0.0);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "CosineAnnealingLR"; }
  int64_t T_max;
  double eta_min;
};

// Linear warmup: lr = base * (start + (end - start) min(epoch, total_iters) / total_iters)
class LinearLR : public LRScheduler {
 public:
  LinearLR(std::shared_ptr<Optimizer> opt, double start_factor = 1.0 / 3.0, double end_factor = 1.0,
           int64_t total_iters = 5);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "LinearLR"; }
  double start_factor, end_factor;
  int64_t total_iters;
};

// lr = base * lambda(epoch), one function for all groups or one per group
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

// Runs schedulers one after another: scheduler i from milestone i-1 on, counting its
// own epochs from 0 (e.g. LinearLR warmup, then CosineAnnealingLR).
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(std::shared_ptr<Optimizer> opt, std::vector<std::shared_ptr<LRScheduler>> schedulers,
               std::vector<int64_t> milestones);
  std::vector<double> lr_at(int64_t epoch) const override;
  std::string name() const override { return "SequentialLR"; }

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
