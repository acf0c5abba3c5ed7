// Storage: one allocation on one device, shared by a tensor and all its views.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "tensor/device.h"

namespace ember {

class Storage {
 public:
  // Allocates nbytes on device through its backend.
  Storage(Device device, size_t nbytes);
  // Wraps memory ember does not own (from_blob); deleter may be empty.
  Storage(Device device, void* data, size_t nbytes, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write, shared by all views of this storage, so autograd
  // can tell that a tensor it saved was modified afterwards.
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

  // Storages alive in this process, and their bytes (owned and wrapped alike).
  static int64_t live_count();
  static int64_t live_bytes();

 private:
  Device device_;
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  std::atomic<uint32_t> version_{0};
};

}  // namespace ember
