// The GPU devices beyond the registry's cases: the kernels' other paths (long rows,
// multi-block grids, more than 8 dims, every cast), index errors found on the device,
// transfers, and the cuda device's GEMM choices and memory statistics. Each test runs
// on sim and on cuda (skipped without a GPU).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "cuda_required.h"
#include "kernels/memory.h"
#include "tensor/backends.h"
#include "tensor/ops.h"

namespace ember::simtest {
namespace {

using ::testing::HasSubstr;

class DeviceOps : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam().is_cuda()) EMBER_SKIP_WITHOUT_CUDA();
  }
  Device dev() const { return GetParam(); }
  TensorOptions opts(DType dt = DType::f32) const { return {.dtype = dt, .device = dev()}; }
};

// Equal values, NaN equal to NaN, whatever the dtypes.
bool same_values(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.cpu().to_vector<double>(), y = b.cpu().to_vector<double>();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

// Compares a device result with the cpu's result of the same computation: same shape and
// dtype, NaN where the cpu has NaN, |a - b| <= tol * (1 + |b|) elsewhere.
void expect_close(const Tensor& device_result, const Tensor& cpu_result, double tol = 1e-5) {
  ASSERT_EQ(device_result.sizes(), cpu_result.sizes());
  ASSERT_EQ(device_result.dtype(), cpu_result.dtype());
  std::vector<double> x = device_result.cpu().to_vector<double>(), y = cpu_result.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < x.size() && bad < 5; ++i) {
    const bool ok = std::isnan(y[i]) ? std::isnan(x[i]) : std::fabs(x[i] - y[i]) <= tol * (1 + std::fabs(y[i]));
    if (!ok) ADD_FAILURE() << "element " << i << ": " << x[i] << " on " << device_result.device() << ", " << y[i]
                           << " on cpu (" << ++bad << ")";
  }
}

TEST_P(DeviceOps, ElementwiseOnMoreThanEightNonContiguousDims) {
  manual_seed(1);
  Tensor c = randn({2, 3, 2, 2, 3, 2, 2, 3, 2, 2});  // 10 dims
  Tensor d = c.to(dev());
  // A permutation defeats every merge of dims: the launch is split over the outer dims.
  const DimList perm{9, 0, 8, 1, 7, 2, 6, 3, 5, 4};
  expect_close((d.permute(perm) * 2.0f + 1.0f).exp(), (c.permute(perm) * 2.0f + 1.0f).exp());
  expect_close(d.permute(perm).contiguous(), c.permute(perm).contiguous(), 0.0);
}

TEST_P(DeviceOps, LargeElementwiseSpansManyBlocks) {
  manual_seed(2);
  Tensor c = randn({1000, 301}), e = randn({1, 301});
  Tensor d = c.to(dev()), f = e.to(dev());
  expect_close(d * f - d.sigmoid(), c * e - c.sigmoid());
  expect_close(d.slice(1, 1, 301, 3).tanh(), c.slice(1, 1, 301, 3).tanh());  // misaligned, strided
}

TEST_P(DeviceOps, EveryCastBetweenDtypes) {
  manual_seed(3);
  Tensor src = (randn({257}) * 40.0f).to(DType::f64);
  src.data_ptr<double>()[5] = std::numeric_limits<double>::quiet_NaN();  // NaN to integer: pinned
  src.data_ptr<double>()[6] = 1e30;                                       // out of range: pinned
  for (DType from : {DType::f32, DType::f64, DType::i64, DType::b8}) {
    Tensor c = src.to(from);
    Tensor d = c.to(dev());
    for (DType to : {DType::f32, DType::f64, DType::i64, DType::b8}) {
      Tensor want = c.to(to), got = d.to(to).cpu();
      ASSERT_EQ(got.dtype(), to);
      EXPECT_TRUE(same_values(got, want)) << from << " -> " << to;
    }
  }
}

TEST_P(DeviceOps, LongRowsUseTheBlockKernels) {
  manual_seed(4);
  Tensor c = randn({3, 5000});
  c.data_ptr<float>()[7000] = std::numeric_limits<float>::quiet_NaN();  // row 1
  Tensor d = c.to(dev());
  expect_close(d.sum({1}), c.sum({1}), 1e-4);
  expect_close(d.var({1}), c.var({1}), 1e-4);
  auto [dv, di] = d.max(1);
  auto [cv, ci] = c.max(1);
  EXPECT_TRUE(equal(di.cpu(), ci));
  EXPECT_TRUE(std::isnan(dv.cpu().data_ptr<float>()[1]));
  EXPECT_EQ(di.cpu().data_ptr<int64_t>()[1], 7000 - 5000);
  expect_close(d.softmax(1), c.softmax(1), 1e-6);
  expect_close(d.log_softmax(0), c.log_softmax(0), 1e-5);
}

