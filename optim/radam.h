// RAdam (torch.optim.RAdam): Adam whose adaptive term is scaled by the variance
// rectification r_t once rho_t > 5, and a plain momentum step before; L2 or decoupled
// weight decay.
#pragma once

#include <optional>
#include <utility>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct RAdamOptions {
  std::optional<double> lr{};
  std::optional<std::pair<double, double>> betas{};
  std::optional<double> eps{}, weight_decay{};
  std::optional<bool> decoupled_weight_decay{}, maximize{};
  Options to_map() const;
};

struct RAdamGroup {
  std::vector<Tensor> params;
  RAdamOptions options{};
};

// Defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0,
// decoupled_weight_decay and maximize false. State per parameter: step, exp_avg,
// exp_avg_sq.
class RAdam : public Optimizer {
 public:
  RAdam(std::vector<RAdamGroup> groups, RAdamOptions defaults = {});
  static std::shared_ptr<RAdam> make(std::vector<Tensor> params, RAdamOptions defaults = {}) {
    return std::make_shared<RAdam>(std::vector<RAdamGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<RAdam> make(std::vector<RAdamGroup> groups, RAdamOptions defaults = {}) {
    return std::make_shared<RAdam>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return "RAdam"; }

 protected:
  void validate(const Options& o) const override;
};

}  // namespace ember::optim
