// Optimizer: parameter groups with their own options, per-parameter state, and state
// dicts that restore exactly (step counts included).
//
//   auto opt = optim::Adam::make({{encoder->parameters(), {.lr = 1e-4}},
//                                 {decoder->parameters(), {.lr = 1e-3}}});
//   opt->zero_grad(); loss.backward(); opt->step();
#pragma once

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "nn/module.h"
#include "nn/ordered_dict.h"
#include "tensor/tensor.h"

namespace ember::optim {

// A group's hyperparameters by name, as in PyTorch's param_group dicts: "lr", "momentum",
// "beta1", "beta2", "eps", "weight_decay", ...; flags are 0 or 1.
using Options = std::map<std::string, double>;

struct ParamGroup {
  std::vector<Tensor> params;
  Options options;

  double get(const std::string& key) const;  // throws IndexError naming a missing key
  void set(const std::string& key, double value) { options[key] = value; }
  double lr() const { return get("lr"); }
  void set_lr(double lr) { set("lr", lr); }
};

// The state an optimizer keeps for one parameter.
struct ParamState {
  int64_t step = 0;
  nn::OrderedDict<Tensor> buffers;  // "exp_avg", "momentum_buffer", ...
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (others are skipped).
  virtual void step() = 0;
  void zero_grad(bool set_to_none = true);
  // Adds a group; options it does not set come from the optimizer's defaults. A
  // parameter already in another group is an error.
  void add_param_group(std::vector<Tensor> params, const Options& overrides = {});

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const Options& defaults() const { return defaults_; }
  // The state of a parameter (created empty on first use).
  ParamState& state(const Tensor& param);
  const std::unordered_map<const TensorImpl*, ParamState>& all_state() const { return state_; }

  // Tensors only, so it saves as safetensors: "param_groups.<g>.<option>" (f64 scalars),
  // "param_groups.<g>.params" (i64 indices in group order), "state.<i>.step" (i64) and
  // "state.<i>.<buffer>".
  nn::StateDict state_dict() const;
  // Restores a state dict of the same group layout (group count and sizes), else throws.
  void load_state_dict(const nn::StateDict& dict);

  virtual std::string name() const = 0;

 protected:
  Optimizer(Options defaults);
  void check_options(const Options& o) const;
  virtual void validate(const Options& o) const = 0;  // each optimizer's ranges

  std::vector<ParamGroup> groups_;
  Options defaults_;
  std::unordered_map<const TensorImpl*, ParamState> state_;
};

}  // namespace ember::optim