TEST_P(DeviceOps, MaxMinTiesGiveTheFirstIndex) {
  Tensor c = full({2, 2000}, 3.0f);
  c.data_ptr<float>()[1500] = 5.0f;
  c.data_ptr<float>()[1700] = 5.0f;
  Tensor d = c.to(dev());
  EXPECT_EQ(d.argmax(1).cpu().to_vector<int64_t>(), (std::vector<int64_t>{1500, 0}));
  EXPECT_EQ(d.argmin(1).cpu().to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
}

TEST_P(DeviceOps, MatmulBatchedBroadcastAndTransposed) {
  manual_seed(5);
  Tensor a = randn({3, 1, 70, 130}), b = randn({4, 130, 90});
  expect_close(a.to(dev()).matmul(b.to(dev())), a.matmul(b), 1e-4);
  Tensor t = randn({130, 70}).t();                   // (70, 130), column-major
  Tensor u = b.select(0, 1).t().contiguous().t();    // (130, 90), column-major
  expect_close(t.to(dev()).matmul(u.to(dev())), t.matmul(u), 1e-4);
  Tensor a64 = randn({65, 33}, {.dtype = DType::f64}), b64 = randn({33, 17}, {.dtype = DType::f64});
  expect_close(a64.to(dev()).matmul(b64.to(dev())), a64.matmul(b64), 1e-12);
}

TEST_P(DeviceOps, OutOfRangeIndicesAreIndexErrors) {
  Tensor x = arange(12, opts()).reshape({3, 4});
  Tensor bad = from_vector<int64_t>({0, 3}, {2}).to(dev());
  try {
    (void)x.index_select(0, bad);
    FAIL() << "index_select accepted index 3 for size 3";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("index_select: index 3 is out of bounds for dim 0 with size 3"));
  }
  Tensor bad2 = from_vector<int64_t>({0, -1, 2, 1, 0, 0}, {3, 2}).to(dev());
  EXPECT_THROW((void)x.gather(1, bad2), IndexError);
  Tensor src = ones({3, 2}, opts());
  EXPECT_THROW((void)x.scatter_add(1, bad2, src), IndexError);
  Tensor good = from_vector<int64_t>({3, 0, 2, 1, 1, 1}, {3, 2}).to(dev());
  expect_close(x.scatter_add(1, good, src), x.cpu().scatter_add(1, good.cpu(), src.cpu()), 0.0);
  expect_close(x.gather(1, good), x.cpu().gather(1, good.cpu()), 0.0);
}

TEST_P(DeviceOps, RandomFillsOnNonContiguousTensors) {
  manual_seed(6);
  Tensor d = empty({50, 40}, opts()).t();
  d.uniform_(-1.0, 1.0);
  manual_seed(6);
  Tensor c = empty({50, 40}).t();
  c.uniform_(-1.0, 1.0);
  expect_close(d, c, 0.0);
}

TEST_P(DeviceOps, TransfersRoundTrip) {
  Tensor c = arange(1000, {.dtype = DType::f64}).reshape({10, 100});
  Tensor d = c.to(dev());
  EXPECT_EQ(d.device(), dev());
  expect_close(d.to(Device::sim()).to(dev()), c, 0.0);
  expect_close(d.slice(1, 3, 50, 7).cpu(), c.slice(1, 3, 50, 7), 0.0);
}

std::string device_name(const ::testing::TestParamInfo<Device>& p) { return p.param.is_cuda() ? "cuda" : "sim"; }

INSTANTIATE_TEST_SUITE_P(Devices, DeviceOps, ::testing::Values(Device::sim(), Device::cuda()), device_name);

// ---- cuda only ------------------------------------------------------------------------------

TEST(CudaDevice, TiledGemmMatchesCublas) {
  EMBER_SKIP_WITHOUT_CUDA();
#if EMBER_HAVE_CUDA
  manual_seed(7);
  Tensor a = randn({2, 300, 200}, {.device = Device::cuda()}), b = randn({200, 150}, {.device = Device::cuda()});
  const backends::GemmImpl before = backends::cuda::matmul;
  backends::cuda::matmul = backends::GemmImpl::cublas;
  Tensor by_cublas = a.matmul(b);
  backends::cuda::matmul = backends::GemmImpl::ember;
  Tensor by_tiled = a.matmul(b);
  backends::cuda::matmul = before;
  Tensor cpu = a.cpu().matmul(b.cpu());
  EXPECT_TRUE(allclose(by_cublas.cpu(), cpu, 1e-4, 1e-4));
  EXPECT_TRUE(allclose(by_tiled.cpu(), cpu, 1e-4, 1e-4));
#endif
}

TEST(CudaDevice, MemoryStatsAndCache) {
  EMBER_SKIP_WITHOUT_CUDA();
  empty_cache(DeviceType::cuda);
  const MemoryStats before = memory_stats(DeviceType::cuda);
  {
    Tensor t = empty({1 << 20}, {.device = Device::cuda()});  // 4 MiB
    const MemoryStats during = memory_stats(DeviceType::cuda);
    EXPECT_EQ(during.allocated_bytes - before.allocated_bytes, 4 << 20);
    EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
  }
  const MemoryStats after = memory_stats(DeviceType::cuda);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.reserved_bytes - before.reserved_bytes, 4 << 20) << "the block stays cached";
  { Tensor again = empty({1 << 20}, {.device = Device::cuda()}); }
  EXPECT_EQ(memory_stats(DeviceType::cuda).num_device_allocs, after.num_device_allocs) << "reused";
  empty_cache(DeviceType::cuda);
  const MemoryStats emptied = memory_stats(DeviceType::cuda);
  EXPECT_EQ(emptied.reserved_bytes, emptied.allocated_bytes) << "nothing cached";
}

TEST(CudaDevice, UnavailableWithoutAGpuButEverythingElseWorks) {
  if (backend_available(DeviceType::cuda)) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW((void)empty({2}, {.device = Device::cuda()}), DeviceError);
  EXPECT_EQ(Device::best(), Device::cpu());
  EXPECT_EQ((ones({2}, {.device = Device::sim()}) * 2.0f).cpu().to_vector<float>(), (std::vector<float>{2, 2}));
}

}  // namespace
}  // namespace ember::simtest
