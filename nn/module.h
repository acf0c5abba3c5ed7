// nn::Module: a tree of modules that own parameters and buffers, built by injection.
//
//   struct Encoder : nn::Module {
//     std::shared_ptr<nn::Conv2d> conv;
//     Encoder() { conv = register_module("conv", nn::Conv2d::make(3, 64, 3)); }
//   };
//
// Children are held as std::shared_ptr: a module built outside can be injected into
// several parents (it is listed once when walking the tree). Names are PyTorch's dotted
// keys ("image_encoder.conv.weight"), in registration order, depth first.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "nn/ordered_dict.h"
#include "tensor/tensor.h"

namespace ember::nn {

using StateDict = OrderedDict<Tensor>;

// A module handle: a std::shared_ptr<M> that can also be called, so `conv(x)` does what
// `conv->forward(x)` does. make() returns one; it converts to std::shared_ptr<M> and to
// std::shared_ptr of any base wherever those are taken (register_module, Sequential,
// containers), so code written against std::shared_ptr keeps working.
template <typename M>
class Ptr : public std::shared_ptr<M> {
 public:
  using std::shared_ptr<M>::shared_ptr;
  Ptr() = default;
  Ptr(std::shared_ptr<M> p) : std::shared_ptr<M>(std::move(p)) {}  // NOLINT: implicit on purpose
  template <typename... Args>
  decltype(auto) operator()(Args&&... args) const {
    return (*this)->forward(std::forward<Args>(args)...);
  }
};

// What load_state_dict found; with strict=true any non-empty list is an Error instead.
struct LoadResult {
  std::vector<std::string> missing_keys;      // in the module, not in the dict
  std::vector<std::string> unexpected_keys;   // in the dict, not in the module
  std::vector<std::string> shape_mismatches;  // "key: expected [..], got [..]"
  bool ok() const {
    return missing_keys.empty() && unexpected_keys.empty() && shape_mismatches.empty();
  }
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- registration (names contain no dots; a name is registered once) --------------
  // Registers t as a parameter (a leaf that requires grad unless requires_grad is false)
  // and returns it: the module and the caller share one handle.
  Tensor register_parameter(const std::string& name, Tensor t, bool requires_grad = true);
  // Buffers are state that is not trained (running stats, masks); non-persistent ones
  // are left out of state_dict().
  Tensor register_buffer(const std::string& name, Tensor t, bool persistent = true);
  // Points the parameter registered as `name` at another tensor (same name, same position)
  // and returns it: `head->weight = head->replace_parameter("weight", emb->weight)` ties the
  // head's weight to the embedding's, as torch's `head.weight = emb.weight` does.
  Tensor replace_parameter(const std::string& name, Tensor t);
  // Registers a child module and returns it with its own type.
  template <typename M>
  requires std::is_base_of_v<Module, M> Ptr<M> register_module(const std::string& name,
                                                               std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // Swaps the child registered as `name` for another (same name, same position).
  template <typename M>
  requires std::is_base_of_v<Module, M> Ptr<M> replace_module(const std::string& name,
                                                              std::shared_ptr<M> module) {
    replace_child(name, module);
    return module;
  }

  // ---- walking the tree --------------------------------------------------------------
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module first (name ""), then every descendant once, depth first.
  std::vector<std::shared_ptr<Module>> modules();
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules();
  // The parameter, buffer or module at a dotted path; throws IndexError naming it.
  Tensor get_parameter(const std::string& path) const;
  std::shared_ptr<Module> get_submodule(const std::string& path) const;

  // ---- whole-tree operations -----------------------------------------------------------
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves parameters, their gradients and buffers in place: handles held elsewhere stay valid.
  void to(Device device);
  void to(DType dtype);  // floating parameters and buffers only
  void zero_grad(bool set_to_none = true);
  void requires_grad_(bool requires_grad = true);  // freezes (false) or unfreezes a subtree
  void apply(const std::function<void(Module&)>& fn);
  int64_t num_parameters(bool trainable_only = false) const;

  // As PyTorch's: every path through the tree, so a tied tensor or a shared module appears
  // under each of its names (parameters() and named_*() list it once, under its first).
  StateDict state_dict() const;
  // Loads every key of state_dict(): with a tied tensor, each of its names must be in the
  // dict (strict) and each present one is copied in, in state_dict() order, as PyTorch does.
  LoadResult load_state_dict(const StateDict& dict, bool strict = true);

  // ---- printing -------------------------------------------------------------------------
  // The class name shown by pretty_print ("Linear"); defaults to the demangled type name.
  virtual std::string name() const;
  // One line of options shown after the name ("in_features=3, out_features=4, bias=True").
  virtual std::string extra_repr() const { return ""; }
  std::string pretty_print() const;

  // Own (non-recursive) maps, in registration order.
  const OrderedDict<Tensor>& own_parameters() const { return parameters_; }
  const OrderedDict<Tensor>& own_buffers() const { return buffers_; }
  const OrderedDict<std::shared_ptr<Module>>& own_children() const { return children_; }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void replace_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const char* op, const std::string& name) const;
  bool contains_module(const Module* m) const;  // in this subtree (this included)
  void pretty_print_into(std::string& out, int indent) const;

  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  std::vector<std::string> non_persistent_;
  OrderedDict<std::shared_ptr<Module>> children_;
};

// The unqualified class name of a dynamic type ("Linear" for ember::nn::Linear), without
// template arguments: what pretty_print and the trainer's callbacks show.
std::string short_type_name(const std::type_info& type);

// A module with one tensor in and one out: what Sequential chains.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// Gives a module class `T::make(args...)` returning a callable handle, Ptr<T>.
template <typename T>
struct Make {
  template <typename... Args>
  static Ptr<T> make(Args&&... args) {
    return std::make_shared<T>(std::forward<Args>(args)...);
  }
};

}  // namespace ember::nn
