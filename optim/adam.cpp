#include "optim/adam.h"

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::optim {

Options AdamOptions::to_map() const {
  Options o;
  if (lr) o["lr"] = *lr;
  if (betas) {
    o["beta1"] = betas->first;
    o["beta2"] = betas->second;
  }
  if (eps) o["eps"] = *eps;
  if (weight_decay) o["weight_decay"] = *weight_decay;
  if (amsgrad) o["amsgrad"] = *amsgrad ? 1.0 : 0.0;
  if (maximize) o["maximize"] = *maximize ? 1.0 : 0.0;
  return o;
}

Adam::Adam(std::vector<AdamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), defaults, false) {}

Adam::Adam(std::vector<AdamGroup> groups, AdamOptions defaults, bool decoupled)
    : Optimizer({{"lr", 1e-3},
                 {"beta1", 0.9},
                 {"beta2", 0.999},
                 {"eps", 1e-8},
                 {"weight_decay", decoupled ? 1e-2 : 0.0},
                 {"amsgrad", 0.0},
                 {"maximize", 0.0}}),
      decoupled_(decoupled) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (AdamGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

AdamW::AdamW(std::vector<AdamGroup> groups, AdamOptions defaults)
    : Adam(std::move(groups), defaults, true) {}

void Adam::validate(const Options& o) const {
  if (o.at("lr") < 0) fail<ValueError>(name(), "invalid learning rate ", o.at("lr"));
  if (o.at("eps") < 0) fail<ValueError>(name(), "invalid epsilon ", o.at("eps"));
  for (const char* b : {"beta1", "beta2"})
    if (!(o.at(b) >= 0 && o.at(b) < 1))
      fail<ValueError>(name(), "invalid ", b, " ", o.at(b), " (must be in [0, 1))");
  if (o.at("weight_decay") < 0)
    fail<ValueError>(name(), "invalid weight_decay ", o.at("weight_decay"));
}

void Adam::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    AdamStepParams p{.lr = g.get("lr"),
                     .beta1 = g.get("beta1"),
                     .beta2 = g.get("beta2"),
                     .eps = g.get("eps"),
                     .weight_decay = g.get("weight_decay"),
                     .decoupled_weight_decay = decoupled_,
                     .amsgrad = g.get("amsgrad") != 0,
                     .maximize = g.get("maximize") != 0};
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
        if (b == nullptr) {
          st.buffers.insert(name, zeros_like(param));
        } else if (b->device() != param.device() ||
                   b->dtype() != param.dtype()) {  // the module moved
          *b = b->to(param.device(), param.dtype()).contiguous();
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
