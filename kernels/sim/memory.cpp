#include "kernels/sim/memory.h"

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

#include "kernels/sim/fiber.h"
#include "tensor/error.h"

#if EMBER_HAS_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace ember::sim {

namespace {

constexpr unsigned char kGuardByte = 0xA5;
constexpr unsigned char kPoisonByte = 0xFF;

struct Allocation {
  size_t nbytes;      // asked for
  size_t tail_bytes;  // guard after the data (>= kGuardBytes, pads to 64)
  int device;         // the simulated device it was made on
};

struct Registry {
  std::mutex mu;
  std::map<uintptr_t, Allocation> live;        // by data address
  std::array<MemoryStats, kMaxDevices> stats;  // per simulated device (issue 17)
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: storages may outlive statics
  return *r;
}

size_t tail_for(size_t nbytes) { return kGuardBytes + (64 - nbytes % 64) % 64; }

void poison_guards(unsigned char* data, const Allocation& a) {
#if EMBER_HAS_ASAN
  ASAN_POISON_MEMORY_REGION(data - kGuardBytes, kGuardBytes);
  ASAN_POISON_MEMORY_REGION(data + a.nbytes, a.tail_bytes);
#else
  (void)data;
  (void)a;
#endif
}

void unpoison_guards(unsigned char* data, const Allocation& a) {
#if EMBER_HAS_ASAN
  ASAN_UNPOISON_MEMORY_REGION(data - kGuardBytes, kGuardBytes);
  ASAN_UNPOISON_MEMORY_REGION(data + a.nbytes, a.tail_bytes);
#else
  (void)data;
  (void)a;
#endif
}

#if !EMBER_HAS_ASAN
// Index of the first byte of [p, p + n) that is not the guard pattern, or -1.
int64_t first_bad(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != kGuardByte) return static_cast<int64_t>(i);
  return -1;
}
#endif

}  // namespace

void* device_malloc(size_t nbytes, int device) {
  Allocation a{nbytes, tail_for(nbytes), device};
  const size_t total = kGuardBytes + nbytes + a.tail_bytes;
  auto* base = static_cast<unsigned char*>(std::aligned_alloc(64, total));
  if (base == nullptr)
    fail<Error>("allocate", "out of host memory allocating ", nbytes, " bytes on sim");
  unsigned char* data = base + kGuardBytes;
  std::memset(base, kGuardByte, kGuardBytes);
  std::memset(data, kPoisonByte, nbytes);
  std::memset(data + nbytes, kGuardByte, a.tail_bytes);
  poison_guards(data, a);
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.live.emplace(reinterpret_cast<uintptr_t>(data), a);
  MemoryStats& st = r.stats.at(static_cast<size_t>(device));
  st.num_allocs++;
  st.num_device_allocs++;
  st.allocated_bytes += static_cast<int64_t>(nbytes);
  st.reserved_bytes += static_cast<int64_t>(total);
  if (st.allocated_bytes > st.peak_allocated_bytes) st.peak_allocated_bytes = st.allocated_bytes;
  return data;
}

void device_free(void* ptr) noexcept {
  if (ptr == nullptr) return;
  auto* data = static_cast<unsigned char*>(ptr);
  Allocation a{};
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.live.find(reinterpret_cast<uintptr_t>(data));
    if (it == r.live.end()) return;  // not ours: nothing sane to do in a noexcept path
    a = it->second;
    r.live.erase(it);
    MemoryStats& st = r.stats[static_cast<size_t>(a.device)];
    st.allocated_bytes -= static_cast<int64_t>(a.nbytes);
    st.reserved_bytes -= static_cast<int64_t>(kGuardBytes + a.nbytes + a.tail_bytes);
  }
  unpoison_guards(data, a);
  std::free(data - kGuardBytes);
}

MemoryStats memory_stats(int device) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.stats.at(static_cast<size_t>(device));
}

void reset_peak_memory_stats(int device) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  MemoryStats& st = r.stats.at(static_cast<size_t>(device));
  st.peak_allocated_bytes = st.allocated_bytes;
}

void check_guards(const char* kernel) {
#if EMBER_HAS_ASAN
  (void)kernel;  // the guards are poisoned: AddressSanitizer reports the access itself
#else
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& [addr, a] : r.live) {
    auto* data = reinterpret_cast<unsigned char*>(addr);
    int64_t before = first_bad(data - kGuardBytes, kGuardBytes);
    int64_t after = first_bad(data + a.nbytes, a.tail_bytes);
    if (before < 0 && after < 0) continue;
    std::ostringstream os;
    os << "kernel '" << kernel << "' wrote outside a " << a.nbytes << "-byte allocation at "
       << static_cast<const void*>(data) << ": ";
    if (after >= 0) {
      os << "byte " << after << " past its end was overwritten";
    } else {
      os << "byte " << (static_cast<int64_t>(kGuardBytes) - before)
         << " before its start was overwritten";
    }
    std::memset(data - kGuardBytes, kGuardByte, kGuardBytes);
    std::memset(data + a.nbytes, kGuardByte, a.tail_bytes);
    throw Error("sim", os.str());
  }
#endif
}

}  // namespace ember::sim
