// The simulator's execution model: built-in variables, barriers, shared memory (static
// and dynamic), atomics across blocks on several OS threads, launch checks, and the
// math, bit and conversion intrinsics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "sim_test_util.h"
#include "tensor/backends.h"
#include "tensor/error.h"

namespace ember::simtest {
namespace {

using ::testing::HasSubstr;

__global__ void write_ids(uint4* out) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] =
      make_uint4(block, thread, threads, gridDim.x * gridDim.y * gridDim.z);
}

TEST(Simulator, BuiltInVariablesCoverEveryThreadOfA3dLaunch) {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const size_t n = 12 * 24;
  DeviceBuffer<uint4> out(n);
  run("write_ids", grid, block, &write_ids, out.get());
  std::vector<uint4> h = out.host();
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(h[i].x, i / 24);
    EXPECT_EQ(h[i].y, i % 24);
    EXPECT_EQ(h[i].z, 24u);
    EXPECT_EQ(h[i].w, 12u);
  }
}

// Reverses each block's slice through static shared memory.
__global__ void reverse_block(const int* in, int* out) {
  __shared__ int s[256];
  const int t = static_cast<int>(threadIdx.x), base = static_cast<int>(blockIdx.x * blockDim.x);
  s[t] = in[base + t];
  __syncthreads();
  out[base + t] = s[blockDim.x - 1 - t];
}

// The same through dynamic shared memory, sized by the launch.
__global__ void reverse_block_dynamic(const int* in, int* out) {
  EMBER_DYNAMIC_SHARED(int, s);
  const int t = static_cast<int>(threadIdx.x), base = static_cast<int>(blockIdx.x * blockDim.x);
  s[t] = in[base + t];
  __syncthreads();
  out[base + t] = s[blockDim.x - 1 - t];
}

class BothSchedules : public ::testing::TestWithParam<sim::Schedule> {};

TEST_P(BothSchedules, SharedMemoryAndBarriers) {
  sim::ScheduleGuard guard(GetParam());
  std::vector<int> h(8 * 256);
  std::iota(h.begin(), h.end(), 0);
  DeviceBuffer<int> in(h), out(h.size()), out2(h.size());
  run("reverse_block", 8, 256, &reverse_block, in.get(), out.get());
  sim_impl::launch({"reverse_block_dynamic", 8, 256, 256 * sizeof(int)}, &reverse_block_dynamic,
                   in.get(), out2.get());
  std::vector<int> r = out.host(), r2 = out2.host();
  for (int b = 0; b < 8; ++b)
    for (int t = 0; t < 256; ++t) {
      EXPECT_EQ(r[b * 256 + t], b * 256 + 255 - t);
      EXPECT_EQ(r2[b * 256 + t], b * 256 + 255 - t);
    }
}

__global__ void barrier_votes(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  out[t * 3 + 0] = __syncthreads_count(t % 3 == 0);
  out[t * 3 + 1] = __syncthreads_and(t < 1000);
  out[t * 3 + 2] = __syncthreads_or(t == 77);
}

TEST_P(BothSchedules, SyncthreadsCountAndOr) {
  sim::ScheduleGuard guard(GetParam());
  DeviceBuffer<int> out(3 * 100);
  run("barrier_votes", 1, 100, &barrier_votes, out.get());
  std::vector<int> h = out.host();
  for (int t = 0; t < 100; ++t) {
    EXPECT_EQ(h[t * 3 + 0], 34);
    EXPECT_EQ(h[t * 3 + 1], 1);
    EXPECT_EQ(h[t * 3 + 2], 1);
  }
}

// Every thread of many blocks adds into a few counters.
__global__ void atomics(int* count, float* fsum, int* imax, float* fmax, unsigned* cas_winners,
                        unsigned long long* u64) {
  const int g = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  atomicAdd(count, 1);
  atomicAdd(fsum, 0.5f);
  atomicMax(imax, g);
  atomicMax(fmax, static_cast<float>(g) * 0.25f);
  atomicAdd(u64, 3ull);
  if (atomicCAS(cas_winners, 0u, static_cast<unsigned>(g) + 1) == 0u)
    atomicAdd(cas_winners + 1, 1u);
  __threadfence();
}

