// The cpu device's memory path: the per-thread cache of small blocks, the pooled
// TensorImpl/Storage objects, and the live-storage counters summed over threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <thread>
#include <vector>

#include "kernels/cpu/host_cache.h"
#include "kernels/memory.h"
#include "tensor/object_pool.h"
#include "tensor/ops.h"
#include "tensor/storage.h"

namespace ember {
namespace {

bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

// Made before main, so destroyed after every static made later, the backends included
// (they are made on first use). The sanitizer build reports a use of a destroyed backend
// at exit (a gloo worker thread finishing its last collective after main returned did).
Tensor g_outlives_main_cpu;
Tensor g_outlives_main_sim;

TEST(StaticDestruction, ATensorReleasedAfterMainFreesThroughALiveBackend) {
  g_outlives_main_cpu = randn({1000}, {.device = Device::cpu()});
  g_outlives_main_sim = randn({1000}, {.device = Device::sim()});
  EXPECT_EQ(g_outlives_main_cpu.numel(), 1000);
  EXPECT_EQ(g_outlives_main_sim.device(), Device::sim());
}

TEST(HostCache, EveryBlockIsAlignedAndUsable) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{4097},
                   cpu::kMaxCachedBytes, cpu::kMaxCachedBytes + 1, size_t{3} << 20}) {
    auto* p = static_cast<unsigned char*>(cpu::host_allocate(n));
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(aligned64(p)) << n << " bytes";
    for (size_t i = 0; i < n; ++i)
      p[i] = static_cast<unsigned char>(i);  // the whole block is writable
    cpu::host_deallocate(p, n);
  }
}

TEST(HostCache, AFreedSmallBlockIsReusedForTheSameSizeClass) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "nothing is cached under AddressSanitizer";
  void* p = cpu::host_allocate(1000);
  const size_t before = cpu::host_cached_blocks();
  cpu::host_deallocate(p, 1000);
  EXPECT_EQ(cpu::host_cached_blocks(), before + 1);
  EXPECT_EQ(cpu::host_allocate(900), p);  // 900 and 1000 bytes share the 1 KiB class
  EXPECT_EQ(cpu::host_cached_blocks(), before);
  cpu::host_deallocate(p, 900);
}

TEST(HostCache, LargeBlocksAreNotCachedAndTheCacheIsBounded) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "nothing is cached under AddressSanitizer";
  const size_t bytes_before = cpu::host_cached_bytes();
  void* big = cpu::host_allocate(cpu::kMaxCachedBytes + 1);
  cpu::host_deallocate(big, cpu::kMaxCachedBytes + 1);
  EXPECT_EQ(cpu::host_cached_bytes(), bytes_before);

  std::vector<void*> blocks;
  for (int i = 0; i < 3 * cpu::kMaxCachedPerClass; ++i) blocks.push_back(cpu::host_allocate(3000));
  EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size());  // all distinct
  const size_t blocks_before = cpu::host_cached_blocks();
  for (void* p : blocks) cpu::host_deallocate(p, 3000);
  EXPECT_LE(cpu::host_cached_blocks(), blocks_before + cpu::kMaxCachedPerClass);
  EXPECT_LE(cpu::host_cached_bytes(),
            size_t{2} * cpu::kMaxCachedBytes * cpu::kMaxCachedPerClass * 11);
}

TEST(HostCache, LargeBlocksAreReusedAcrossThreadsUpToABound) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "nothing is cached under AddressSanitizer";
  cpu::host_empty_large_cache();
  void* p = cpu::host_allocate((1 << 20) + 3);
  cpu::host_deallocate(p, (1 << 20) + 3);
  EXPECT_GT(cpu::host_cached_large_bytes(), size_t{1} << 20);
  void* q = nullptr;
  std::thread t(
      [&] { q = cpu::host_allocate((1 << 20) + 100); });  // same size step, another thread
  t.join();
  EXPECT_EQ(q, p);
  EXPECT_EQ(cpu::host_cached_large_bytes(), 0u);
  cpu::host_deallocate(q, (1 << 20) + 100);
  // Freeing more than the bound keeps at most the bound.
  std::vector<void*> blocks;
  const size_t big = size_t{48} << 20;
  for (int i = 0; i < 8; ++i) blocks.push_back(cpu::host_allocate(big));
  for (void* b : blocks) cpu::host_deallocate(b, big);
  EXPECT_LE(cpu::host_cached_large_bytes(), cpu::kMaxLargeCachedBytes);
  empty_cache(DeviceType::cpu);  // the public way to give the cache back
  EXPECT_EQ(cpu::host_cached_large_bytes(), 0u);
}

TEST(HostCache, SmallTensorsReuseTheirMemory) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "nothing is cached under AddressSanitizer";
  Tensor a = ones({3}), b = ones({3});
  const void* first = nullptr;
  {
    Tensor c = a + b;
    first = c.raw_data();
  }
  Tensor d = a + b;  // the block c gave back
  EXPECT_EQ(d.raw_data(), first);
  EXPECT_EQ(d.to_vector<float>(), (std::vector<float>{2, 2, 2}));
}

TEST(StorageCounters, CountStoragesMadeAndFreedOnOtherThreads) {
  const int64_t count0 = Storage::live_count(), bytes0 = Storage::live_bytes();
  std::vector<Tensor> made;
  std::thread t([&] {
    for (int i = 0; i < 10; ++i) made.push_back(empty({25}));  // 100 bytes each
  });
  t.join();  // the thread has exited: its counts live on in the total
  EXPECT_EQ(Storage::live_count(), count0 + 10);
  EXPECT_EQ(Storage::live_bytes(), bytes0 + 1000);
  made.resize(4);  // six freed here, on another thread than their creator's
  EXPECT_EQ(Storage::live_count(), count0 + 4);
  std::thread u([&] { made.clear(); });
  u.join();
  EXPECT_EQ(Storage::live_count(), count0);
  EXPECT_EQ(Storage::live_bytes(), bytes0);
}

TEST(ObjectPool, BlocksAreReusedPerThreadAndBounded) {
  if (detail::kAddressSanitizer) GTEST_SKIP() << "nothing is pooled under AddressSanitizer";
  struct Obj {
    double x[5];
  };
  detail::PoolAllocator<Obj> alloc;
  Obj* a = alloc.allocate(1);
  alloc.deallocate(a, 1);
  EXPECT_EQ(alloc.allocate(1), a);
  std::vector<Obj*> many;
  for (int i = 0; i < 2 * detail::kPoolBlocks; ++i) many.push_back(alloc.allocate(1));
  for (Obj* p : many) alloc.deallocate(p, 1);  // the first kPoolBlocks are kept, the rest freed
  std::set<Obj*> again;
  for (int i = 0; i < detail::kPoolBlocks; ++i) again.insert(alloc.allocate(1));
  for (Obj* p : again) EXPECT_TRUE(std::find(many.begin(), many.end(), p) != many.end());
  for (Obj* p : again) alloc.deallocate(p, 1);
  alloc.deallocate(a, 1);
}

}  // namespace
}  // namespace ember
