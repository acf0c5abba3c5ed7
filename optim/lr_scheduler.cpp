#include "optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "tensor/ops.h"

namespace ember::optim {

LRScheduler::LRScheduler(std::shared_ptr<Optimizer> optimizer) : optimizer_(std::move(optimizer)) {
  if (!optimizer_) fail<ValueError>("LRScheduler", "needs an optimizer");
}

void LRScheduler::init() {
  base_lrs_.clear();
  for (ParamGroup& g : optimizer_->param_groups()) {
    // Like PyTorch's "initial_lr": a second scheduler on the same optimizer shares it.
    if (!g.options.count("initial_lr")) g.options["initial_lr"] = g.lr();
    base_lrs_.push_back(g.get("initial_lr"));
  }
  last_epoch_ = 0;
  apply(lr_at(0));
}

void LRScheduler::apply(const std::vector<double>& lrs) {
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].set_lr(lrs[i]);
  last_lr_ = lrs;
}

void LRScheduler::step() {
  ++last_epoch_;
  apply(lr_at(last_epoch_));
}

nn::StateDict LRScheduler::state_dict() const {
  nn::StateDict d;
  d.insert("last_epoch", scalar_tensor(last_epoch_));
  d.insert("base_lrs", from_vector(base_lrs_));
  return d;
}

void LRScheduler::load_state_dict(const nn::StateDict& dict) {
  std::vector<double> base = dict.at("base_lrs").to_vector<double>();
  if (base.size() != optimizer_->param_groups().size())
    fail<ValueError>("load_state_dict", name(), " was saved for ", base.size(),
                     " groups, the optimizer has ", optimizer_->param_groups().size());
  base_lrs_ = base;
  last_epoch_ = dict.at("last_epoch").item<int64_t>();
  apply(lr_at(last_epoch_));
}

StepLR::StepLR(std::shared_ptr<Optimizer> opt, int64_t s, double g)
    : LRScheduler(std::move(opt)), step_size(s), gamma(g) {
  if (s <= 0) fail<ValueError>("StepLR", "step_size must be positive, got ", s);
  init();
}
std::vector<double> StepLR::lr_at(int64_t e) const {
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(b * std::pow(gamma, static_cast<double>(e / step_size)));
  return r;
}

MultiStepLR::MultiStepLR(std::shared_ptr<Optimizer> opt, std::vector<int64_t> m, double g)
    : LRScheduler(std::move(opt)), milestones(std::move(m)), gamma(g) {
  std::sort(milestones.begin(), milestones.end());
  init();
}
std::vector<double> MultiStepLR::lr_at(int64_t e) const {
  auto passed = std::upper_bound(milestones.begin(), milestones.end(), e) - milestones.begin();
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(b * std::pow(gamma, static_cast<double>(passed)));
  return r;
}

ExponentialLR::ExponentialLR(std::shared_ptr<Optimizer> opt, double g)
    : LRScheduler(std::move(opt)), gamma(g) {
  init();
}
std::vector<double> ExponentialLR::lr_at(int64_t e) const {
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(b * std::pow(gamma, static_cast<double>(e)));
  return r;
}

CosineAnnealingLR::CosineAnnealingLR(std::shared_ptr<Optimizer> opt, int64_t t, double eta)
    : LRScheduler(std::move(opt)), T_max(t), eta_min(eta) {
  if (t <= 0) fail<ValueError>("CosineAnnealingLR", "T_max must be positive, got ", t);
  init();
}
std::vector<double> CosineAnnealingLR::lr_at(int64_t e) const {
  std::vector<double> r;
  double c =
      (1.0 + std::cos(std::numbers::pi * static_cast<double>(e) / static_cast<double>(T_max))) /
      2.0;
  for (double b : base_lrs_) r.push_back(eta_min + (b - eta_min) * c);
  return r;
}

LinearLR::LinearLR(std::shared_ptr<Optimizer> opt, double s, double e, int64_t t)
    : LRScheduler(std::move(opt)), start_factor(s), end_factor(e), total_iters(t) {
  if (!(s > 0 && s <= 1)) fail<ValueError>("LinearLR", "start_factor must be in (0, 1], got ", s);
  if (!(e >= 0 && e <= 1)) fail<ValueError>("LinearLR", "end_factor must be in [0, 1], got ", e);
  if (t <= 0) fail<ValueError>("LinearLR", "total_iters must be positive, got ", t);
  init();
}
std::vector<double> LinearLR::lr_at(int64_t e) const {
  double f = start_factor + (end_factor - start_factor) *
                                static_cast<double>(std::min(e, total_iters)) /
                                static_cast<double>(total_iters);
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(b * f);
  return r;
}

