#include "nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <typeinfo>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::nn {

namespace {

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// Depth-first over the tree, each module once: fn(prefix, module).
void walk(const Module& root, const std::string& prefix, std::unordered_set<const Module*>& seen,
          const std::function<void(const std::string&, const Module&)>& fn) {
  if (!seen.insert(&root).second) return;
  fn(prefix, root);
  for (const auto& [name, child] : root.own_children())
    if (child) walk(*child, join(prefix, name), seen, fn);
}

std::vector<std::pair<std::string, Tensor>> named_tensors(const Module& root, bool recurse,
                                                          bool buffers) {
  std::vector<std::pair<std::string, Tensor>> out;
  std::unordered_set<const TensorImpl*> seen_tensors;
  auto take = [&](const std::string& prefix, const Module& m) {
    const auto& dict = buffers ? m.own_buffers() : m.own_parameters();
    for (const auto& [name, t] : dict)
      if (t.defined() && seen_tensors.insert(t.impl()).second)
        out.emplace_back(join(prefix, name), t);
  };
  if (!recurse) {
    take("", root);
    return out;
  }
  std::unordered_set<const Module*> seen;
  walk(root, "", seen, take);
  return out;
}

}  // namespace

void Module::check_new_name(const char* op, const std::string& name) const {
  if (name.empty()) fail<ValueError>(op, "name must not be empty");
  if (name.find('.') != std::string::npos)
    fail<ValueError>(op, "name '", name, "' must not contain '.'");
  if (parameters_.contains(name) || buffers_.contains(name) || children_.contains(name))
    fail<ValueError>(op, "'", name, "' is already registered in ", this->name());
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name("register_parameter", name);
  if (t.defined()) {
    if (!t.is_leaf())
      fail<ValueError>("register_parameter", "'", name, "' must be a leaf tensor; pass x.detach()");
    if (requires_grad) t.requires_grad_(true);
  }
  return parameters_.insert(name, std::move(t));
}

Tensor Module::register_buffer(const std::string& name, Tensor t, bool persistent) {
  check_new_name("register_buffer", name);
  if (!persistent) non_persistent_.push_back(name);
  return buffers_.insert(name, std::move(t));
}

bool Module::contains_module(const Module* m) const {
  bool found = false;
  std::unordered_set<const Module*> seen;
  walk(*this, "", seen, [&](const std::string&, const Module& x) { found = found || &x == m; });
  return found;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name("register_module", name);
  if (!module) fail<ValueError>("register_module", "module '", name, "' is null");
  if (module->contains_module(this))
    fail<ValueError>("register_module", "registering '", name, "' (", module->name(), ") into ",
                     this->name(), " would make a cycle: it already contains this module");
  children_.insert(name, std::move(module));
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> module) {
  if (!children_.contains(name))
    fail<IndexError>("replace_module", "no child module named '", name, "' in ", this->name());
  if (!module) fail<ValueError>("replace_module", "module '", name, "' is null");
  if (module->contains_module(this))
    fail<ValueError>("replace_module", "replacing '", name, "' would make a cycle");
  children_.insert(name, std::move(module));
}

Tensor Module::replace_parameter(const std::string& name, Tensor t) {
  if (!parameters_.contains(name))
    fail<IndexError>("replace_parameter", "no parameter named '", name, "' in ", this->name());
  if (t.defined() && !t.is_leaf())
    fail<ValueError>("replace_parameter", "'", name, "' must be a leaf tensor; pass x.detach()");
  return parameters_.insert(name, std::move(t));
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  return named_tensors(*this, recurse, false);
}
std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  return named_tensors(*this, recurse, true);
}
std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}
std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::unordered_set<const Module*> seen;
  for (const auto& [name, child] : children_)
    if (child && seen.insert(child.get()).second) out.emplace_back(name, child);
  return out;
}
std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_children()) out.push_back(m);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::unordered_set<const Module*> seen;
  std::function<void(const std::string&, const std::shared_ptr<Module>&)> rec =
      [&](const std::string& prefix, const std::shared_ptr<Module>& m) {
        if (!seen.insert(m.get()).second) return;
        out.emplace_back(prefix, m);
        for (const auto& [name, child] : m->children_)
          if (child) rec(join(prefix, name), child);
      };
  // A module not owned by a shared_ptr (on the stack) is listed through a non-owning alias.
  std::shared_ptr<Module> self = weak_from_this().lock();
  if (!self) self = std::shared_ptr<Module>(std::shared_ptr<Module>(), this);
  rec("", self);
  return out;
}
std::vector<std::shared_ptr<Module>> Module::modules() {
  std::vector<std::shared_ptr<Module>> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

Tensor Module::get_parameter(const std::string& path) const {
  for (const auto& [name, t] : named_parameters())
    if (name == path) return t;
  for (const auto& [name, t] : named_buffers())
    if (name == path) return t;
  fail<IndexError>("get_parameter", name(), " has no parameter or buffer '", path, "'");
}

std::shared_ptr<Module> Module::get_submodule(const std::string& path) const {
  const Module* cur = this;
  std::shared_ptr<Module> found;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    const auto* child = cur->children_.find(part);
    if (child == nullptr || !*child)
      fail<IndexError>("get_submodule", name(), " has no submodule '", path, "' (no '", part, "')");
    found = *child;
    cur = found.get();
  }
  if (!found) fail<IndexError>("get_submodule", "empty path");
  return found;
}

