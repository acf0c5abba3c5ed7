#include "optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "optim/scheduler_state.h"
#include "tensor/ops.h"

namespace ember::optim {

using detail::get;
using detail::put;

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
  last_epoch_ = -1;
  initial_step();
}

void LRScheduler::initial_step() {
  step_count_ = 0;
  initial_ = true;
  step();
  initial_ = false;
}

std::vector<double> LRScheduler::lr_at(int64_t /*epoch*/) const {
  fail<ValueError>(name(), "has no closed form; it can only be stepped");
}

std::vector<double> LRScheduler::group_lrs() const {
  std::vector<double> r;
  for (const ParamGroup& g : optimizer_->param_groups()) r.push_back(g.lr());
  return r;
}

void LRScheduler::apply(const std::vector<double>& lrs) {
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size() && i < lrs.size(); ++i) groups[i].set_lr(lrs[i]);
  last_lr_ = group_lrs();
}

void LRScheduler::update_lr(std::optional<int64_t> epoch) {
  if (!epoch) {
    ++last_epoch_;
    apply(get_lr());
  } else {
    last_epoch_ = *epoch;
    apply(closed_form_lr());
  }
}

void LRScheduler::step() {
  ++step_count_;
  update_lr();
}

nn::StateDict LRScheduler::state_dict() const {
  nn::StateDict d;
  put(d, "last_epoch", last_epoch_);
  put(d, "_step_count", step_count_);
  put(d, "base_lrs", base_lrs_);
  put(d, "_last_lr", last_lr_);
  return d;
}

void LRScheduler::load_state_dict(const nn::StateDict& dict) {
  std::vector<double> base = dict.at("base_lrs").to_vector<double>();
  if (base.size() != optimizer_->param_groups().size())
    fail<ValueError>("load_state_dict", name(), " was saved for ", base.size(),
                     " groups, the optimizer has ", optimizer_->param_groups().size());
  base_lrs_ = base;
  last_epoch_ = dict.at("last_epoch").item<int64_t>();
  get(dict, "_step_count", step_count_);
  get(dict, "_last_lr", last_lr_);
}

// Each chainable get_lr returns the groups' current rates times a factor.
namespace {
std::vector<double> scaled(std::vector<double> lrs, double factor) {
  for (double& lr : lrs) lr *= factor;
  return lrs;
}
std::vector<double> scaled_base(const std::vector<double>& base, double factor) {
  return scaled(base, factor);
}
}  // namespace

// ---- StepLR ---------------------------------------------------------------------------

StepLR::StepLR(std::shared_ptr<Optimizer> opt, int64_t s, double g)
    : LRScheduler(std::move(opt)), step_size(s), gamma(g) {
  if (s <= 0) fail<ValueError>("StepLR", "step_size must be positive, got ", s);
  init();
}
std::vector<double> StepLR::get_lr() {
  if (last_epoch_ == 0 || last_epoch_ % step_size != 0) return group_lrs();
  return scaled(group_lrs(), gamma);
}
std::vector<double> StepLR::lr_at(int64_t e) const {
  return scaled_base(base_lrs_, std::pow(gamma, static_cast<double>(e / step_size)));
}
nn::StateDict StepLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "step_size", step_size);
  put(d, "gamma", gamma);
  return d;
}
void StepLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "step_size", step_size);
  get(d, "gamma", gamma);
}

// ---- MultiStepLR ----------------------------------------------------------------------

MultiStepLR::MultiStepLR(std::shared_ptr<Optimizer> opt, std::vector<int64_t> m, double g)
    : LRScheduler(std::move(opt)), milestones(std::move(m)), gamma(g) {
  std::sort(milestones.begin(), milestones.end());
  init();
}
std::vector<double> MultiStepLR::get_lr() {
  auto hits = std::count(milestones.begin(), milestones.end(), last_epoch_);
  if (hits == 0) return group_lrs();
  return scaled(group_lrs(), std::pow(gamma, static_cast<double>(hits)));
}
std::vector<double> MultiStepLR::lr_at(int64_t e) const {
  auto passed = std::upper_bound(milestones.begin(), milestones.end(), e) - milestones.begin();
  return scaled_base(base_lrs_, std::pow(gamma, static_cast<double>(passed)));
}
nn::StateDict MultiStepLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "milestones", milestones);
  put(d, "gamma", gamma);
  return d;
}
void MultiStepLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "milestones", milestones);
  get(d, "gamma", gamma);
}

