#include "tensor/dispatch.h"

#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "tensor/raw.h"

namespace ember::raw {

namespace {

std::mutex g_warned_mu;
std::set<std::tuple<int, int, int>>& warned() {  // (primitive, device type, device index)
  static std::set<std::tuple<int, int, int>> s;
  return s;
}

void warn_once(Primitive op, Device device, DType dtype, Dispatch::Route route) {
  {
    std::lock_guard lock(g_warned_mu);
    auto key = std::make_tuple(static_cast<int>(op), static_cast<int>(device.type), device.index);
    if (!warned().insert(key).second) return;
  }
  const char* how = route == Dispatch::Route::host_in_place
                        ? "the cpu kernel on its host memory in place"
                        : "the cpu kernel on host copies (host round trip)";
  const std::string line =
      detail::cat_str("ember: warning: ", to_string(op), " has no ", device.str(), " kernel for ",
                      dtype, "; running ", how, "\n");
  std::fputs(line.c_str(), stderr);
}

}  // namespace

Dispatch::Dispatch(Primitive op, Device device, DType dtype) : device_(device), guard_(device) {
  Backend& own = ember::backend(device);
  if (own.supports(op, dtype)) {
    runner_ = &own;
    return;
  }
  runner_ = &ember::backend(DeviceType::cpu);
  if (device.is_cpu()) return;  // a cpu stand-in without the primitive: the cpu kernels
  if (device.is_host_accessible()) {
    route_ = Route::host_in_place;
    own.synchronize();  // the device's queued kernels write what the cpu kernel reads
  } else {
    route_ = Route::host_copy;
  }
  warn_once(op, device, dtype, route_);
  event_.emplace(std::string("fallback:") + to_string(op));
}

Tensor Dispatch::operand(const Tensor& t) const {
  if (route_ != Route::host_copy || !t.defined()) return t;
  return to_device(t, Device::cpu());
}

Tensor Dispatch::result(const Tensor& t) const {
  if (route_ != Route::host_copy || !t.defined()) return t;
  return to_device(t, device_);
}

const Tensor* Dispatch::in_place(const Tensor* t) {
  if (route_ != Route::host_copy || t == nullptr || !t->defined()) return t;
  mirrors_.emplace_back(*t, to_device(*t, Device::cpu()));
  return &mirrors_.back().second;
}

void Dispatch::write_back() {
  for (auto& [dev, host] : mirrors_) copy_(dev, host);
  mirrors_.clear();
}

void reset_fallback_warnings() {
  std::lock_guard lock(g_warned_mu);
  warned().clear();
}

}  // namespace ember::raw
