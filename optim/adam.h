// Adam (L2 weight decay, amsgrad, maximize) and AdamW (decoupled weight decay), with
// torch.optim's formulas and defaults.
#pragma once

#include <optional>
#include <utility>

#include "optim/optimizer.h"

namespace ember::optim {

// Unset fields keep the optimizer's defaults (for a group: the optimizer's options).
struct AdamOptions {
  std::optional<double> lr{};
  std::optional<std::pair<double, double>> betas{};
  std::optional<double> eps{}, weight_decay{};
  std::optional<bool> amsgrad{}, maximize{};
  Options to_map() const;
};

struct AdamGroup {
  std::vector<Tensor> params;
  AdamOptions options{};
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<AdamGroup> groups, AdamOptions defaults = {});
  static std::shared_ptr<Adam> make(std::vector<Tensor> params, AdamOptions defaults = {}) {
    return std::make_shared<Adam>(std::vector<AdamGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<Adam> make(std::vector<AdamGroup> groups, AdamOptions defaults = {}) {
    return std::make_shared<Adam>(std::move(groups), defaults);
  }
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }

 protected:
  Adam(std::vector<AdamGroup> groups, AdamOptions defaults, bool decoupled);
  void validate(const Options& o) const override;

 private:
  bool decoupled_ = false;
};

// Adam with decoupled weight decay (default 1e-2): p *= 1 - lr * weight_decay each step.
class AdamW : public Adam {
 public:
  AdamW(std::vector<AdamGroup> groups, AdamOptions defaults = {});
  static std::shared_ptr<AdamW> make(std::vector<Tensor> params, AdamOptions defaults = {}) {
    return std::make_shared<AdamW>(std::vector<AdamGroup>{{std::move(params), {}}}, defaults);
  }
  static std::shared_ptr<AdamW> make(std::vector<AdamGroup> groups, AdamOptions defaults = {}) {
    return std::make_shared<AdamW>(std::move(groups), defaults);
  }
};

}  // namespace ember::optim
