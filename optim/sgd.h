// SGD with momentum, dampening, Nesterov, weight decay and maximize (torch.optim.SGD).
#pragma once

#include <optional>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct SGDOptions {
  std::optional<double> lr{}, momentum{}, dampening{}, weight_decay{};
  std::optional<bool> nesterov{}, maximize{};
  Options to_map() const;
};

struct SGDGroup {
  std::vector<Tensor> params;
  SGDOptions options{};
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<SGDGroup> groups, SGDOptions defaults = {});
  static std::shared_ptr<SGD> make(std::vector<Tensor> params, SGDOptions defaults = {}) {
    return std::make_shared<SGD>(std::vector<SGDGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<SGD> make(std::vector<SGDGroup> groups, SGDOptions defaults = {}) {
    return std::make_shared<SGD>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return "SGD"; }

 protected:
  void validate(const Options& o) const override;
};

}  // namespace ember::optim
