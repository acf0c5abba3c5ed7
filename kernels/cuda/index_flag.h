// A device flag for index values found out of range by a kernel: the first bad value is
// recorded (claimed with atomicCAS) and the launcher reads it back after the launch and
// throws IndexError naming the op. Reading it synchronizes the stream once per call.
#pragma once

#include <cstdint>

#include "kernels/cuda/runtime.h"
#include "kernels/cuda/target.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

// flag[0]: 0 until a bad index is seen, then 1; flag[1]: that index. True when j is in
// [0, size).
EMBER_DEVICE bool check_index(int64_t j, int64_t size, unsigned long long* flag) {
  if (j >= 0 && j < size) return true;
  if (atomicCAS(flag, 0ull, 1ull) == 0ull) flag[1] = static_cast<unsigned long long>(j);
  return false;
}

class IndexFlag {
 public:
  IndexFlag() : ptr_(static_cast<unsigned long long*>(rt::allocate(2 * sizeof(unsigned long long)))) {
    rt::memset(ptr_, 0, 2 * sizeof(unsigned long long));
  }
  ~IndexFlag() { rt::deallocate(ptr_); }
  IndexFlag(const IndexFlag&) = delete;
  IndexFlag& operator=(const IndexFlag&) = delete;
  unsigned long long* get() const { return ptr_; }
  // The recorded bad value, if any (synchronizes).
  bool bad(int64_t* value) const {
    unsigned long long host[2];
    rt::memcpy_d2h(host, ptr_, sizeof(host));
    *value = static_cast<int64_t>(host[1]);
    return host[0] != 0;
  }

 private:
  unsigned long long* ptr_;
};

}  // namespace ember::EMBER_VARIANT
