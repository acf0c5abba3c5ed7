// Kernel bugs the simulator must catch: a missing barrier (the shuffled schedule turns
// it into a wrong answer), a write past an allocation (guard bytes, or AddressSanitizer
// in sanitizer builds), a barrier some threads never reach, a warp operation that can
// never complete, and __trap(). Every error names the kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kernels/sim/fiber.h"
#include "sim_test_util.h"
#include "tensor/error.h"

namespace ember::simtest {
namespace {

using ::testing::HasSubstr;

// Each thread publishes its value and reads its left neighbour's. `with_barrier` false
// is the planted bug: in thread order the neighbour has always written already, so only
// a different order exposes it.
__global__ void shift_right(const int* in, int* out, bool with_barrier) {
  __shared__ int s[256];
  const int t = static_cast<int>(threadIdx.x);
  s[t] = in[t];
  if (with_barrier) __syncthreads();
  out[t] = t == 0 ? 0 : s[t - 1];
}

// Static __shared__ memory keeps its contents from one block to the next (on a GPU it
// is undefined), so every call uses new values: a stale read is a wrong read.
int wrong_elements(sim::Schedule schedule, bool with_barrier) {
  static int salt = 0;
  salt += 1000;
  sim::ScheduleGuard guard(schedule, 1234);
  std::vector<int> h(256);
  for (int i = 0; i < 256; ++i) h[i] = salt + i;
  DeviceBuffer<int> in(h), out(256);
  run("shift_right", 1, 256, &shift_right, in.get(), out.get(), with_barrier);
  std::vector<int> r = out.host();
  int wrong = 0;
  for (int i = 1; i < 256; ++i) wrong += r[i] != salt + i - 1;
  return wrong;
}

TEST(PlantedBugs, MissingBarrierIsCaughtByTheShuffledSchedule) {
  EXPECT_EQ(wrong_elements(sim::Schedule::sequential, true), 0);
  EXPECT_EQ(wrong_elements(sim::Schedule::shuffled, true), 0);
  EXPECT_EQ(wrong_elements(sim::Schedule::sequential, false), 0) << "the bug hides in thread order";
  EXPECT_GT(wrong_elements(sim::Schedule::shuffled, false), 50)
      << "the shuffled schedule must expose it";
}

__global__ void write_one_past_the_end(float* out, int n) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i <= n) out[i] = 1.0f;  // the planted bug: <= instead of <
}

#if EMBER_HAS_ASAN
TEST(PlantedBugsDeathTest, OutOfBoundsWriteIsReportedByAddressSanitizer) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(100);
        run("write_one_past_the_end", 1, 128, &write_one_past_the_end, out.get(), 100);
      },
      "AddressSanitizer");
}
#else
TEST(PlantedBugs, OutOfBoundsWriteIsCaughtByTheGuardBytes) {
  DeviceBuffer<float> out(100);
  try {
    run("write_one_past_the_end", 1, 128, &write_one_past_the_end, out.get(), 100);
    FAIL() << "the write past the end went unnoticed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("write_one_past_the_end"));
    EXPECT_THAT(e.what(), HasSubstr("400-byte allocation"));
    EXPECT_THAT(e.what(), HasSubstr("byte 0 past its end"));
  }
  // The guard is restored: the next launch is clean.
  EXPECT_NO_THROW(run("write_one_past_the_end", 1, 128, &write_one_past_the_end, out.get(), 99));
}
#endif

__global__ void early_exit_then_barrier(int* out) {
  if (threadIdx.x >= 16) return;  // the planted bug: these threads skip the barrier
  __syncthreads();
  out[threadIdx.x] = 1;
}

TEST(PlantedBugs, DivergentBarrierIsAnError) {
  DeviceBuffer<int> out(64);
  try {
    run("early_exit_then_barrier", 2, 64, &early_exit_then_barrier, out.get());
    FAIL() << "a barrier reached by 16 of 64 threads passed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("early_exit_then_barrier"));
    EXPECT_THAT(e.what(), HasSubstr("divergent barrier"));
    EXPECT_THAT(e.what(), HasSubstr("reached by 16 of 64 threads"));
  }
  // The simulator recovers: the abandoned fibers are reset for the next launch.
  EXPECT_NO_THROW(run("early_exit_then_barrier_fixed", 1, 16, &early_exit_then_barrier, out.get()));
}

__global__ void shuffle_against_barrier(int* out) {
  if (threadIdx.x == 5) {
    __syncthreads();  // the planted bug: lane 5 never joins the shuffle
  } else {
    out[threadIdx.x] = __shfl_xor_sync(0xFFFFFFFFu, static_cast<int>(threadIdx.x), 1);
    __syncthreads();
  }
}

TEST(PlantedBugs, WarpOperationThatCannotCompleteIsADeadlockError) {
  DeviceBuffer<int> out(32);
  try {
    run("shuffle_against_barrier", 1, 32, &shuffle_against_barrier, out.get());
    FAIL() << "a deadlocked warp passed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("shuffle_against_barrier"));
    EXPECT_THAT(e.what(), HasSubstr("deadlock"));
    EXPECT_THAT(e.what(), HasSubstr("__shfl_xor_sync"));
  }
}

__global__ void traps(int n) {
  if (static_cast<int>(threadIdx.x) == n) __trap();
}

TEST(PlantedBugs, TrapIsAnErrorNamingTheThread) {
  try {
    run("traps", 1, 32, &traps, 3);
    FAIL() << "__trap() passed";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("traps"));
    EXPECT_THAT(e.what(), HasSubstr("thread (3,0,0)"));
  }
}

__global__ void mismatched_warp_ops(int* out) {
  if (threadIdx.x % 2 == 0) {
    out[threadIdx.x] = static_cast<int>(__ballot_sync(0xFFFFFFFFu, 1));
  } else {
    out[threadIdx.x] = __shfl_sync(0xFFFFFFFFu, 1, 0);
  }
}

TEST(PlantedBugs, LanesMeetingAtDifferentWarpOperationsIsAnError) {
  DeviceBuffer<int> out(32);
  try {
    run("mismatched_warp_ops", 1, 32, &mismatched_warp_ops, out.get());
    FAIL() << "lanes at __ballot_sync and __shfl_sync were paired";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("mismatched_warp_ops"));
  }
}

}  // namespace
}  // namespace ember::simtest