LambdaLR::LambdaLR(std::shared_ptr<Optimizer> opt, Fn fn) : LRScheduler(std::move(opt)) {
  fns_.assign(optimizer_->param_groups().size(), fn);
  init();
}
LambdaLR::LambdaLR(std::shared_ptr<Optimizer> opt, std::vector<Fn> fns)
    : LRScheduler(std::move(opt)), fns_(std::move(fns)) {
  if (fns_.size() != optimizer_->param_groups().size())
    fail<ValueError>("LambdaLR", "got ", fns_.size(), " functions for ",
                     optimizer_->param_groups().size(), " groups");
  init();
}
std::vector<double> LambdaLR::lr_at(int64_t e) const {
  std::vector<double> r;
  for (size_t i = 0; i < base_lrs_.size(); ++i) r.push_back(base_lrs_[i] * fns_[i](e));
  return r;
}

SequentialLR::SequentialLR(std::shared_ptr<Optimizer> opt,
                           std::vector<std::shared_ptr<LRScheduler>> s, std::vector<int64_t> m)
    : LRScheduler(std::move(opt)), schedulers_(std::move(s)), milestones_(std::move(m)) {
  if (schedulers_.empty() || milestones_.size() != schedulers_.size() - 1)
    fail<ValueError>("SequentialLR", "needs n schedulers and n - 1 milestones, got ",
                     schedulers_.size(), " and ", milestones_.size());
  for (const auto& sch : schedulers_)
    if (&sch->optimizer() != optimizer_.get())
      fail<ValueError>("SequentialLR", "schedulers must share its optimizer");
  init();
}
std::vector<double> SequentialLR::lr_at(int64_t e) const {
  auto idx = static_cast<size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), e) -
                                 milestones_.begin());
  int64_t start = idx == 0 ? 0 : milestones_[idx - 1];
  return schedulers_[idx]->lr_at(e - start);
}

ReduceLROnPlateau::ReduceLROnPlateau(std::shared_ptr<Optimizer> opt, ReduceLROnPlateauOptions o)
    : optimizer_(std::move(opt)), options_(std::move(o)) {
  if (!optimizer_) fail<ValueError>("ReduceLROnPlateau", "needs an optimizer");
  if (options_.mode != "min" && options_.mode != "max")
    fail<ValueError>("ReduceLROnPlateau", "mode must be min or max, got ", options_.mode);
  if (options_.threshold_mode != "rel" && options_.threshold_mode != "abs")
    fail<ValueError>("ReduceLROnPlateau", "threshold_mode must be rel or abs, got ",
                     options_.threshold_mode);
  if (!(options_.factor < 1.0))
    fail<ValueError>("ReduceLROnPlateau", "factor must be < 1, got ", options_.factor);
  best_ = options_.mode == "min" ? std::numeric_limits<double>::infinity()
                                 : -std::numeric_limits<double>::infinity();
}

bool ReduceLROnPlateau::better(double a, double best) const {
  bool rel = options_.threshold_mode == "rel";
  if (options_.mode == "min")
    return rel ? a < best * (1.0 - options_.threshold) : a < best - options_.threshold;
  return rel ? a > best * (1.0 + options_.threshold) : a > best + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (better(metric, best_)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;
  }
  if (num_bad_epochs_ > options_.patience) {
    for (ParamGroup& g : optimizer_->param_groups()) {
      double old_lr = g.lr(), new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) g.set_lr(new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
}

std::vector<double> ReduceLROnPlateau::get_last_lr() const {
  std::vector<double> r;
  for (const ParamGroup& g : optimizer_->param_groups()) r.push_back(g.lr());
  return r;
}

nn::StateDict ReduceLROnPlateau::state_dict() const {
  nn::StateDict d;
  d.insert("best", scalar_tensor(best_, {.dtype = DType::f64}));
  d.insert("num_bad_epochs", scalar_tensor(num_bad_epochs_));
  d.insert("cooldown_counter", scalar_tensor(cooldown_counter_));
  d.insert("last_epoch", scalar_tensor(last_epoch_));
  return d;
}

void ReduceLROnPlateau::load_state_dict(const nn::StateDict& d) {
  best_ = d.at("best").item<double>();
  num_bad_epochs_ = d.at("num_bad_epochs").item<int64_t>();
  cooldown_counter_ = d.at("cooldown_counter").item<int64_t>();
  last_epoch_ = d.at("last_epoch").item<int64_t>();
}

}  // namespace ember::optim
