#include "optim/radam.h"

#include "autograd/grad_mode.h"
#include "optim/adam_checks.h"
#include "optim/state_buffers.h"
#include "tensor/raw.h"

namespace ember::optim {

Options RAdamOptions::to_map() const {
  Options o = adam_like_map(*this);
  set_flag(o, "decoupled_weight_decay", decoupled_weight_decay);
  return o;
}

RAdam::RAdam(std::vector<RAdamGroup> groups, RAdamOptions defaults)
    : Optimizer(adam_like_defaults(1e-3, 0.0, {{"decoupled_weight_decay", 0.0}})) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (RAdamGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

void RAdam::validate(const Options& o) const { check_adam_like(name(), o); }

void RAdam::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    RadamStepParams p = adam_like_step_params<RadamStepParams>(g);
    p.decoupled_weight_decay = g.get("decoupled_weight_decay") != 0;
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<RadamTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      ensure_buffers(st, param, {"exp_avg", "exp_avg_sq"});
      ++st.step;
      items.push_back({&param, &grads.back(), st.buffers.find("exp_avg"),
                       st.buffers.find("exp_avg_sq"), st.step});
    }
    if (!items.empty()) raw::radam_step(items, p);
  }
}

}  // namespace ember::optim
