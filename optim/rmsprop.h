// RMSprop (torch.optim.RMSprop): a running mean of squared gradients scales the step;
// centered subtracts the squared mean gradient, momentum accumulates the scaled steps.
#pragma once

#include <optional>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct RMSpropOptions {
  std::optional<double> lr{}, alpha{}, eps{}, weight_decay{}, momentum{};
  std::optional<bool> centered{}, maximize{};
  Options to_map() const;
};

struct RMSpropGroup {
  std::vector<Tensor> params;
  RMSpropOptions options{};
};

// Defaults: lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered and
// maximize false. State per parameter: step, square_avg, momentum_buffer (momentum > 0),
// grad_avg (centered).
class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<RMSpropGroup> groups, RMSpropOptions defaults = {});
  static std::shared_ptr<RMSprop> make(std::vector<Tensor> params, RMSpropOptions defaults = {}) {
    return std::make_shared<RMSprop>(std::vector<RMSpropGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<RMSprop> make(std::vector<RMSpropGroup> groups,
                                       RMSpropOptions defaults = {}) {
    return std::make_shared<RMSprop>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return "RMSprop"; }

 protected:
  void validate(const Options& o) const override;
};

}  // namespace ember::optim