TEST(Simulator, AtomicsAreAtomicAcrossBlocksOnSeveralThreads) {
  const int old_workers = backends::sim::workers;
  const uint64_t old_min = sim::parallel_min_threads();
  backends::sim::workers = 4;
  sim::set_parallel_min_threads(0);  // concurrent blocks even for this small launch
  DeviceBuffer<int> count(std::vector<int>{0}), imax(std::vector<int>{-1});
  DeviceBuffer<float> fsum(std::vector<float>{0.f}), fmax(std::vector<float>{-1.f});
  DeviceBuffer<unsigned> cas(std::vector<unsigned>{0u, 0u});
  DeviceBuffer<unsigned long long> u64(std::vector<unsigned long long>{0});
  run("atomics", 64, 128, &atomics, count.get(), fsum.get(), imax.get(), fmax.get(), cas.get(),
      u64.get());
  backends::sim::workers = old_workers;
  sim::set_parallel_min_threads(old_min);
  const int n = 64 * 128;
  EXPECT_EQ(count.host()[0], n);
  EXPECT_EQ(fsum.host()[0], 0.5f * n);  // exact: every partial sum is representable
  EXPECT_EQ(imax.host()[0], n - 1);
  EXPECT_EQ(fmax.host()[0], (n - 1) * 0.25f);
  EXPECT_EQ(u64.host()[0], 3ull * n);
  EXPECT_NE(cas.host()[0], 0u);
  EXPECT_EQ(cas.host()[1], 1u);  // exactly one thread saw the old value 0
}

__global__ void atomic_exchange_min_sub(int* v) {
  atomicMin(v, static_cast<int>(threadIdx.x) - 5);
  atomicSub(v + 1, 2);
  atomicExch(v + 2, 42);
  atomicOr(v + 3, 1 << (threadIdx.x % 8));
}

TEST(Simulator, MoreAtomics) {
  DeviceBuffer<int> v(std::vector<int>{100, 0, 0, 0});
  run("atomic_exchange_min_sub", 1, 32, &atomic_exchange_min_sub, v.get());
  EXPECT_THAT(v.host(), ::testing::ElementsAre(-5, -64, 42, 255));
}

TEST(Simulator, CountsLaunchesBlocksAndThreads) {
  sim::Counters before = sim::counters();
  DeviceBuffer<int> in(std::vector<int>(512, 1)), out(512);
  run("reverse_block", 2, 256, &reverse_block, in.get(), out.get());
  sim::Counters after = sim::counters();
  EXPECT_EQ(after.launches - before.launches, 1u);
  EXPECT_EQ(after.blocks - before.blocks, 2u);
  EXPECT_EQ(after.threads - before.threads, 512u);
}

__global__ void nothing() {}

TEST(Simulator, BadLaunchConfigurationsNameTheKernel) {
  try {
    run("too_many_threads", 1, 2048, &nothing);
    FAIL() << "a block of 2048 threads was accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("too_many_threads"));
    EXPECT_THAT(e.what(), HasSubstr("1024 threads"));
  }
  EXPECT_THROW(run("empty_grid", dim3(0), 32, &nothing), Error);
  EXPECT_THROW(sim_impl::launch({"huge_shared", 1, 32, 1u << 30}, &nothing), Error);
}

TEST(Simulator, BuiltInsOutsideAKernelThrow) {
  EXPECT_THROW((void)threadIdx, Error);
  EXPECT_THROW(__syncthreads(), Error);
}

// ---- intrinsics ---------------------------------------------------------------------------

