// Internal: reading and writing schedulers' fields in their (tensor-only) state dicts.
// Readers leave the field alone when the key is absent, so state dicts written before a
// field existed still load.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/ops.h"

namespace ember::optim::detail {

inline void put(nn::StateDict& d, const std::string& key, int64_t v) {
  d.insert(key, scalar_tensor(v));
}
inline void put(nn::StateDict& d, const std::string& key, double v) {
  d.insert(key, scalar_tensor(v, {.dtype = DType::f64}));
}
inline void put(nn::StateDict& d, const std::string& key, const std::vector<double>& v) {
  d.insert(key, from_vector(v));
}
inline void put(nn::StateDict& d, const std::string& key, const std::vector<int64_t>& v) {
  d.insert(key, from_vector(v));
}

inline void get(const nn::StateDict& d, const std::string& key, int64_t& v) {
  if (d.contains(key)) v = d.at(key).item<int64_t>();
}
inline void get(const nn::StateDict& d, const std::string& key, double& v) {
  if (d.contains(key)) v = d.at(key).item<double>();
}
inline void get(const nn::StateDict& d, const std::string& key, bool& v) {
  if (d.contains(key)) v = d.at(key).item<int64_t>() != 0;
}
inline void get(const nn::StateDict& d, const std::string& key, std::vector<double>& v) {
  if (d.contains(key)) v = d.at(key).to_vector<double>();
}
inline void get(const nn::StateDict& d, const std::string& key, std::vector<int64_t>& v) {
  if (d.contains(key)) v = d.at(key).to_vector<int64_t>();
}

// The entries of d under prefix, with the prefix removed.
inline nn::StateDict under(const nn::StateDict& d, const std::string& prefix) {
  nn::StateDict r;
  for (const auto& [k, v] : d)
    if (k.starts_with(prefix)) r.insert(k.substr(prefix.size()), v);
  return r;
}

}  // namespace ember::optim::detail
