// Helpers of the simulator tests: sim device buffers and a short launch call.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/cuda/target.h"
#include "kernels/sim/memory.h"

namespace ember::simtest {

// A sim allocation of n elements (guarded, filled with 0xFF), freed on destruction.
template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n), p_(static_cast<T*>(sim::device_malloc(n * sizeof(T)))) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    std::memcpy(p_, host.data(), host.size() * sizeof(T));
  }
  ~DeviceBuffer() { sim::device_free(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return p_; }
  std::vector<T> host() const { return std::vector<T>(p_, p_ + n_); }

 private:
  size_t n_;
  T* p_;
};

// kernel<<<grid, block, shared>>>(args...) on the simulator.
template <typename... P, typename... A>
void run(const char* name, dim3 grid, dim3 block, void (*kernel)(P...), A&&... args) {
  sim_impl::launch({name, grid, block, 0}, kernel, std::forward<A>(args)...);
}

// Test-name suffix of a schedule parameter.
inline std::string schedule_name(const ::testing::TestParamInfo<sim::Schedule>& p) {
  return p.param == sim::Schedule::shuffled ? "shuffled" : "sequential";
}

}  // namespace ember::simtest
