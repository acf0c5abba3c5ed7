// Memory of the sim device: statistics, poisoning, guards, and the shared stats API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/memory.h"
#include "kernels/sim/memory.h"
#include "tensor/ops.h"

namespace ember::simtest {
namespace {

TEST(SimMemory, StatsTrackAllocatedReservedAndPeak) {
  reset_peak_memory_stats(DeviceType::sim);
  const MemoryStats before = memory_stats(DeviceType::sim);
  void* a = sim::device_malloc(1000);
  void* b = sim::device_malloc(24);
  MemoryStats mid = memory_stats(DeviceType::sim);
  EXPECT_EQ(mid.allocated_bytes - before.allocated_bytes, 1024);
  EXPECT_GE(mid.reserved_bytes - before.reserved_bytes,
            1024 + 4 * static_cast<int64_t>(sim::kGuardBytes));
  EXPECT_EQ(mid.num_allocs - before.num_allocs, 2);
  EXPECT_GE(mid.peak_allocated_bytes, mid.allocated_bytes);
  sim::device_free(a);
  sim::device_free(b);
  MemoryStats after = memory_stats(DeviceType::sim);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.reserved_bytes, before.reserved_bytes);
  EXPECT_EQ(after.peak_allocated_bytes, mid.peak_allocated_bytes);
  reset_peak_memory_stats(DeviceType::sim);
  EXPECT_EQ(memory_stats(DeviceType::sim).peak_allocated_bytes, after.allocated_bytes);
  EXPECT_NO_THROW(empty_cache(DeviceType::sim));
}

TEST(SimMemory, AllocationsArePoisonedAndAligned) {
  auto* p = static_cast<float*>(sim::device_malloc(64 * sizeof(float)));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(std::isnan(p[i]));
  sim::device_free(p);
  Tensor t = empty({3}, {.dtype = DType::i64, .device = Device::sim()});
  for (int64_t v : t.to_vector<int64_t>()) EXPECT_EQ(v, -1);
}

TEST(SimMemory, CpuHasNoDeviceStatistics) {
  EXPECT_THROW(memory_stats(DeviceType::cpu), DeviceError);
}

TEST(SimMemory, TensorsMoveBetweenCpuAndSim) {
  Tensor a = arange(10, {.dtype = DType::f32});
  Tensor s = a.to(Device::sim());
  EXPECT_EQ(s.device(), Device::sim());
  Tensor back = (s * 2.0f).cpu();
  std::vector<float> v = back.to_vector<float>();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(v[i], 2.0f * i);
}

}  // namespace
}  // namespace ember::simtest