void Module::train(bool on) {
  std::unordered_set<const Module*> seen;
  walk(*this, "", seen,
       [&](const std::string&, const Module& m) { const_cast<Module&>(m).training_ = on; });
}

void Module::apply(const std::function<void(Module&)>& fn) {
  // Children first, then this module, as torch.nn.Module.apply.
  std::vector<Module*> order;
  std::unordered_set<const Module*> seen;
  walk(*this, "", seen,
       [&](const std::string&, const Module& m) { order.push_back(const_cast<Module*>(&m)); });
  for (auto it = order.rbegin(); it != order.rend(); ++it) fn(**it);
}

void Module::to(Device device) {
  NoGradGuard no_grad;
  for (const Tensor& t : parameters()) {
    t.set_data(t.to(device));
    if (Tensor g = t.grad(); g.defined()) g.set_data(g.to(device));
  }
  for (const Tensor& b : buffers()) b.set_data(b.to(device));
}

void Module::to(DType dtype) {
  if (!is_floating(dtype))
    fail<DTypeError>("Module::to", "modules convert only to floating dtypes, got ", dtype);
  NoGradGuard no_grad;
  for (const Tensor& t : parameters()) {
    if (!t.is_floating_point()) continue;
    t.set_data(t.to(dtype));
    if (Tensor g = t.grad(); g.defined()) g.set_data(g.to(dtype));
  }
  for (const Tensor& b : buffers())
    if (b.is_floating_point()) b.set_data(b.to(dtype));
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& t : parameters()) {
    Tensor g = t.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      t.set_grad(Tensor());
    } else {
      NoGradGuard no_grad;
      g.zero_();
    }
  }
}

void Module::requires_grad_(bool requires_grad) {
  for (Tensor t : parameters())
    if (t.is_floating_point()) t.requires_grad_(requires_grad);
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const Tensor& t : parameters())
    if (!trainable_only || t.requires_grad()) n += t.numel();
  return n;
}

StateDict Module::state_dict() const {
  // Every path, without the de-duplication of named_parameters(): torch's state_dict lists a
  // tied weight (lm_head.weight = tok_emb.weight) under both names, and its strict load of a
  // GPT's weights expects both. Parameters of the whole tree first, then persistent buffers.
  StateDict dict;
  std::function<void(const Module&, const std::string&, bool)> collect =
      [&](const Module& m, const std::string& prefix, bool buffers) {
        if (!buffers) {
          for (const auto& [n, t] : m.parameters_)
            if (t.defined()) dict.insert(join(prefix, n), t.detach());
        } else {
          for (const auto& [n, t] : m.buffers_)
            if (t.defined() && std::find(m.non_persistent_.begin(), m.non_persistent_.end(), n) ==
                                   m.non_persistent_.end())
              dict.insert(join(prefix, n), t.detach());
        }
        for (const auto& [n, child] : m.children_)
          if (child) collect(*child, join(prefix, n), buffers);
      };
  collect(*this, "", false);
  collect(*this, "", true);
  return dict;
}

LoadResult Module::load_state_dict(const StateDict& dict, bool strict) {
  LoadResult result;
  StateDict mine = state_dict();
  for (const auto& [key, t] : mine) {
    const Tensor* src = dict.find(key);
    if (src == nullptr) {
      result.missing_keys.push_back(key);
    } else if (src->sizes() != t.sizes()) {
      result.shape_mismatches.push_back(key + ": expected " + str(t.sizes()) + ", got " +
                                        str(src->sizes()));
    }
  }
  for (const auto& [key, t] : dict)
    if (!mine.contains(key)) result.unexpected_keys.push_back(key);
  if (strict && !result.ok()) {
    std::string msg = "cannot load the state dict into " + name() + ":";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      msg += std::string(" ") + what + " [";
      for (size_t i = 0; i < keys.size(); ++i) msg += (i ? ", " : "") + keys[i];
      msg += "];";
    };
    list("missing keys", result.missing_keys);
    list("unexpected keys", result.unexpected_keys);
    list("shape mismatches", result.shape_mismatches);
    fail<ValueError>("load_state_dict", msg);
  }
  NoGradGuard no_grad;
  for (const auto& [key, t] : mine) {
    const Tensor* src = dict.find(key);
    if (src != nullptr && src->sizes() == t.sizes()) raw::copy_(t, *src);
  }
  return result;
}

std::string Module::name() const { return short_type_name(typeid(*this)); }

std::string short_type_name(const std::type_info& type) {
  const char* mangled = type.name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  std::string full = status == 0 && demangled ? demangled.get() : mangled;
  if (auto lt = full.find('<'); lt != std::string::npos) full = full.substr(0, lt);
  if (auto colon = full.rfind("::"); colon != std::string::npos) full = full.substr(colon + 2);
  return full;
}

void Module::pretty_print_into(std::string& out, int indent) const {
  out += name() + "(";
  std::string extra = extra_repr();
  if (children_.empty()) {
    out += extra + ")";
    return;
  }
  std::string pad(static_cast<size_t>(indent + 2), ' ');
  if (!extra.empty()) out += "\n" + pad + extra;
  for (const auto& [n, child] : children_) {
    out += "\n" + pad + "(" + n + "): ";
    if (child) child->pretty_print_into(out, indent + 2);
  }
  out += "\n" + std::string(static_cast<size_t>(indent), ' ') + ")";
}

std::string Module::pretty_print() const {
  std::string out;
  pretty_print_into(out, 0);
  return out;
}

}  // namespace ember::nn
