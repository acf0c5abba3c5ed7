#include "optim/lr_scheduler_more.h"

#include <cmath>
#include <numbers>

#include "optim/scheduler_state.h"

namespace ember::optim {

using detail::get;
using detail::put;

// ---- OneCycleLR -----------------------------------------------------------------------

namespace {
// One value for every group, or one per group.
std::vector<double> per_group(const std::vector<double>& v, size_t groups, const char* what) {
  if (v.size() == 1) return std::vector<double>(groups, v[0]);
  if (v.size() != groups)
    fail<ValueError>("OneCycleLR", what, " has ", v.size(), " values for ", groups,
                     " parameter groups");
  return v;
}
}  // namespace

OneCycleLR::OneCycleLR(std::shared_ptr<Optimizer> opt, OneCycleLROptions o)
    : LRScheduler(std::move(opt)), options_(std::move(o)) {
  const OneCycleLROptions& op = options_;
  if (op.total_steps) {
    if (*op.total_steps <= 0)
      fail<ValueError>("OneCycleLR", "total_steps must be positive, got ", *op.total_steps);
    total_steps_ = *op.total_steps;
  } else if (op.epochs && op.steps_per_epoch) {
    if (*op.epochs <= 0)
      fail<ValueError>("OneCycleLR", "epochs must be positive, got ", *op.epochs);
    if (*op.steps_per_epoch <= 0)
      fail<ValueError>("OneCycleLR", "steps_per_epoch must be positive, got ", *op.steps_per_epoch);
    total_steps_ = *op.epochs * *op.steps_per_epoch;
  } else {
    fail<ValueError>("OneCycleLR", "needs total_steps, or epochs and steps_per_epoch");
  }
  if (!(op.pct_start >= 0.0 && op.pct_start <= 1.0))
    fail<ValueError>("OneCycleLR", "pct_start must be in [0, 1], got ", op.pct_start);
  if (op.anneal_strategy != "cos" && op.anneal_strategy != "linear")
    fail<ValueError>("OneCycleLR", "anneal_strategy must be cos or linear, got ",
                     op.anneal_strategy);
  if (op.max_lr.empty()) fail<ValueError>("OneCycleLR", "max_lr is required");
  auto& groups = optimizer_->param_groups();
  std::vector<double> max_lrs = per_group(op.max_lr, groups.size(), "max_lr");
  for (size_t i = 0; i < groups.size(); ++i) {
    groups[i].set("initial_lr", max_lrs[i] / op.div_factor);
    groups[i].set("max_lr", max_lrs[i]);
    groups[i].set("min_lr", max_lrs[i] / op.div_factor / op.final_div_factor);
  }
  if (op.cycle_momentum) {
    const Options& defaults = optimizer_->defaults();
    if (!defaults.count("momentum") && !defaults.count("beta1"))
      fail<ValueError>("OneCycleLR", "cycle_momentum needs an optimizer with momentum or betas; ",
                       optimizer_->name(), " has neither");
    use_beta1_ = defaults.count("beta1") != 0;
    std::vector<double> hi = per_group(op.max_momentum, groups.size(), "max_momentum");
    std::vector<double> lo = per_group(op.base_momentum, groups.size(), "base_momentum");
    for (size_t i = 0; i < groups.size(); ++i) {
      groups[i].set(use_beta1_ ? "beta1" : "momentum", hi[i]);
      groups[i].set("max_momentum", hi[i]);
      groups[i].set("base_momentum", lo[i]);
    }
  }
  init();
}

std::vector<OneCycleLR::Phase> OneCycleLR::phases() const {
  const double n = static_cast<double>(total_steps_), p = options_.pct_start;
  if (options_.three_phase)
    return {{p * n - 1.0, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
            {2.0 * p * n - 2.0, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
            {n - 1.0, "initial_lr", "min_lr", "max_momentum", "max_momentum"}};
  return {{p * n - 1.0, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
          {n - 1.0, "max_lr", "min_lr", "base_momentum", "max_momentum"}};
}

double OneCycleLR::anneal(double start, double end, double pct) const {
  if (options_.anneal_strategy == "linear") return (end - start) * pct + start;
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

std::vector<double> OneCycleLR::get_lr() {
  if (last_epoch_ > total_steps_)
    fail<ValueError>("OneCycleLR", "stepped ", last_epoch_, " times, but total_steps is ",
                     total_steps_);
  const double step = static_cast<double>(last_epoch_);
  const std::vector<Phase> ph = phases();
  std::vector<double> lrs;
  for (ParamGroup& g : optimizer_->param_groups()) {
    double start = 0.0, lr = 0.0, momentum = 0.0;
    for (size_t i = 0; i < ph.size(); ++i) {
      if (step <= ph[i].end_step || i + 1 == ph.size()) {
        double pct = (step - start) / (ph[i].end_step - start);
        lr = anneal(g.get(ph[i].start_lr), g.get(ph[i].end_lr), pct);
        if (options_.cycle_momentum)
          momentum = anneal(g.get(ph[i].start_momentum), g.get(ph[i].end_momentum), pct);
        break;
      }
      start = ph[i].end_step;
    }
    lrs.push_back(lr);
    if (options_.cycle_momentum) g.set(use_beta1_ ? "beta1" : "momentum", momentum);
  }
  return lrs;
}

nn::StateDict OneCycleLR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "total_steps", total_steps_);
  put(d, "pct_start", options_.pct_start);
  put(d, "three_phase", int64_t{options_.three_phase});
  put(d, "cycle_momentum", int64_t{options_.cycle_momentum});
  put(d, "use_beta1", int64_t{use_beta1_});
  put(d, "anneal_linear", int64_t{options_.anneal_strategy == "linear"});
  return d;
}

void OneCycleLR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "total_steps", total_steps_);
  get(d, "pct_start", options_.pct_start);
  get(d, "three_phase", options_.three_phase);
  get(d, "cycle_momentum", options_.cycle_momentum);
  get(d, "use_beta1", use_beta1_);
  bool linear = options_.anneal_strategy == "linear";
  get(d, "anneal_linear", linear);
  options_.anneal_strategy = linear ? "linear" : "cos";
}

// ---- CosineAnnealingWarmRestarts ------------------------------------------------------

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(std::shared_ptr<Optimizer> opt, int64_t t0,
                                                         int64_t mult, double eta)
    : LRScheduler(std::move(opt)), T_0(t0), T_mult(mult), eta_min(eta), T_i_(t0) {
  if (t0 < 1) fail<ValueError>("CosineAnnealingWarmRestarts", "T_0 must be >= 1, got ", t0);
  if (mult < 1) fail<ValueError>("CosineAnnealingWarmRestarts", "T_mult must be >= 1, got ", mult);
  init();
}

std::vector<double> CosineAnnealingWarmRestarts::get_lr() {
  const double c = (1.0 + std::cos(std::numbers::pi * T_cur_ / static_cast<double>(T_i_))) / 2.0;
  std::vector<double> r;
  for (double b : base_lrs_) r.push_back(eta_min + (b - eta_min) * c);
  return r;
}

void CosineAnnealingWarmRestarts::step() {
  ++step_count_;
  if (last_epoch_ < 0) return step(0.0);
  T_cur_ += 1.0;
  if (T_cur_ >= static_cast<double>(T_i_)) {
    T_cur_ = std::fmod(T_cur_, static_cast<double>(T_i_));
    T_i_ *= T_mult;
  }
  ++last_epoch_;
  apply(get_lr());
}

void CosineAnnealingWarmRestarts::step(double epoch) {
  if (!(epoch >= 0.0))
    fail<ValueError>("CosineAnnealingWarmRestarts", "epoch must be non-negative, got ", epoch);
  const double t0 = static_cast<double>(T_0);
  if (epoch >= t0) {
    if (T_mult == 1) {
      T_cur_ = std::fmod(epoch, t0);
    } else {
      // The restart n the epoch falls in: T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch.
      const double m = static_cast<double>(T_mult);
      auto n = static_cast<int64_t>(std::log(epoch / t0 * (m - 1.0) + 1.0) / std::log(m));
      int64_t pow = 1;
      for (int64_t k = 0; k < n; ++k) pow *= T_mult;
      T_cur_ = epoch - t0 * static_cast<double>(pow - 1) / (m - 1.0);
      T_i_ = T_0 * pow;
    }
  } else {
    T_i_ = T_0;
    T_cur_ = epoch;
  }
  last_epoch_ = static_cast<int64_t>(std::floor(epoch));
  apply(get_lr());
}

nn::StateDict CosineAnnealingWarmRestarts::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "T_0", T_0);
  put(d, "T_i", T_i_);
  put(d, "T_mult", T_mult);
  put(d, "eta_min", eta_min);
  put(d, "T_cur", T_cur_);
  return d;
}