// ---- ExponentialLR --------------------------------------------------------------------

ExponentialLR::ExponentialLR(std::shared_ptr<Optimizer> opt, double g)
    : LRScheduler(std::move(opt)), gamma(g) {
  init();
}
std::vector<double> ExponentialLR::get_lr() {
  if (initial_) return group_lrs();
  return scaled(group_lrs(), gamma);
}
std::vector<double> ExponentialLR::lr_at(int64_t e) const {
  return scaled_base(base_lrs_, std::pow(gamma, static_cast<double>(e)));
}
nn::StateDict ExponentialLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "gamma", gamma);
  return d;
}
void ExponentialLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "gamma", gamma);
}

// ---- CosineAnnealingLR ----------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(std::shared_ptr<Optimizer> opt, int64_t t, double eta)
    : LRScheduler(std::move(opt)), T_max(t), eta_min(eta) {
  if (t <= 0) fail<ValueError>("CosineAnnealingLR", "T_max must be positive, got ", t);
  init();
}
std::vector<double> CosineAnnealingLR::get_lr() {
  const double pi = std::numbers::pi, T = static_cast<double>(T_max);
  const double e = static_cast<double>(last_epoch_);
  if (initial_) return group_lrs();
  if (step_count_ == 1 && last_epoch_ > 0) return lr_at(last_epoch_);
  std::vector<double> lrs = group_lrs();
  // Python's modulo (non-negative): the step after each minimum climbs back by a fixed
  // amount, where the ratio below would divide by zero.
  int64_t period = 2 * T_max, r = ((last_epoch_ - 1 - T_max) % period + period) % period;
  for (size_t i = 0; i < lrs.size(); ++i) {
    if (r == 0) lrs[i] += (base_lrs_[i] - eta_min) * (1.0 - std::cos(pi / T)) / 2.0;
    else
      lrs[i] =
          (1.0 + std::cos(pi * e / T)) / (1.0 + std::cos(pi * (e - 1.0) / T)) * (lrs[i] - eta_min) +
          eta_min;
  }
  return lrs;
}
std::vector<double> CosineAnnealingLR::lr_at(int64_t e) const {
  double c =
      (1.0 + std::cos(std::numbers::pi * static_cast<double>(e) / static_cast<double>(T_max))) /
      2.0;
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(eta_min + (b - eta_min) * c);
  return r;
}
nn::StateDict CosineAnnealingLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "T_max", T_max);
  put(d, "eta_min", eta_min);
  return d;
}
void CosineAnnealingLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "T_max", T_max);
  get(d, "eta_min", eta_min);
}

// ---- LinearLR -------------------------------------------------------------------------

LinearLR::LinearLR(std::shared_ptr<Optimizer> opt, double s, double e, int64_t t)
    : LRScheduler(std::move(opt)), start_factor(s), end_factor(e), total_iters(t) {
  if (!(s > 0 && s <= 1)) fail<ValueError>("LinearLR", "start_factor must be in (0, 1], got ", s);
  if (!(e >= 0 && e <= 1)) fail<ValueError>("LinearLR", "end_factor must be in [0, 1], got ", e);
  if (t <= 0) fail<ValueError>("LinearLR", "total_iters must be positive, got ", t);
  init();
}
std::vector<double> LinearLR::get_lr() {
  if (last_epoch_ == 0) return scaled(group_lrs(), start_factor);
  if (initial_ || last_epoch_ > total_iters) return group_lrs();
  const double d = end_factor - start_factor;
  return scaled(group_lrs(), 1.0 + d / (static_cast<double>(total_iters) * start_factor +
                                        static_cast<double>(last_epoch_ - 1) * d));
}
std::vector<double> LinearLR::lr_at(int64_t e) const {
  return scaled_base(base_lrs_, start_factor + (end_factor - start_factor) *
                                                   static_cast<double>(std::min(e, total_iters)) /
                                                   static_cast<double>(total_iters));
}
nn::StateDict LinearLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "start_factor", start_factor);
  put(d, "end_factor", end_factor);
  put(d, "total_iters", total_iters);
  return d;
}
void LinearLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "start_factor", start_factor);
  get(d, "end_factor", end_factor);
  get(d, "total_iters", total_iters);
}

// ---- ConstantLR -----------------------------------------------------------------------

