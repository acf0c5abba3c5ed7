#include "optim/adagrad.h"

#include "autograd/grad_mode.h"
#include "optim/state_buffers.h"
#include "tensor/raw.h"

namespace ember::optim {

Options AdagradOptions::to_map() const {
  Options o;
  if (lr) o["lr"] = *lr;
  if (lr_decay) o["lr_decay"] = *lr_decay;
  if (weight_decay) o["weight_decay"] = *weight_decay;
  if (initial_accumulator_value) o["initial_accumulator_value"] = *initial_accumulator_value;
  if (eps) o["eps"] = *eps;
  if (maximize) o["maximize"] = *maximize ? 1.0 : 0.0;
  return o;
}

Adagrad::Adagrad(std::vector<AdagradGroup> groups, AdagradOptions defaults)
    : Optimizer({{"lr", 1e-2},
                 {"lr_decay", 0.0},
                 {"weight_decay", 0.0},
                 {"initial_accumulator_value", 0.0},
                 {"eps", 1e-10},
                 {"maximize", 0.0}}) {
  check_options(defaults.to_map());
  for (const auto& [k, v] : defaults.to_map()) defaults_[k] = v;
  if (groups.empty()) fail<ValueError>(name(), "got no parameters to optimize");
  for (AdagradGroup& g : groups) add_param_group(std::move(g.params), g.options.to_map());
  NoGradGuard no_grad;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params)
      ensure_buffers(state(p), p, {"sum"}, g.get("initial_accumulator_value"));
}

void Adagrad::validate(const Options& o) const {
  if (o.at("lr") < 0) fail<ValueError>(name(), "invalid learning rate ", o.at("lr"));
  if (o.at("lr_decay") < 0) fail<ValueError>(name(), "invalid lr_decay ", o.at("lr_decay"));
  if (o.at("weight_decay") < 0)
    fail<ValueError>(name(), "invalid weight_decay ", o.at("weight_decay"));
  if (o.at("initial_accumulator_value") < 0)
    fail<ValueError>(name(), "invalid initial_accumulator_value ",
                     o.at("initial_accumulator_value"));
  if (o.at("eps") < 0) fail<ValueError>(name(), "invalid epsilon ", o.at("eps"));
}

void Adagrad::step() {
  NoGradGuard no_grad;
  for (ParamGroup& g : groups_) {
    AdagradStepParams p{.lr = g.get("lr"),
                        .lr_decay = g.get("lr_decay"),
                        .weight_decay = g.get("weight_decay"),
                        .eps = g.get("eps"),
                        .maximize = g.get("maximize") != 0};
    std::vector<Tensor> grads;
    grads.reserve(g.params.size());
    std::vector<AdagradTensors> items;
    for (const Tensor& param : g.params) {
      Tensor grad = param.grad();
      if (!grad.defined()) continue;
      grads.push_back(grad.detach());
      ParamState& st = state(param);
      // A group added after construction gets its sum on its first step.
      ensure_buffers(st, param, {"sum"}, g.get("initial_accumulator_value"));
      ++st.step;
      items.push_back({&param, &grads.back(), st.buffers.find("sum"), st.step});
    }
    if (!items.empty()) raw::adagrad_step(items, p);
  }
}

}  // namespace ember::optim
