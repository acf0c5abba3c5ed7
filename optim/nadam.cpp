#include "optim/nadam.h"

#include "autograd/grad_mode.h"
#include "optim/adam_checks.h"
#include "optim/state_buffers.h"
#include "tensor/optim_coeffs.h"
#include "tensor/raw.h"

namespace ember::optim {

Options NAdamOptions::to_map() const {
  Options o = adam_like_map(*this);
  if (momentum_decay) o["momentum_decay"] = *momentum_decay;
  set_flag(o, "decoupled_weight_decay", decoupled_weight_decay);
  return o;
}

NAdam::NAdam(std::vector<NAdamGroup> groups, NAdamOptions defaults)
    : Optimizer(adam_like_defaults(2e-3, 0.0,
                                   {{"momentum_decay", 4e-3}, {"decoupled_weight_decay", 0.0}})) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (NAdamGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

void NAdam::validate(const Options& o) const {
  check_adam_like(name(), o);
  if (o.at("momentum_decay") < 0)
    fail<ValueError>(name(), "invalid momentum_decay ", o.at("momentum_decay"));
}

void NAdam::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    NadamStepParams p = adam_like_step_params<NadamStepParams>(g);
    p.momentum_decay = g.get("momentum_decay");
    p.decoupled_weight_decay = g.get("decoupled_weight_decay") != 0;
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<NadamTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      Tensor* mu_product = st.buffers.find("mu_product");
      double product = mu_product ? mu_product->item<double>() : 1.0;
      ++st.step;
      product *= nadam_mu(p, st.step);
      // A host f64 scalar, as load_state_dict keeps a 0-dim state of a tensor parameter.
      st.buffers.insert("mu_product", scalar_tensor(product, {.dtype = DType::f64}));
      ensure_buffers(st, param, {"exp_avg", "exp_avg_sq"});
      items.push_back({&param, &grads.back(), st.buffers.find("exp_avg"),
                       st.buffers.find("exp_avg_sq"), st.step, product});
    }
    if (!items.empty()) raw::nadam_step(items, p);
  }
}

}  // namespace ember::optim
