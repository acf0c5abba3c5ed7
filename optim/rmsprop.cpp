#include "optim/rmsprop.h"

#include "autograd/grad_mode.h"
#include "optim/state_buffers.h"
#include "tensor/raw.h"

namespace ember::optim {

Options RMSpropOptions::to_map() const {
  Options o;
  if (lr) o["lr"] = *lr;
  if (alpha) o["alpha"] = *alpha;
  if (eps) o["eps"] = *eps;
  if (weight_decay) o["weight_decay"] = *weight_decay;
  if (momentum) o["momentum"] = *momentum;
  if (centered) o["centered"] = *centered ? 1.0 : 0.0;
  if (maximize) o["maximize"] = *maximize ? 1.0 : 0.0;
  return o;
}

RMSprop::RMSprop(std::vector<RMSpropGroup> groups, RMSpropOptions defaults)
    : Optimizer({{"lr", 1e-2},
                 {"alpha", 0.99},
                 {"eps", 1e-8},
                 {"weight_decay", 0.0},
                 {"momentum", 0.0},
                 {"centered", 0.0},
                 {"maximize", 0.0}}) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (RMSpropGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
}

void RMSprop::validate(const Options& o) const {
  if (o.at("lr") < 0) fail<ValueError>(name(), "invalid learning rate ", o.at("lr"));
  if (o.at("eps") < 0) fail<ValueError>(name(), "invalid epsilon ", o.at("eps"));
  if (o.at("momentum") < 0) fail<ValueError>(name(), "invalid momentum ", o.at("momentum"));
  if (o.at("weight_decay") < 0)
    fail<ValueError>(name(), "invalid weight_decay ", o.at("weight_decay"));
  if (o.at("alpha") < 0) fail<ValueError>(name(), "invalid alpha ", o.at("alpha"));
}

void RMSprop::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    RmspropStepParams p{.lr = g.get("lr"),
                        .alpha = g.get("alpha"),
                        .eps = g.get("eps"),
                        .weight_decay = g.get("weight_decay"),
                        .momentum = g.get("momentum"),
                        .centered = g.get("centered") != 0,
                        .maximize = g.get("maximize") != 0};
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<RmspropTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      ensure_buffers(st, param, {"square_avg"});
      if (p.momentum > 0) ensure_buffers(st, param, {"momentum_buffer"});
      if (p.centered) ensure_buffers(st, param, {"grad_avg"});
      ++st.step;
      items.push_back({&param, &grads.back(), st.buffers.find("square_avg"),
                       p.momentum > 0 ? st.buffers.find("momentum_buffer") : nullptr,
                       p.centered ? st.buffers.find("grad_avg") : nullptr});
    }
    if (!items.empty()) raw::rmsprop_step(items, p);
  }
}

}  // namespace ember::optim
