// What Adam's relatives (Adam/AdamW, NAdam, RAdam) share: their option checks (lr, eps and
// weight_decay not negative, betas in [0, 1); errors name the optimizer and the value, as
// PyTorch's), and their common options on the way into a param group's map (only what the
// user set, so a group overrides only what it names) and back into a step's parameters.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "optim/optimizer.h"

namespace ember::optim {

inline void check_adam_like(const std::string& name, const Options& o) {
  if (o.at("lr") < 0) fail<ValueError>(name, "invalid learning rate ", o.at("lr"));
  if (o.at("eps") < 0) fail<ValueError>(name, "invalid epsilon ", o.at("eps"));
  for (const char* b : {"beta1", "beta2"})
    if (!(o.at(b) >= 0 && o.at(b) < 1))
      fail<ValueError>(name, "invalid ", b, " ", o.at(b), " (must be in [0, 1))");
  if (o.at("weight_decay") < 0)
    fail<ValueError>(name, "invalid weight_decay ", o.at("weight_decay"));
}

// A flag set by the user, as the map stores it (1 or 0).
inline void set_flag(Options& o, const char* key, const std::optional<bool>& flag) {
  if (flag) o[key] = *flag ? 1.0 : 0.0;
}

// lr, betas (as beta1 and beta2), eps, weight_decay and maximize of an options struct.
template <typename AdamLikeOptions>
Options adam_like_map(const AdamLikeOptions& x) {
  Options o;
  if (x.lr) o["lr"] = *x.lr;
  if (x.betas) {
    o["beta1"] = x.betas->first;
    o["beta2"] = x.betas->second;
  }
  if (x.eps) o["eps"] = *x.eps;
  if (x.weight_decay) o["weight_decay"] = *x.weight_decay;
  set_flag(o, "maximize", x.maximize);
  return o;
}

// The defaults of those options (PyTorch's: betas (0.9, 0.999), eps 1e-8, maximize off),
// with the optimizer's lr and weight_decay and its own options added.
inline Options adam_like_defaults(double lr, double weight_decay, Options own) {
  own.insert({{"lr", lr},
              {"beta1", 0.9},
              {"beta2", 0.999},
              {"eps", 1e-8},
              {"weight_decay", weight_decay},
              {"maximize", 0.0}});
  return own;
}

// And back: a group's common options into the step parameters of the same names.
template <typename StepParams>
StepParams adam_like_step_params(const ParamGroup& g) {
  StepParams p;
  p.lr = g.get("lr");
  p.beta1 = g.get("beta1");
  p.beta2 = g.get("beta2");
  p.eps = g.get("eps");
  p.weight_decay = g.get("weight_decay");
  p.maximize = g.get("maximize") != 0;
  return p;
}

}  // namespace ember::optim
