// Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict, named as
// PyTorch names them ("layers.0.weight", "heads.query.weight").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace ember::nn {

// Chains unary modules: forward(x) = m_n(...m_1(x)). Children are named "0", "1", ...
class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> modules);
  static Ptr<Sequential> make(std::vector<std::shared_ptr<UnaryModule>> modules = {}) {
    return std::make_shared<Sequential>(std::move(modules));
  }
  void push_back(std::shared_ptr<UnaryModule> module);
  Tensor forward(const Tensor& x) override;
  const std::shared_ptr<UnaryModule>& operator[](size_t i) const;
  size_t size() const { return layers_.size(); }
  auto begin() const { return layers_.begin(); }
  auto end() const { return layers_.end(); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

// Holds modules of any kind by index; has no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(std::vector<std::shared_ptr<Module>> modules);
  static Ptr<ModuleList> make(std::vector<std::shared_ptr<Module>> modules = {}) {
    return std::make_shared<ModuleList>(std::move(modules));
  }
  void push_back(std::shared_ptr<Module> module);
  const std::shared_ptr<Module>& operator[](size_t i) const;
  // The module at i as type M; throws if it is not one.
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m)
      fail<ValueError>("ModuleList::at", "module ", i, " is a ", (*this)[i]->name(),
                       ", not the type asked for");
    return m;
  }
  size_t size() const { return modules_.size(); }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

// Holds modules by key, in insertion order.
class ModuleDict : public Module {
 public:
  ModuleDict() = default;
  static Ptr<ModuleDict> make() { return std::make_shared<ModuleDict>(); }
  void insert(const std::string& key, std::shared_ptr<Module> module);
  const std::shared_ptr<Module>& operator[](const std::string& key) const;
  template <typename M>
  std::shared_ptr<M> at(const std::string& key) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[key]);
    if (!m) fail<ValueError>("ModuleDict::at", "module '", key, "' is not the type asked for");
    return m;
  }
  bool contains(const std::string& key) const { return own_children().contains(key); }
  std::vector<std::string> keys() const { return own_children().keys(); }
  size_t size() const { return own_children().size(); }
};

// Holds parameters by index ("0", "1", ...).
class ParameterList : public Module {
 public:
  ParameterList() = default;
  static Ptr<ParameterList> make() { return std::make_shared<ParameterList>(); }
  Tensor append(Tensor t);
  Tensor operator[](size_t i) const;
  size_t size() const { return own_parameters().size(); }
};

// Holds parameters by key.
class ParameterDict : public Module {
 public:
  ParameterDict() = default;
  static Ptr<ParameterDict> make() { return std::make_shared<ParameterDict>(); }
  Tensor insert(const std::string& key, Tensor t);
  Tensor operator[](const std::string& key) const;
  bool contains(const std::string& key) const { return own_parameters().contains(key); }
  std::vector<std::string> keys() const { return own_parameters().keys(); }
  size_t size() const { return own_parameters().size(); }
};

}  // namespace ember::nn
