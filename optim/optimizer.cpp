#include "optim/optimizer.h"

#include <unordered_set>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/raw.h"

namespace ember::optim {

double ParamGroup::get(const std::string& key) const {
  auto it = options.find(key);
  if (it == options.end()) fail<IndexError>("ParamGroup", "no option '", key, "'");
  return it->second;
}

Optimizer::Optimizer(Options defaults) : defaults_(std::move(defaults)) {}

void Optimizer::check_options(const Options& o) const {
  for (const auto& [key, value] : o)
    if (!defaults_.count(key)) fail<ValueError>(name(), "unknown option '", key, "'");
  Options merged = defaults_;
  for (const auto& [key, value] : o) merged[key] = value;
  validate(merged);
}

void Optimizer::add_param_group(std::vector<Tensor> params, const Options& overrides) {
  check_options(overrides);
  if (params.empty()) fail<ValueError>(name(), "a parameter group needs at least one parameter");
  std::unordered_set<const TensorImpl*> seen;
  for (const ParamGroup& g : groups_)
    for (const Tensor& p : g.params) seen.insert(p.impl());
  std::unordered_set<const TensorImpl*> mine;
  for (const Tensor& p : params) {
    raw::check_defined(name().c_str(), p);
    if (!p.is_leaf())
      fail<ValueError>(name(), "can't optimize a non-leaf tensor of shape ", str(p.sizes()));
    if (!p.is_floating_point())
      fail<DTypeError>(name(), "parameters must be floating-point, got ", p.dtype());
    if (seen.count(p.impl()))
      fail<ValueError>(name(), "a parameter of shape ", str(p.sizes()),
                       " appears in more than one group");
    if (!mine.insert(p.impl()).second)
      fail<ValueError>(name(), "a parameter of shape ", str(p.sizes()),
                       " appears twice in one group");
  }
  ParamGroup g{std::move(params), defaults_};
  for (const auto& [key, value] : overrides) g.options[key] = value;
  groups_.push_back(std::move(g));
}

void Optimizer::zero_grad(bool set_to_none) {
  for (ParamGroup& g : groups_)
    for (const Tensor& p : g.params) {
      Tensor grad = p.grad();
      if (!grad.defined()) continue;
      if (set_to_none) {
        p.set_grad(Tensor());
      } else {
        NoGradGuard no_grad;
        grad.detach().zero_();
      }
    }
}

ParamState& Optimizer::state(const Tensor& param) { return state_[param.impl()]; }

nn::StateDict Optimizer::state_dict() const {
  nn::StateDict d;
  int64_t index = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    std::string prefix = "param_groups." + std::to_string(g) + ".";
    for (const auto& [key, value] : group.options)
      d.insert(prefix + key, scalar_tensor(value, {.dtype = DType::f64}));
    std::vector<int64_t> ids;
    for (const Tensor& p : group.params) {
      auto it = state_.find(p.impl());
      if (it != state_.end()) {
        std::string sp = "state." + std::to_string(index) + ".";
        d.insert(sp + "step", scalar_tensor(it->second.step));
        for (const auto& [bname, buf] : it->second.buffers) d.insert(sp + bname, buf.detach());
      }
      ids.push_back(index++);
    }
    d.insert(prefix + "params", from_vector(ids));
  }
  return d;
}

void Optimizer::load_state_dict(const nn::StateDict& dict) {
  // The layout first: every group present with as many parameters as ours.
  size_t ngroups = 0;
  while (dict.contains("param_groups." + std::to_string(ngroups) + ".params")) ++ngroups;
  if (ngroups != groups_.size())
    fail<ValueError>("load_state_dict", name(), " has ", groups_.size(),
                     " parameter groups but the state dict has ", ngroups);
  for (size_t g = 0; g < groups_.size(); ++g) {
    int64_t n = dict.at("param_groups." + std::to_string(g) + ".params").numel();
    if (n != static_cast<int64_t>(groups_[g].params.size()))
      fail<ValueError>("load_state_dict", "group ", g, " of ", name(), " has ",
                       groups_[g].params.size(), " parameters but the state dict's has ", n);
  }
  NoGradGuard no_grad;
  int64_t index = 0;
  std::unordered_map<const TensorImpl*, ParamState> restored;
  for (size_t g = 0; g < groups_.size(); ++g) {
    std::string prefix = "param_groups." + std::to_string(g) + ".";
    Options opts = groups_[g].options;
    for (const auto& [key, t] : dict)
      if (key.starts_with(prefix) && key != prefix + "params")
        opts[key.substr(prefix.size())] = t.item<double>();
    groups_[g].options = opts;
    for (const Tensor& p : groups_[g].params) {
      std::string sp = "state." + std::to_string(index++) + ".";
      if (!dict.contains(sp + "step")) continue;
      ParamState st;
      st.step = dict.at(sp + "step").item<int64_t>();
      for (const auto& [key, t] : dict) {
        if (!key.starts_with(sp) || key == sp + "step") continue;
        if (t.dim() == 0 && p.dim() != 0) {  // a per-parameter scalar (NAdam's mu_product)
          st.buffers.insert(key.substr(sp.size()), t.to(Device::cpu(), DType::f64).clone());
          continue;
        }
        if (t.sizes() != p.sizes())
          fail<ShapeError>("load_state_dict", "state '", key, "' of shape ", str(t.sizes()),
                           " does not match its parameter of shape ", str(p.sizes()));
        // f32 for a bf16/f16 parameter: a checkpoint keeps the state's precision.
        st.buffers.insert(key.substr(sp.size()),
                          t.to(p.device(), optim_state_dtype(p.dtype())).clone());
      }
      restored[p.impl()] = std::move(st);
    }
  }
  state_ = std::move(restored);
}

}  // namespace ember::optim
