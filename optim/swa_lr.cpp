#include "optim/swa_lr.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "optim/scheduler_state.h"
#include "tensor/error.h"

namespace ember::optim {

using detail::get;
using detail::put;

SWALR::SWALR(std::shared_ptr<Optimizer> opt, std::vector<double> lrs, int64_t epochs,
             std::string strategy, int64_t last_epoch)
    : LRScheduler(std::move(opt)),
      anneal_epochs(epochs),
      anneal_strategy(std::move(strategy)),
      swa_lrs(std::move(lrs)) {
  auto& groups = optimizer_->param_groups();
  if (swa_lrs.size() == 1) swa_lrs.assign(groups.size(), swa_lrs[0]);
  if (swa_lrs.size() != groups.size())
    fail<ValueError>("SWALR", "expected ", groups.size(), " values for swa_lr, got ",
                     swa_lrs.size());
  for (double lr : swa_lrs)
    if (!(lr > 0.0)) fail<ValueError>("SWALR", "swa_lr must be positive, got ", lr);
  if (anneal_strategy != "cos" && anneal_strategy != "linear")
    fail<ValueError>("SWALR", "anneal_strategy must be \"cos\" or \"linear\", got \"",
                     anneal_strategy, "\"");
  if (anneal_epochs < 0)
    fail<ValueError>("SWALR", "anneal_epochs must be >= 0, got ", anneal_epochs);
  for (size_t i = 0; i < groups.size(); ++i) groups[i].set("swa_lr", swa_lrs[i]);
  if (last_epoch == -1) {
    init();
    return;
  }
  // torch: resuming (last_epoch given) reads the base rates from "initial_lr".
  base_lrs_.clear();
  for (size_t i = 0; i < groups.size(); ++i) {
    if (!groups[i].options.count("initial_lr"))
      fail<ValueError>("SWALR", "param group ", i,
                       " has no \"initial_lr\", needed when last_epoch is given (", last_epoch,
                       ")");
    base_lrs_.push_back(groups[i].get("initial_lr"));
  }
  last_epoch_ = last_epoch;
  initial_step();
}

double SWALR::anneal(double t) const {
  return anneal_strategy == "cos" ? (1.0 - std::cos(std::numbers::pi * t)) / 2.0 : t;
}

std::vector<double> SWALR::get_lr() {
  int64_t step = step_count_ - 1;
  if (anneal_epochs == 0) step = std::max<int64_t>(1, step);
  const double e = static_cast<double>(std::max<int64_t>(1, anneal_epochs));
  const double prev_alpha = anneal(std::clamp(static_cast<double>(step - 1) / e, 0.0, 1.0));
  const double alpha = anneal(std::clamp(static_cast<double>(step) / e, 0.0, 1.0));
  std::vector<double> lrs;
  for (const ParamGroup& g : optimizer_->param_groups()) {
    const double swa = g.get("swa_lr");
    // torch's _get_initial_lr: the rate before annealing, from the current one.
    const double lr0 = prev_alpha == 1.0 ? swa : (g.lr() - prev_alpha * swa) / (1.0 - prev_alpha);
    lrs.push_back(swa * alpha + lr0 * (1.0 - alpha));
  }
  return lrs;
}

nn::StateDict SWALR::state_dict() const {
  nn::StateDict d = LRScheduler::state_dict();
  put(d, "anneal_epochs", anneal_epochs);
  put(d, "anneal_cos", static_cast<int64_t>(anneal_strategy == "cos"));
  put(d, "swa_lrs", swa_lrs);
  return d;
}

void SWALR::load_state_dict(const nn::StateDict& d) {
  LRScheduler::load_state_dict(d);
  get(d, "anneal_epochs", anneal_epochs);
  int64_t cos = anneal_strategy == "cos";
  get(d, "anneal_cos", cos);
  anneal_strategy = cos ? "cos" : "linear";
  get(d, "swa_lrs", swa_lrs);
  auto& groups = optimizer_->param_groups();
  for (size_t i = 0; i < groups.size() && i < swa_lrs.size(); ++i)
    groups[i].set("swa_lr", swa_lrs[i]);
}

}  // namespace ember::optim
