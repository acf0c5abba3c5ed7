#include "optim/adam.h"

#include "autograd/grad_mode.h"
#include "optim/adam_checks.h"
#include "tensor/ops.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/raw.h"

namespace ember::optim {

Options AdamOptions::to_map() const {
  Options o = adam_like_map(*this);
  set_flag(o, "amsgrad", amsgrad);
  return o;
}

Adam::Adam(std::vector<AdamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), defaults, false) {}

Adam::Adam(std::vector<AdamGroup> groups, AdamOptions defaults, bool decoupled)
    : Optimizer(adam_like_defaults(1e-3, decoupled ? 1e-2 : 0.0, {{"amsgrad", 0.0}})),
      decoupled_(decoupled) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (AdamGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

AdamW::AdamW(std::vector<AdamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), defaults, true) {}

void Adam::validate(const Options& o) const { check_adam_like(name(), o); }

void Adam::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    AdamStepParams p = adam_like_step_params<AdamStepParams>(g);
    p.decoupled_weight_decay = decoupled_;
    p.amsgrad = g.get("amsgrad") != 0;
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<AdamTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      // Create every buffer first: inserting may move the others in memory.
      for (const char* name : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
        if (!p.amsgrad && name[0] == 'm') continue;
        Tensor* b = st.buffers.find(name);
        const DType sd = optim_state_dtype(param.dtype());  // f32 for bf16/f16 params
        if (b == nullptr) {
          st.buffers.insert(name, zeros(param.sizes(), {.dtype = sd, .device = param.device()}));
        } else if (b->device() != param.device() || b->dtype() != sd) {  // the module moved
          *b = b->to(param.device(), sd).contiguous();
        }
      }
      const Tensor* m = st.buffers.find("exp_avg");
      const Tensor* v = st.buffers.find("exp_avg_sq");
      const Tensor* vmax = p.amsgrad ? st.buffers.find("max_exp_avg_sq") : nullptr;
      ++st.step;
      items.push_back({&param, &grads.back(), m, v, vmax, st.step});
    }
    if (!items.empty()) raw::adam_step(items, p);
  }
}

}  // namespace ember::optim