__global__ void math(float* out) {
  out[0] = __expf(1.0f);
  out[1] = __logf(8.0f);
  out[2] = rsqrtf(16.0f);
  out[3] = fmaf(2.0f, 3.0f, 1.0f);
  out[4] = __fdividef(1.0f, 4.0f);
  out[5] = __saturatef(1.5f) + __saturatef(-1.0f);
  out[6] = __sinf(0.0f) + __cosf(0.0f);
  out[7] = __powf(2.0f, 10.0f);
  out[8] = min(3.0f, -1.0f) + max(3.0f, -1.0f);
  out[9] = static_cast<float>(min(3, -1) + max(3, -1));
  out[10] = __frcp_rn(8.0f);
  out[11] = __fsqrt_rn(2.25f);
  out[12] = static_cast<float>(rsqrt(4.0));
  out[13] = normcdff(0.0f);
}

TEST(Simulator, MathIntrinsics) {
  DeviceBuffer<float> out(14);
  run("math", 1, 1, &math, out.get());
  std::vector<float> h = out.host();
  EXPECT_FLOAT_EQ(h[0], std::exp(1.0f));
  EXPECT_FLOAT_EQ(h[1], std::log(8.0f));
  EXPECT_FLOAT_EQ(h[2], 0.25f);
  EXPECT_EQ(h[3], 7.0f);
  EXPECT_EQ(h[4], 0.25f);
  EXPECT_EQ(h[5], 1.0f);
  EXPECT_EQ(h[6], 1.0f);
  EXPECT_FLOAT_EQ(h[7], 1024.0f);
  EXPECT_EQ(h[8], 2.0f);
  EXPECT_EQ(h[9], 2.0f);
  EXPECT_EQ(h[10], 0.125f);
  EXPECT_EQ(h[11], 1.5f);
  EXPECT_EQ(h[12], 0.5f);
  EXPECT_EQ(h[13], 0.5f);
}

__global__ void bits(int* out) {
  out[0] = __popc(0xF0F0u);
  out[1] = __clz(1);
  out[2] = __ffs(8);
  out[3] = static_cast<int>(__brev(1u) >> 31);
  out[4] = __float_as_int(1.0f);
  out[5] = __int_as_float(0x40000000) == 2.0f;
  out[6] = __float2int_rn(2.5f);
  out[7] = __float2int_rn(3.5f);
  out[8] = static_cast<int>(__umulhi(0x80000000u, 4u));
  out[9] = __popcll(~0ull);
  out[10] = __clzll(1ll);
  out[11] = __double_as_longlong(__longlong_as_double(12345)) == 12345;
}

TEST(Simulator, BitAndConversionIntrinsics) {
  DeviceBuffer<int> out(12);
  run("bits", 1, 1, &bits, out.get());
  EXPECT_THAT(out.host(), ::testing::ElementsAre(8, 31, 4, 1, 0x3F800000, 1, 2, 4, 2, 64, 63, 1));
}

TEST(Simulator, VectorTypesHaveCudasSizesAndAlignment) {
  static_assert(sizeof(float4) == 16 && alignof(float4) == 16);
  static_assert(sizeof(float2) == 8 && alignof(float2) == 8);
  static_assert(sizeof(float3) == 12 && alignof(float3) == 4);
  static_assert(sizeof(int4) == 16 && alignof(int4) == 16);
  static_assert(sizeof(double2) == 16 && alignof(double2) == 16);
  static_assert(sizeof(uchar4) == 4 && alignof(uchar4) == 4);
  static_assert(sizeof(longlong2) == 16 && alignof(longlong2) == 16);
  const float4 v = make_float4(1, 2, 3, 4);
  EXPECT_EQ(v.x + v.y + v.z + v.w, 10.0f);
  const dim3 d(5);
  EXPECT_EQ(d.x * d.y * d.z, 5u);
}

INSTANTIATE_TEST_SUITE_P(Schedules, BothSchedules,
                         ::testing::Values(sim::Schedule::sequential, sim::Schedule::shuffled),
                         schedule_name);

}  // namespace
}  // namespace ember::simtest