ConstantLR::ConstantLR(std::shared_ptr<Optimizer> opt, double f, int64_t t)
    : LRScheduler(std::move(opt)), factor(f), total_iters(t) {
  if (!(f >= 0 && f <= 1)) fail<ValueError>("ConstantLR", "factor must be in [0, 1], got ", f);
  if (t < 0) fail<ValueError>("ConstantLR", "total_iters must be non-negative, got ", t);
  init();
}
std::vector<double> ConstantLR::get_lr() {
  if (last_epoch_ == 0) return scaled(group_lrs(), factor);
  if (last_epoch_ != total_iters) return group_lrs();
  return scaled(group_lrs(), 1.0 / factor);
}
std::vector<double> ConstantLR::lr_at(int64_t e) const {
  return scaled_base(base_lrs_, e >= total_iters ? 1.0 : factor);
}
nn::StateDict ConstantLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "factor", factor);
  put(d, "total_iters", total_iters);
  return d;
}
void ConstantLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "factor", factor);
  get(d, "total_iters", total_iters);
}

// ---- PolynomialLR ---------------------------------------------------------------------

PolynomialLR::PolynomialLR(std::shared_ptr<Optimizer> opt, int64_t t, double p)
    : LRScheduler(std::move(opt)), total_iters(t), power(p) {
  if (t <= 0) fail<ValueError>("PolynomialLR", "total_iters must be positive, got ", t);
  init();
}
std::vector<double> PolynomialLR::get_lr() {
  if (initial_ || last_epoch_ > total_iters) return group_lrs();
  const double T = static_cast<double>(total_iters), e = static_cast<double>(last_epoch_);
  return scaled(group_lrs(), std::pow((1.0 - e / T) / (1.0 - (e - 1.0) / T), power));
}
std::vector<double> PolynomialLR::lr_at(int64_t e) const {
  const double T = static_cast<double>(total_iters);
  return scaled_base(base_lrs_,
                     std::pow(1.0 - static_cast<double>(std::min(total_iters, e)) / T, power));
}
nn::StateDict PolynomialLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "total_iters", total_iters);
  put(d, "power", power);
  return d;
}
void PolynomialLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "total_iters", total_iters);
  get(d, "power", power);
}

// ---- LambdaLR -------------------------------------------------------------------------

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

// ---- SequentialLR ---------------------------------------------------------------------

SequentialLR::SequentialLR(std::shared_ptr<Optimizer> opt,
                           std::vector<std::shared_ptr<LRScheduler>> s, std::vector<int64_t> m)
    : LRScheduler(std::move(opt)), schedulers_(std::move(s)), milestones_(std::move(m)) {
  if (schedulers_.empty() || milestones_.size() != schedulers_.size() - 1)
    fail<ValueError>("SequentialLR", "needs n schedulers and n - 1 milestones, got ",
                     schedulers_.size(), " and ", milestones_.size());
  for (size_t i = 0; i < schedulers_.size(); ++i)
    if (!schedulers_[i] || schedulers_[i]->optimizer_ != optimizer_)
      fail<ValueError>("SequentialLR", "scheduler ", i, " does not step its optimizer");
  // As torch: back to the initial rates, undo the initial step every scheduler took, and
  // take it again for the first one only.
  for (ParamGroup& g : optimizer_->param_groups()) {
    g.set_lr(g.get("initial_lr"));
    base_lrs_.push_back(g.get("initial_lr"));
  }
  last_epoch_ = 0;
  undo_initial_step();
  schedulers_[0]->initial_step();
  last_lr_ = schedulers_[0]->get_last_lr();
}

void SequentialLR::undo_initial_step() {
  for (const auto& s : schedulers_) s->undo_initial_step();
}

void SequentialLR::step() {
  ++last_epoch_;
  auto idx = static_cast<size_t>(
      std::upper_bound(milestones_.begin(), milestones_.end(), last_epoch_) - milestones_.begin());
  LRScheduler& s = *schedulers_[idx];
  if (idx > 0 && milestones_[idx - 1] == last_epoch_) s.update_lr(0);
  else s.step();
  last_lr_ = s.get_last_lr();
}

nn::StateDict SequentialLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "_milestones", milestones_);
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (const auto& [k, v] : schedulers_[i]->state_dict())
      d.insert("_schedulers." + std::to_string(i) + "." + k, v);
  return d;
}

void SequentialLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "_milestones", milestones_);
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    nn::StateDict sub = detail::under(d, "_schedulers." + std::to_string(i) + ".");
    if (!sub.empty()) schedulers_[i]->load_state_dict(sub);
  }
}

// ---- ReduceLROnPlateau ----------------------------------------------------------------

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
