// The cpu fast paths behind the ResNet training step (issue 19, resnet): where's
// unit-stride selects (autograd's where(mask, g, 0) behind ReluBackward), with a and b each
// a full run or one broadcast value, on 1 and 2 threads, large enough to be split over
// threads, against an elementwise reference. Random inputs; the output's block from the
// host cache is poisoned with NaN first.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>

#include <string>
#include <vector>

#include "ember/ember.h"
#include "omp_threads.h"
#include "tensor/profiler.h"

namespace ember {
namespace {

using testing_threads::Threads;

constexpr int64_t kRows = 129, kCols = 517;  // 66693 elements: over the parallel grain

// where(cond, a, b) for (rows, cols) operands, a and b either full or 0-dim.
void check_where(bool a_full, bool b_full, DType dt) {
  SCOPED_TRACE(testing::Message() << "a_full=" << a_full << " b_full=" << b_full << " " << dt);
  TensorOptions o;
  o.dtype = dt;
  const Tensor cond = randn({kRows, kCols}) > 0.3;
  const Tensor a = a_full ? randn({kRows, kCols}, o) : randn({}, o);
  const Tensor b = b_full ? randn({kRows, kCols}, o) : randn({}, o);
  { Tensor poison = full({kRows, kCols}, std::nan(""), o); }  // its block becomes the output
  const Tensor out = where(cond, a, b);
  ASSERT_EQ(out.sizes(), (Shape{kRows, kCols}));
  const Tensor ae = a.expand({kRows, kCols}).contiguous().to(DType::f64);
  const Tensor be = b.expand({kRows, kCols}).contiguous().to(DType::f64);
  const Tensor oc = out.to(DType::f64), cc = cond.contiguous();
  const double* pa = ae.data_ptr<double>();
  const double* pb = be.data_ptr<double>();
  const double* po = oc.data_ptr<double>();
  const bool* pc = cc.data_ptr<bool>();
  int64_t bad = 0, taken = 0;
  for (int64_t i = 0; i < kRows * kCols; ++i) {
    const double want = pc[i] ? pa[i] : pb[i];
    taken += pc[i] ? 1 : 0;
    if (!(po[i] == want) && bad++ < 5)
      ADD_FAILURE() << "out[" << i << "] = " << po[i] << ", expected " << want;
  }
  EXPECT_EQ(bad, 0);
  EXPECT_GT(taken, 0);  // both branches were exercised
  EXPECT_LT(taken, kRows * kCols);
}

TEST(ResNetStepKernels, WhereUnitStrideSelects) {
  for (int threads : {1, 2}) {
    Threads t(threads);
    for (DType dt : {DType::f32, DType::f64})
      for (bool a_full : {true, false})
        for (bool b_full : {true, false}) check_where(a_full, b_full, dt);
  }
}

// ReluBackward's gradient goes through the select with b = 0: dx = g where y > 0.
TEST(ResNetStepKernels, ReluBackwardMasksTheGradient) {
  Threads t(2);
  const Tensor x = randn({kRows, kCols}).requires_grad_();
  const Tensor g = randn({kRows, kCols});
  const Tensor dx = autograd::grad({relu(x)}, {x}, {g})[0];
  const Tensor xc = x.detach().contiguous();
  const float* px = xc.data_ptr<float>();
  const float* pg = g.data_ptr<float>();
  const float* pd = dx.data_ptr<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < kRows * kCols; ++i) {
    const float want = px[i] > 0 ? pg[i] : 0.0f;
    if (!(pd[i] == want) && bad++ < 5)
      ADD_FAILURE() << "dx[" << i << "] = " << pd[i] << ", expected " << want;
  }
  EXPECT_EQ(bad, 0);
}

// The pooling backward's event keeps its name until the profiler stops: it used to point
// into a std::string freed when the op returned, so the table printed whatever reused it.
TEST(ResNetStepKernels, PoolBackwardProfilerName) {
  const char* kNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789 ";
  const Tensor x = randn({4, 8, 7, 7}).requires_grad_();
  profiler::start();
  nn::functional::adaptive_avg_pool2d(x, {1, 1}).sum().backward();
  // Strings of the freed name's size, so the allocator hands its block out again.
  std::vector<std::string> reuse;
  for (int i = 0; i < 64; ++i) reuse.emplace_back(28, '#');
  profiler::stop();
  bool found = false;
  for (const profiler::EventStats& e : profiler::key_averages()) {
    EXPECT_EQ(e.name.find_first_not_of(kNameChars), std::string::npos) << "event name " << e.name;
    found = found || e.name == "ember::adaptive_avg_pool2d_backward";
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace ember
