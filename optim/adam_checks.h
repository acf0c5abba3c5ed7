// The option checks Adam's relatives share (NAdam, RAdam): lr, eps and weight_decay not
// negative, betas in [0, 1); errors name the optimizer and the value, as Adam's do.
#pragma once

#include <string>

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

}  // namespace ember::optim
