// NAdam (torch.optim.NAdam): Adam with Nesterov momentum whose coefficient warms up,
// mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)); L2 or decoupled weight decay.
#pragma once

#include <optional>
#include <utility>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct NAdamOptions {
  std::optional<double> lr{};
  std::optional<std::pair<double, double>> betas{};
  std::optional<double> eps{}, weight_decay{}, momentum_decay{};
  std::optional<bool> decoupled_weight_decay{}, maximize{};
  Options to_map() const;
};

struct NAdamGroup {
  std::vector<Tensor> params;
  NAdamOptions options{};
};

// Defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0, momentum_decay 4e-3,
// decoupled_weight_decay and maximize false. State per parameter: step, mu_product (a
// 0-dim f64 tensor kept on the host: the scalars of a step are computed there), exp_avg,
// exp_avg_sq.
class NAdam : public Optimizer {
 public:
  NAdam(std::vector<NAdamGroup> groups, NAdamOptions defaults = {});
  static std::shared_ptr<NAdam> make(std::vector<Tensor> params, NAdamOptions defaults = {}) {
    return std::make_shared<NAdam>(std::vector<NAdamGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<NAdam> make(std::vector<NAdamGroup> groups, NAdamOptions defaults = {}) {
    return std::make_shared<NAdam>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return "NAdam"; }

 protected:
  void validate(const Options& o) const override;
};

}  // namespace ember::optim