void CosineAnnealingWarmRestarts::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  int64_t t0 = T_0, mult = T_mult;
  get(d, "T_0", t0);
  get(d, "T_mult", mult);
  if (t0 != T_0 || mult != T_mult)
    fail<ValueError>("load_state_dict", "CosineAnnealingWarmRestarts was saved with T_0=", t0,
                     ", T_mult=", mult, "; this one has T_0=", T_0, ", T_mult=", T_mult);
  get(d, "T_i", T_i_);
  get(d, "T_cur", T_cur_);
}

// ---- ChainedScheduler -----------------------------------------------------------------

std::shared_ptr<Optimizer> ChainedScheduler::shared_optimizer(
    const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
    std::shared_ptr<Optimizer> optimizer) {
  if (schedulers.empty()) fail<ValueError>("ChainedScheduler", "needs at least one scheduler");
  for (size_t i = 0; i < schedulers.size(); ++i)
    if (!schedulers[i]) fail<ValueError>("ChainedScheduler", "scheduler ", i, " is null");
  return optimizer ? optimizer : schedulers[0]->optimizer_;
}

ChainedScheduler::ChainedScheduler(std::vector<std::shared_ptr<LRScheduler>> schedulers,
                                   std::shared_ptr<Optimizer> optimizer)
    : LRScheduler(shared_optimizer(schedulers, optimizer)), schedulers_(std::move(schedulers)) {
  for (size_t i = 0; i < schedulers_.size(); ++i)
    if (schedulers_[i]->optimizer_ != optimizer_)
      fail<ValueError>("ChainedScheduler", "scheduler ", i, " (", schedulers_[i]->name(),
                       ") steps another optimizer; all must share one");
  last_epoch_ = 0;
  last_lr_ = group_lrs();
}

void ChainedScheduler::step() {
  for (const auto& s : schedulers_) s->step();
  ++last_epoch_;
  last_lr_ = group_lrs();
}

void ChainedScheduler::undo_initial_step() {
  for (const auto& s : schedulers_) s->undo_initial_step();
}

nn::StateDict ChainedScheduler::state_dict() const {
  nn::StateDict d;
  put(d, "last_epoch", last_epoch_);
  put(d, "_last_lr", last_lr_);
  for (size_t i = 0; i < schedulers_.size(); ++i)
    for (const auto& [k, v] : schedulers_[i]->state_dict())
      d.insert("_schedulers." + std::to_string(i) + "." + k, v);
  return d;
}

void ChainedScheduler::load_state_dict(const nn::StateDict& d) {
  get(d, "last_epoch", last_epoch_);
  get(d, "_last_lr", last_lr_);
  for (size_t i = 0; i < schedulers_.size(); ++i) {
    nn::StateDict sub = detail::under(d, "_schedulers." + std::to_string(i) + ".");
    if (sub.empty())
      fail<ValueError>("load_state_dict", "ChainedScheduler's state has no scheduler ", i);
    schedulers_[i]->load_state_dict(sub);
  }
}

}  // namespace ember::optim
