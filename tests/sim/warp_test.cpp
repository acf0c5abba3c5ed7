// Warp operations on the simulator: shuffles (every variant, sub-warp widths, every
// shuffled type), votes, partial masks and __syncwarp, in both schedules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "sim_test_util.h"

namespace ember::simtest {
namespace {

constexpr int kThreads = 64;  // two warps

// Per thread, 8 results: idx (width 32 and 8), up, down (width 16), xor (width 32 and 4),
// and the value read by a lane two warps of shuffles later (generations stay apart).
__global__ void shuffles(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  const int v = t * 10;
  int* o = out + t * 8;
  o[0] = __shfl_sync(0xFFFFFFFFu, v, 3);
  o[1] = __shfl_sync(0xFFFFFFFFu, v, 5, 8);
  o[2] = __shfl_up_sync(0xFFFFFFFFu, v, 2);
  o[3] = __shfl_down_sync(0xFFFFFFFFu, v, 3, 16);
  o[4] = __shfl_xor_sync(0xFFFFFFFFu, v, 1);
  o[5] = __shfl_xor_sync(0xFFFFFFFFu, v, 2, 4);
  int w = __shfl_xor_sync(0xFFFFFFFFu, v, 16);
  w = __shfl_xor_sync(0xFFFFFFFFu, w, 16);  // back to itself
  o[6] = w;
  o[7] = __shfl_down_sync(0xFFFFFFFFu, v, 31);
}

class WarpOps : public ::testing::TestWithParam<sim::Schedule> {};

TEST_P(WarpOps, ShuffleVariantsAndWidths) {
  sim::ScheduleGuard guard(GetParam());
  DeviceBuffer<int> out(kThreads * 8);
  run("shuffles", 1, kThreads, &shuffles, out.get());
  std::vector<int> h = out.host();
  for (int t = 0; t < kThreads; ++t) {
    const int lane = t % 32, warp = t / 32 * 32;
    const int* o = &h[t * 8];
    EXPECT_EQ(o[0], (warp + 3) * 10) << t;
    EXPECT_EQ(o[1], (warp + lane / 8 * 8 + 5) * 10) << t;
    EXPECT_EQ(o[2], (lane >= 2 ? t - 2 : t) * 10) << t;
    EXPECT_EQ(o[3], (lane % 16 + 3 < 16 ? t + 3 : t) * 10) << t;
    EXPECT_EQ(o[4], (t ^ 1) * 10) << t;
    EXPECT_EQ(o[5], (t ^ 2) * 10) << t;
    EXPECT_EQ(o[6], t * 10) << t;
    EXPECT_EQ(o[7], (lane == 0 ? t + 31 : t) * 10) << t;
  }
}

template <typename T>
__global__ void shuffle_type(T* out) {
  const auto t = static_cast<int>(threadIdx.x);
  T v = static_cast<T>(t) + static_cast<T>(0.5);
  out[t] = __shfl_xor_sync(0xFFFFFFFFu, v, 7);
}

TEST_P(WarpOps, ShufflesEveryType) {
  sim::ScheduleGuard guard(GetParam());
  DeviceBuffer<float> f(32);
  DeviceBuffer<double> d(32);
  DeviceBuffer<long long> ll(32);
  DeviceBuffer<unsigned> u(32);
  run("shuffle_float", 1, 32, &shuffle_type<float>, f.get());
  run("shuffle_double", 1, 32, &shuffle_type<double>, d.get());
  run("shuffle_ll", 1, 32, &shuffle_type<long long>, ll.get());
  run("shuffle_unsigned", 1, 32, &shuffle_type<unsigned>, u.get());
  for (int t = 0; t < 32; ++t) {
    EXPECT_EQ(f.host()[t], static_cast<float>(t ^ 7) + 0.5f);
    EXPECT_EQ(d.host()[t], static_cast<double>(t ^ 7) + 0.5);
    EXPECT_EQ(ll.host()[t], t ^ 7);
    EXPECT_EQ(u.host()[t], static_cast<unsigned>(t ^ 7));
  }
}

// A warp sum with __shfl_down_sync, the reduction idiom of the kernels.
__global__ void warp_sum(const float* in, float* out) {
  float v = in[threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xFFFFFFFFu, v, offset);
  if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

TEST_P(WarpOps, WarpReduction) {
  sim::ScheduleGuard guard(GetParam());
  std::vector<float> h(128);
  for (int i = 0; i < 128; ++i) h[i] = static_cast<float>(i);
  DeviceBuffer<float> in(h), out(4);
  run("warp_sum", 1, 128, &warp_sum, in.get(), out.get());
  for (int w = 0; w < 4; ++w)
    EXPECT_EQ(out.host()[w], static_cast<float>(32 * 32 * w + 31 * 32 / 2)) << w;
}

__global__ void votes(unsigned* out) {
  const int t = static_cast<int>(threadIdx.x);
  // The lanes that have not exited: all of them, before the first warp operation.
  out[t * 5 + 4] = __activemask();
  out[t * 5 + 0] = __ballot_sync(0xFFFFFFFFu, t % 3 == 0);
  out[t * 5 + 1] = static_cast<unsigned>(__any_sync(0xFFFFFFFFu, t == 40));
  out[t * 5 + 2] = static_cast<unsigned>(__all_sync(0xFFFFFFFFu, t < 48));
  __syncwarp();
  // Lanes 0..15 vote among themselves; lanes 16..31 among themselves.
  const unsigned half = (t % 32) < 16 ? 0x0000FFFFu : 0xFFFF0000u;
  out[t * 5 + 3] = __ballot_sync(half, t % 2 == 0);
}

TEST_P(WarpOps, VotesAndPartialMasks) {
  sim::ScheduleGuard guard(GetParam());
  DeviceBuffer<unsigned> out(kThreads * 5);
  run("votes", 1, kThreads, &votes, out.get());
  std::vector<unsigned> h = out.host();
  for (int t = 0; t < kThreads; ++t) {
    const int warp = t / 32;
    unsigned expect_ballot = 0;
    for (int l = 0; l < 32; ++l) expect_ballot |= ((warp * 32 + l) % 3 == 0 ? 1u : 0u) << l;
    EXPECT_EQ(h[t * 5 + 0], expect_ballot) << t;
    EXPECT_EQ(h[t * 5 + 1], warp == 1 ? 1u : 0u) << t;
    EXPECT_EQ(h[t * 5 + 2], warp == 0 ? 1u : 0u) << t;
    EXPECT_EQ(h[t * 5 + 3], (t % 32) < 16 ? 0x00005555u : 0x55550000u) << t;
    EXPECT_EQ(h[t * 5 + 4], 0xFFFFFFFFu) << t;
  }
}

// A partial last warp (40 threads: the second warp has 8 lanes) and exited lanes: the
// operation waits for the live lanes only, and a shuffle from a lane that does not take
// part yields all one bits.
__global__ void partial_warp(int* out) {
  const int t = static_cast<int>(threadIdx.x);
  if (t % 32 >= 4 && t < 32) return;  // warp 0 keeps lanes 0..3
  out[t] = __shfl_down_sync(0xFFFFFFFFu, t, 4);
}

TEST_P(WarpOps, PartialAndExitedLanes) {
  sim::ScheduleGuard guard(GetParam());
  DeviceBuffer<int> out(40);
  run("partial_warp", 1, 40, &partial_warp, out.get());
  std::vector<int> h = out.host();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(h[t], -1) << t;  // lanes 4..7 exited
  for (int t = 32; t < 36; ++t) EXPECT_EQ(h[t], t + 4) << t;
  for (int t = 36; t < 40; ++t) EXPECT_EQ(h[t], -1) << t;  // lanes 8..11 do not exist
}

INSTANTIATE_TEST_SUITE_P(Schedules, WarpOps,
                         ::testing::Values(sim::Schedule::sequential, sim::Schedule::shuffled),
                         schedule_name);

}  // namespace
}  // namespace ember::simtest
