// ember::set_flush_denormal: cpu kernels flush subnormal results and inputs to zero while it
// is on (the default), on the calling thread and on the OpenMP threads of their parallel
// loops, keep the caller's floating-point mode, and copy subnormals exactly either way.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <thread>
#include <vector>

#include "ember/ember.h"
#include "tests/tensor/omp_threads.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace ember {
namespace {

constexpr unsigned kFtzDaz = 0x8040;

// Restores the default mode at the end of a test, whatever it set.
struct FlushMode {
  ~FlushMode() { set_flush_denormal(true); }
};

// Every element of a.mul(b) for a = b = 1e-20 (product 1e-40, subnormal in f32), n
// elements: large enough that the loop runs on all threads.
std::vector<float> tiny_products(int64_t n) {
  const Tensor a = full({n}, 1e-20), b = full({n}, 1e-20);
  const Tensor c = (a * b).contiguous();
  const float* p = c.data_ptr<float>();
  return std::vector<float>(p, p + n);
}

#if defined(__SSE__) || defined(__x86_64__)

TEST(FlushDenormal, OnByDefaultAndSupportedOnX86) {
  const FlushMode restore;
  EXPECT_TRUE(is_flush_denormal_enabled());
  EXPECT_TRUE(set_flush_denormal(true));
}

TEST(FlushDenormal, EveryThreadFlushesWhileOnAndKeepsSubnormalsWhileOff) {
  const FlushMode restore;
  const testing_threads::Threads two(2);
  const int64_t n = int64_t{1} << 20;
  const float subnormal = 1e-20f * 1e-20f;  // computed here, without ember's mode
  ASSERT_EQ(std::fpclassify(subnormal), FP_SUBNORMAL);

  set_flush_denormal(false);
  for (float v : tiny_products(n)) ASSERT_EQ(v, subnormal);
  set_flush_denormal(true);
  int64_t nonzero = 0;
  for (float v : tiny_products(n)) nonzero += v != 0.0f;
  EXPECT_EQ(nonzero, 0) << "a thread of the parallel loop kept subnormals";
  set_flush_denormal(false);
  for (float v : tiny_products(n)) ASSERT_EQ(v, subnormal);
}

TEST(FlushDenormal, SubnormalInputsAreZeroForArithmeticButCopiedExactly) {
  const FlushMode restore;
  const float sub = std::numeric_limits<float>::denorm_min() * 1000.0f;
  const Tensor x = from_vector(std::vector<float>{sub, -sub, 1.0f});
  // Arithmetic reads the subnormal as zero: x + 0 and x * 2^20 lose it.
  const Tensor twice = (x * 1048576.0).contiguous();
  EXPECT_EQ(twice.data_ptr<float>()[0], 0.0f);
  EXPECT_EQ(twice.data_ptr<float>()[2], 1048576.0f);
  // Copies and conversions are exact.
  const Tensor c = x.clone(), d = x.to(DType::f64);
  EXPECT_EQ(c.data_ptr<float>()[0], sub);
  EXPECT_EQ(d.data_ptr<double>()[1], static_cast<double>(-sub));
  set_flush_denormal(false);
  const Tensor kept = (x * 1048576.0).contiguous();
  EXPECT_EQ(kept.data_ptr<float>()[0], sub * 1048576.0f);
}

TEST(FlushDenormal, TheCallersModeIsRestoredAfterEachKernel) {
  const FlushMode restore;
  const unsigned before = _mm_getcsr();
  ASSERT_EQ(before & kFtzDaz, 0u) << "the test process starts in IEEE mode";
  (void)tiny_products(int64_t{1} << 16);
  EXPECT_EQ(_mm_getcsr(), before);
  // A caller that flushes itself keeps flushing after ember's kernel (mode off).
  set_flush_denormal(false);
  _mm_setcsr(before | kFtzDaz);
  (void)tiny_products(16);
  EXPECT_EQ(_mm_getcsr(), before | kFtzDaz);
  _mm_setcsr(before);
}

TEST(FlushDenormal, AnOpenMpTeamStartedByTheProgramIsUpdated) {
  const FlushMode restore;
  // The program's own parallel region with a team size ember has not used yet: its new
  // threads start in the program's (IEEE) mode; ember's next kernel sets them.
  const testing_threads::Threads three(3);
  int started = 0;
#pragma omp parallel num_threads(3) reduction(+ : started)
  started += 1;
  ASSERT_EQ(started, 3);
  int64_t nonzero = 0;
  for (float v : tiny_products(int64_t{1} << 20)) nonzero += v != 0.0f;
  EXPECT_EQ(nonzero, 0);
}

TEST(FlushDenormal, AnotherThreadsTeamFlushesFromItsFirstParallelKernel) {
  const FlushMode restore;
  // A thread of the program (as a DataLoader worker is) that has not run a kernel yet:
  // its OpenMP team starts inside the kernel and takes the bits from it.
  int64_t nonzero = -1;
  std::thread worker([&] {
    const testing_threads::Threads two(2);
    nonzero = 0;
    for (float v : tiny_products(int64_t{1} << 20)) nonzero += v != 0.0f;
  });
  worker.join();
  EXPECT_EQ(nonzero, 0);
}

#endif  // x86

TEST(FlushDenormal, SimKeepsTheGpusSubnormals) {
  const FlushMode restore;
  const Tensor a = full({64}, 1e-20, {.device = Device::sim()});
  const Tensor c = (a * a).to(Device::cpu()).contiguous();
  EXPECT_EQ(c.data_ptr<float>()[0], 1e-20f * 1e-20f);
  EXPECT_NE(c.data_ptr<float>()[63], 0.0f);
}

}  // namespace
}  // namespace ember
