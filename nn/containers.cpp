#include "nn/containers.h"

namespace ember::nn {

Sequential::Sequential(std::vector<std::shared_ptr<UnaryModule>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<UnaryModule> module) {
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(module)));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& m : layers_) h = m->forward(h);
  return h;
}

const std::shared_ptr<UnaryModule>& Sequential::operator[](size_t i) const {
  if (i >= layers_.size())
    fail<IndexError>("Sequential", "index ", i, " is out of range for ", layers_.size(),
                     " modules");
  return layers_[i];
}

ModuleList::ModuleList(std::vector<std::shared_ptr<Module>> modules) {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(module)));
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  if (i >= modules_.size())
    fail<IndexError>("ModuleList", "index ", i, " is out of range for ", modules_.size(),
                     " modules");
  return modules_[i];
}

void ModuleDict::insert(const std::string& key, std::shared_ptr<Module> module) {
  if (contains(key)) {
    replace_module(key, std::move(module));
  } else {
    register_module(key, std::move(module));
  }
}

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& key) const {
  const auto* m = own_children().find(key);
  if (m == nullptr) fail<IndexError>("ModuleDict", "no module '", key, "'");
  return *m;
}

Tensor ParameterList::append(Tensor t) {
  return register_parameter(std::to_string(size()), std::move(t));
}

Tensor ParameterList::operator[](size_t i) const {
  if (i >= size())
    fail<IndexError>("ParameterList", "index ", i, " is out of range for ", size(), " parameters");
  return own_parameters().items()[i].second;
}

Tensor ParameterDict::insert(const std::string& key, Tensor t) {
  return register_parameter(key, std::move(t));
}

Tensor ParameterDict::operator[](const std::string& key) const {
  const Tensor* t = own_parameters().find(key);
  if (t == nullptr) fail<IndexError>("ParameterDict", "no parameter '", key, "'");
  return *t;
}

}  // namespace ember::nn
