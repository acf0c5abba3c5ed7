// Scans, sorting, sampling and vector norms of bf16/f16 tensors (issue 16, halfcases), on
// cpu and sim: each kernel computes in f32 and rounds once, so a 16-bit result is bit-equal
// to the device's f32 result (on the exactly widened inputs) rounded to the dtype. The
// registry's cases compare the same ops with an f64 reference within a tolerance; these
// tests pin the rounding down (one rounding per output, not one per step of a scan).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <ember/ember.h>

namespace ember {
namespace {

std::vector<Device> devices() { return {Device::cpu(), Device::sim()}; }

std::vector<uint16_t> bits_of(const Tensor& t) {
  Tensor h = t.to(Device::cpu()).contiguous();
  std::vector<uint16_t> out(static_cast<size_t>(h.numel()));
  std::memcpy(out.data(), h.raw_data(), out.size() * 2);
  return out;
}

std::vector<int64_t> ints_of(const Tensor& t) {
  return t.to(Device::cpu()).contiguous().to_vector<int64_t>();
}

// The 16-bit result equals the f32 one rounded once, bit for bit (NaNs included).
void expect_rounded_f32(const char* what, const Tensor& got, const Tensor& f32_result) {
  ASSERT_EQ(got.dtype(), got.dtype() == DType::bf16 ? DType::bf16 : DType::f16) << what;
  ASSERT_EQ(got.sizes(), f32_result.sizes()) << what;
  EXPECT_EQ(bits_of(got), bits_of(f32_result.to(got.dtype()))) << what;
}

// Lines short (the line kernels) and long (sim's block kernel: K >= 64 and few lines,
// several tiles of 256), along the last and a middle dim, forward and reversed.
TEST(HalfScans, CumsumAndCumprodRoundOnceFromAnF32RunningValue) {
  for (Device dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(dev.str() + " " + std::string(to_string(dt)));
      manual_seed(3);
      const Tensor a = randn({3, 700}, {.dtype = dt, .device = dev});
      const Tensor b = randn({4, 9, 5}, {.dtype = dt, .device = dev});
      // cumprod factors near 1 in magnitude, so 700 of them neither vanish nor overflow
      const Tensor p = rand({3, 700}, {.dtype = dt, .device = dev}) * 0.1 + 0.95;
      expect_rounded_f32("cumsum long", cumsum(a, 1), cumsum(a.to(DType::f32), 1));
      expect_rounded_f32("cumsum mid dim", cumsum(b, 1), cumsum(b.to(DType::f32), 1));
      expect_rounded_f32("cumsum strided", cumsum(b.transpose(0, 2), 2),
                         cumsum(b.to(DType::f32).transpose(0, 2), 2));
      expect_rounded_f32("cumprod long", cumprod(p, 1), cumprod(p.to(DType::f32), 1));
      expect_rounded_f32("cumprod mid dim", cumprod(b, 1), cumprod(b.to(DType::f32), 1));
      // A 16-bit accumulator would drift: the sum of 700 normals is off by many ulps then.
      const double last = cumsum(a, 1).select(1, 699).to(DType::f64).sum().item<double>();
      const double exact = a.to(DType::f64).sum().item<double>();
      EXPECT_NEAR(last, exact, 3 * 4 * 0x1p-7 * (std::fabs(exact) + 1));
    }
}

// The backward of cumsum is a reversed cumsum of the gradient: the 16-bit leaf receives a
// 16-bit gradient, here g = 1, so d sum(cumsum(x)) / dx[k] = K - k exactly.
TEST(HalfScans, CumsumGradientReachesTheSixteenBitLeaf) {
  for (Device dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      Tensor x = randn({2, 6}, {.dtype = dt, .device = dev}).requires_grad_();
      cumsum(x, 1).sum().backward();
      ASSERT_TRUE(x.grad().defined());
      EXPECT_EQ(x.grad().dtype(), dt);
      const std::vector<double> g = x.grad().to(DType::f64).to(Device::cpu()).to_vector<double>();
      for (size_t i = 0; i < g.size(); ++i) EXPECT_EQ(g[i], static_cast<double>(6 - i % 6)) << i;
    }
}

// Keys compare as their exact f32 widening: the order (ties by index, NaN the largest) and
// so the indices are those of the f32 sort, and the values are the inputs moved, bit for bit.
TEST(HalfSorts, SortTopkAndArgsortOrderAsTheFloatValues) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (Device dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(dev.str() + " " + std::string(to_string(dt)));
      manual_seed(4);
      for (int64_t n : {int64_t{37}, int64_t{2100}}) {  // sim: bitonic, then the rank kernel
        Tensor x = randn({3, n}, {.dtype = dt, .device = dev});
        // ties (rounded small values repeat) and NaNs
        x = where(rand({3, n}, {.device = dev}) >= 0.1, round(x * 2.0) / 2.0, Scalar(nan));
        ASSERT_EQ(x.dtype(), dt);
        const Tensor x32 = x.to(DType::f32);
        for (bool desc : {false, true}) {
          auto [v, i] = sort(x, 1, desc);
          auto [v32, i32] = sort(x32, 1, desc);
          expect_rounded_f32("sort values", v, v32);
          EXPECT_EQ(ints_of(i), ints_of(i32)) << "sort indices n=" << n << " desc=" << desc;
          EXPECT_EQ(ints_of(argsort(x, 1, desc)), ints_of(i32)) << "argsort";
          auto [tv, ti] = topk(x, 5, 1, desc);
          auto [tv32, ti32] = topk(x32, 5, 1, desc);
          expect_rounded_f32("topk values", tv, tv32);
          EXPECT_EQ(ints_of(ti), ints_of(ti32)) << "topk indices";
        }
      }
    }
}

// Weights widen exactly and their running sums are f64 as for f32: the same draws.
TEST(HalfSorts, MultinomialDrawsAsTheWidenedWeights) {
  for (Device dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      Tensor w = rand({4, 33}, {.dtype = dt, .device = dev}) + 0.01;
      for (bool replacement : {true, false}) {
        manual_seed(9);
        const Tensor got = multinomial(w, 20, replacement);
        manual_seed(9);
        const Tensor want = multinomial(w.to(DType::f32), 20, replacement);
        EXPECT_EQ(got.dtype(), DType::i64);
        EXPECT_EQ(ints_of(got), ints_of(want)) << dev.str() << " " << to_string(dt);
      }
    }
}

// |x|^p summed in f32: an f16 x of magnitude ~1000 has x^2 past f16's 65504, and x^-2 of a
// small x past it too; a norm computed in 16-bit steps would be inf (or 0) there.
TEST(HalfNorms, VectorNormSumsPowersInF32AndRoundsOnce) {
  for (Device dev : devices())
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(dev.str() + " " + std::string(to_string(dt)));
      manual_seed(6);
      const Tensor big = randn({4, 50}, {.dtype = dt, .device = dev}) * 1000.0;
      const Tensor small = randn({4, 50}, {.dtype = dt, .device = dev}) * 0.001;
      for (double ord : {2.0, 3.0, -2.0, 0.5}) {
        for (const Tensor& x : {big, small}) {
          if (ord == 0.5 && x.is_same(big)) continue;  // (sum |x|^0.5)^2 ~ 2e6: past f16 itself
          const Tensor y = linalg::vector_norm(x, ord, {1});
          expect_rounded_f32("vector_norm", y, linalg::vector_norm(x.to(DType::f32), ord, {1}));
          for (double v : y.to(DType::f64).to(Device::cpu()).to_vector<double>())
            EXPECT_TRUE(std::isfinite(v) && v > 0) << "ord " << ord << ": " << v;
        }
      }
      // The gradient x / |x| reaches the 16-bit leaf in its dtype.
      Tensor x = big.detach().clone().requires_grad_();
      linalg::vector_norm(x, 2.0).backward();
      ASSERT_TRUE(x.grad().defined());
      EXPECT_EQ(x.grad().dtype(), dt);
      const Tensor x64 = big.to(DType::f64);
      const Tensor want = x64 / linalg::vector_norm(x64, 2.0);
      EXPECT_TRUE(allclose(x.grad().to(DType::f64), want, 4 * 0x1p-7, 1e-3));
    }
}

}  // namespace
}  // namespace ember
