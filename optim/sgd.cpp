#include "optim/sgd.h"

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/raw.h"

namespace ember::optim {

Options SGDOptions::to_map() const {
  Options o;
  if (lr) o["lr"] = *lr;
  if (momentum) o["momentum"] = *momentum;
  if (dampening) o["dampening"] = *dampening;
  if (weight_decay) o["weight_decay"] = *weight_decay;
  if (nesterov) o["nesterov"] = *nesterov ? 1.0 : 0.0;
  if (maximize) o["maximize"] = *maximize ? 1.0 : 0.0;
  return o;
}

SGD::SGD(std::vector<SGDGroup> groups, SGDOptions defaults)
    : Optimizer({{"lr", 1e-3},
                 {"momentum", 0.0},
                 {"dampening", 0.0},
                 {"weight_decay", 0.0},
                 {"nesterov", 0.0},
                 {"maximize", 0.0}}) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>("SGD", "got no parameters to optimize");
  for (SGDGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

void SGD::validate(const Options& o) const {
  if (o.at("lr") < 0) fail<ValueError>("SGD", "invalid learning rate ", o.at("lr"));
  if (o.at("momentum") < 0) fail<ValueError>("SGD", "invalid momentum ", o.at("momentum"));
  if (o.at("weight_decay") < 0)
    fail<ValueError>("SGD", "invalid weight_decay ", o.at("weight_decay"));
  if (o.at("nesterov") != 0 && (o.at("momentum") <= 0 || o.at("dampening") != 0))
    fail<ValueError>("SGD", "Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    SgdStepParams p{.lr = g.get("lr"),
                    .momentum = g.get("momentum"),
                    .dampening = g.get("dampening"),
                    .weight_decay = g.get("weight_decay"),
                    .nesterov = g.get("nesterov") != 0,
                    .maximize = g.get("maximize") != 0};
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<SgdTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      bool first = false;
      const Tensor* buf = nullptr;
      if (p.momentum != 0.0) {
        Tensor* b = st.buffers.find("momentum_buffer");
        const DType sd = optim_state_dtype(param.dtype());  // f32 for bf16/f16 params
        if (b == nullptr || b->device() != param.device() || b->dtype() != sd) {
          b = &st.buffers.insert("momentum_buffer",
                                 b ? b->to(param.device(), sd).contiguous()
                                   : zeros(param.sizes(), {.dtype = sd, .device = param.device()}));
          first = st.step == 0;
        }
        buf = b;
      }
      ++st.step;
      items.push_back({&param, &grads.back(), buf, first});
    }
    if (!items.empty()) raw::sgd_step(items, p);
  }
}

}  // namespace ember::optim
