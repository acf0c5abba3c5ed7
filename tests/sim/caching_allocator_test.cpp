// The cuda device's caching allocator, on a fake device (host memory with a capacity), so
// its pooling, statistics and out-of-memory path run without a GPU.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "kernels/cuda/caching_allocator.h"
#include "tensor/error.h"

namespace ember::simtest {
namespace {

using gpu::CachingAllocator;

// A device of `capacity` bytes that counts its calls.
struct FakeDevice {
  explicit FakeDevice(size_t bytes) : capacity(bytes) {}
  size_t capacity;
  size_t used = 0;
  int mallocs = 0, frees = 0, syncs = 0;
  std::set<void*> live;

  gpu::DeviceMemoryApi api() {
    return {[this](size_t n) -> void* {
              if (used + n > capacity) return nullptr;
              ++mallocs;
              used += n;
              void* p = std::malloc(n);
              live.insert(p);
              sizes[p] = n;
              return p;
            },
            [this](void* p) {
              ++frees;
              used -= sizes[p];
              live.erase(p);
              std::free(p);
            },
            [this](size_t* free_bytes, size_t* total) {
              *free_bytes = capacity - used;
              *total = capacity;
            },
            [this] { ++syncs; }};
  }
  std::map<void*, size_t> sizes;
};

TEST(CachingAllocator, RoundsSizesIntoBins) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(1 << 20), 1u << 20);
  EXPECT_EQ(CachingAllocator::round_size((1 << 20) + 1), (1u << 20) + (1u << 18));  // quarter steps
  EXPECT_EQ(CachingAllocator::round_size(3 << 20), 3u << 20);
  for (size_t n : {1000000ul, 5000000ul, 123456789ul}) {
    const size_t r = CachingAllocator::round_size(n);
    EXPECT_GE(r, n);
    EXPECT_LE(r, n + n / 4 + 512) << n;
  }
}

TEST(CachingAllocator, ReusesFreedBlocksOfTheSameSizeAndStream) {
  FakeDevice dev(1 << 24);
  CachingAllocator alloc(dev.api(), "fake");
  void* stream_a = reinterpret_cast<void*>(1);
  void* stream_b = reinterpret_cast<void*>(2);
  void* p = alloc.allocate(1000, stream_a);
  alloc.deallocate(p);
  EXPECT_EQ(alloc.allocate(900, stream_a), p) << "same bin, same stream: the cached block";
  void* q = alloc.allocate(900, stream_b);
  EXPECT_NE(q, p) << "another stream does not take a block it could race with";
  EXPECT_EQ(dev.mallocs, 2);
  MemoryStats s = alloc.stats();
  EXPECT_EQ(s.allocated_bytes, 2048);
  EXPECT_EQ(s.reserved_bytes, 2048);
  EXPECT_EQ(s.num_allocs, 3);
  EXPECT_EQ(s.num_device_allocs, 2);
  alloc.deallocate(p);
  alloc.deallocate(q);
  s = alloc.stats();
  EXPECT_EQ(s.allocated_bytes, 0);
  EXPECT_EQ(s.reserved_bytes, 2048);
  EXPECT_EQ(s.peak_allocated_bytes, 2048);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().reserved_bytes, 0);
  EXPECT_EQ(dev.frees, 2);
  EXPECT_GE(dev.syncs, 1) << "cached blocks go back only after the stream's work is done";
  alloc.reset_peak();
  EXPECT_EQ(alloc.stats().peak_allocated_bytes, 0);
}

TEST(CachingAllocator, OutOfMemoryEmptiesTheCacheAndRetriesOnce) {
  FakeDevice dev(4096);
  CachingAllocator alloc(dev.api(), "fake");
  void* a = alloc.allocate(2048, nullptr);
  alloc.deallocate(a);                      // cached: 2048 reserved, 0 allocated
  void* b = alloc.allocate(3000, nullptr);  // 3072 > 4096 - 2048: fails, frees the cache, retries
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(alloc.stats().num_ooms, 1);
  EXPECT_EQ(alloc.stats().reserved_bytes, 3072);
  try {
    alloc.allocate(2000, nullptr);
    FAIL() << "allocated past the device's capacity";
  } catch (const DeviceError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("out of memory on fake"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("tried to allocate 2000 bytes"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("1024 bytes free of 4096"));
  }
  alloc.deallocate(b);
  alloc.empty_cache();
  EXPECT_TRUE(dev.live.empty());
}

}  // namespace
}  // namespace ember::simtest
