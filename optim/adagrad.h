// Adagrad (torch.optim.Adagrad): each element's step is scaled by the root of the sum of
// its squared gradients; the learning rate decays as lr / (1 + (step - 1) lr_decay).
#pragma once

#include <optional>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct AdagradOptions {
  std::optional<double> lr{}, lr_decay{}, weight_decay{}, initial_accumulator_value{}, eps{};
  std::optional<bool> maximize{};
  Options to_map() const;
};

struct AdagradGroup {
  std::vector<Tensor> params;
  AdagradOptions options{};
};

// Defaults: lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0, eps 1e-10,
// maximize false. State per parameter: step and sum, created with the optimizer (as
// torch's constructor does), sum filled with the group's initial_accumulator_value.
class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<AdagradGroup> groups, AdagradOptions defaults = {});
  static std::shared_ptr<Adagrad> make(std::vector<Tensor> params, AdagradOptions defaults = {}) {
    return std::make_shared<Adagrad>(std::vector<AdagradGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<Adagrad> make(std::vector<AdagradGroup> groups,
                                       AdagradOptions defaults = {}) {
    return std::make_shared<Adagrad>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return "Adagrad"; }

 protected:
  void validate(const Options& o) const override;
};

}  // namespace ember::optim
