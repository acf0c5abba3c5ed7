// bf16/f16 in the nn primitives (issue 16), where the registry cannot say it: the cpu's
// vectorized row conversions against tensor/half.h's scalar ones bit for bit, and the
// dtypes a half model's norms and losses keep (running statistics in their buffers' dtype,
// the loss in the logits' dtype), on cpu and sim.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "ember/ember.h"
#include "kernels/cpu/half_rows.h"

namespace ember {
namespace {

namespace F = nn::functional;

float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Every 16-bit pattern widens as the scalar conversion does (NaNs compared by bits).
template <typename H>
void expect_widen_exact() {
  std::vector<H> in(65536 + 5);  // a tail past the 8-lane loop
  for (size_t i = 0; i < in.size(); ++i) in[i] = H::from_bits(static_cast<uint16_t>(i * 7 + 3));
  std::vector<float> out(in.size(), -7.0f);
  cpu::widen_row(in.data(), out.data(), static_cast<int64_t>(in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    const float want = static_cast<float>(in[i]);
    ASSERT_EQ(std::memcmp(&out[i], &want, sizeof want), 0) << "bits " << in[i].bits;
  }
}

// f32 patterns that reach every branch of the rounding: ties, carries into the exponent,
// f16 subnormals and underflow, overflow to inf, infinities, NaN payloads (both signs),
// then random ones.
std::vector<float> rounding_inputs() {
  std::vector<float> v;
  for (uint32_t e = 0; e < 256; ++e)
    for (uint32_t low : {0x0u, 0x1u, 0x7fffu, 0x8000u, 0x8001u, 0x18000u, 0xfffu, 0x1000u, 0x1001u,
                         0x3000u, 0x7fffffu, 0x400000u, 0x7fe000u, 0x7ff000u})
      for (uint32_t sign : {0x0u, 0x80000000u}) v.push_back(from_bits(sign | (e << 23) | low));
  std::mt19937 gen(16);
  for (int i = 0; i < 200000; ++i) v.push_back(from_bits(static_cast<uint32_t>(gen())));
  v.push_back(65519.0f);
  v.push_back(65520.0f);
  v.push_back(-65504.0f);
  return v;
}

template <typename H>
void expect_narrow_exact() {
  const std::vector<float> in = rounding_inputs();
  std::vector<H> out(in.size(), H::from_bits(0x1234));
  cpu::narrow_row(in.data(), out.data(), static_cast<int64_t>(in.size()));
  for (size_t i = 0; i < in.size(); ++i)
    ASSERT_EQ(out[i].bits, H(in[i]).bits) << "f32 " << in[i] << " at " << i;
}

// The same patterns without f32 subnormals, so that every block takes the 16-lane
// AVX512-BF16 code where the build has it (a subnormal sends the rest of a row to AVX2),
// then with one subnormal in the middle of a long row.
TEST(HalfRows, Bf16NarrowsAsTheScalarRoundingInEveryVectorPath) {
  std::vector<float> in;
  for (float f : rounding_inputs()) {
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    if ((b & 0x7f800000u) != 0 || (b & 0x7fffffu) == 0) in.push_back(f);
  }
  for (int round = 0; round < 2; ++round) {
    if (round == 1) in[in.size() / 2 + 5] = from_bits(0x00012345u);  // a subnormal
    std::vector<bf16> out(in.size(), bf16::from_bits(0x1234));
    cpu::narrow_row(in.data(), out.data(), static_cast<int64_t>(in.size()));
    for (size_t i = 0; i < in.size(); ++i)
      ASSERT_EQ(out[i].bits, bf16(in[i]).bits) << "f32 " << in[i] << " at " << i;
  }
}

// A strided and a contiguous f32 <-> bf16/f16 cast (the copy kernel's row path) give the
// scalar conversion's bits.
TEST(HalfRows, CastsThroughTheCopyKernelMatchTheScalarConversion) {
  const std::vector<float> v = rounding_inputs();
  Tensor x = from_vector(v, {static_cast<int64_t>(v.size())});
  for (DType dt : {DType::bf16, DType::f16}) {
    Tensor h = x.to(dt);
    Tensor hs = x.slice(0, 1, x.size(0), 3).to(dt);  // stride 3
    const auto* hp = static_cast<const uint16_t*>(h.raw_data());
    for (size_t i = 0; i < v.size(); ++i) {
      const uint16_t want = dt == DType::bf16 ? bf16(v[i]).bits : f16(v[i]).bits;
      ASSERT_EQ(hp[i], want) << to_string(dt) << " " << v[i] << " at " << i;
    }
    Tensor hsc = hs.contiguous();
    const auto* hsp = static_cast<const uint16_t*>(hsc.raw_data());
    for (int64_t i = 0; i < hs.size(0); ++i) {
      const float f = v[static_cast<size_t>(1 + 3 * i)];
      ASSERT_EQ(hsp[i], dt == DType::bf16 ? bf16(f).bits : f16(f).bits) << i;
    }
    // Back to f32: exact, NaN bits aside (compared as NaN).
    Tensor back = h.to(DType::f32);
    const std::vector<float> b = back.to_vector<float>();
    for (size_t i = 0; i < v.size(); ++i) {
      const float want =
          dt == DType::bf16 ? static_cast<float>(bf16(v[i])) : static_cast<float>(f16(v[i]));
      if (std::isnan(want)) {
        ASSERT_TRUE(std::isnan(b[i])) << i;
      } else {
        ASSERT_EQ(b[i], want) << i;
      }
    }
  }
}

TEST(HalfRows, Bf16WidensEveryPatternExactly) { expect_widen_exact<bf16>(); }
TEST(HalfRows, F16WidensEveryPatternExactly) { expect_widen_exact<f16>(); }
TEST(HalfRows, Bf16NarrowsAsTheScalarRounding) { expect_narrow_exact<bf16>(); }
TEST(HalfRows, F16NarrowsAsTheScalarRounding) { expect_narrow_exact<f16>(); }

class HalfNn : public ::testing::TestWithParam<std::tuple<Device, DType>> {};

// torch: a bf16 BatchNorm keeps bf16 running statistics, updated in f32 and rounded once.
TEST_P(HalfNn, BatchNormRunningStatsKeepTheirDtype) {
  const auto [device, dt] = GetParam();
  manual_seed(3);
  Tensor x = randn({6, 3, 4}, {.dtype = dt, .device = device});  // (N, C, S)
  Tensor rm = full({3}, 0.5, {.dtype = dt, .device = device});
  Tensor rv = full({3}, 2.0, {.dtype = dt, .device = device});
  Tensor y = F::batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5);
  EXPECT_EQ(y.dtype(), dt);
  EXPECT_EQ(rm.dtype(), dt);
  EXPECT_EQ(rv.dtype(), dt);
  // The f64 update from the same (16-bit) values, rounded once to the dtype.
  Tensor xd = x.to(DType::f64);
  const std::vector<double> mean = xd.mean({0, 2}).to(Device::cpu()).to_vector<double>();
  const std::vector<double> var = xd.var({0, 2}).to(Device::cpu()).to_vector<double>();
  const std::vector<double> got_m = rm.to(DType::f64).to(Device::cpu()).to_vector<double>();
  const std::vector<double> got_v = rv.to(DType::f64).to(Device::cpu()).to_vector<double>();
  const double ulp = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;  // an ulp at 1: above one rounding
  for (size_t c = 0; c < 3; ++c) {
    const double m = 0.9 * 0.5 + 0.1 * mean[c];  // unbiased variance, as torch's running_var
    const double v = 0.9 * 2.0 + 0.1 * var[c];
    EXPECT_NEAR(got_m[c], m, ulp) << c;
    EXPECT_NEAR(got_v[c], v, 2 * ulp) << c;
  }
}

// Batch norm's saved statistics are f32 for a half x: the differentiable backward
// (create_graph), which mixes them with x, still gives gradients in x's dtype (the engine
// casts them to their inputs' dtypes, as torch's) close to the fused backward's.
TEST_P(HalfNn, BatchNormDoubleBackwardMatchesTheFusedOne) {
  const auto [device, dt] = GetParam();
  manual_seed(6);
  const TensorOptions o{.dtype = dt, .device = device};
  Tensor x = randn({4, 3, 5}, o).requires_grad_();  // (N, C, S)
  Tensor w = (rand({3}, o) + 0.5).detach().requires_grad_();
  Tensor rm = zeros({3}, o), rv = ones({3}, o);
  Tensor g = randn({4, 3, 5}, o);
  Tensor y = F::batch_norm(x, rm, rv, w, Tensor(), false);  // eval
  autograd::TensorList plain = autograd::grad({y}, {x, w}, {g}, true);
  autograd::TensorList graph = autograd::grad({y}, {x, w}, {g}, true, true);
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(graph[i].dtype(), dt) << i;
    Tensor diff = (graph[i].to(DType::f64) - plain[i].to(DType::f64)).abs();
    Tensor bound = plain[i].to(DType::f64).abs() * (8 * eps) + 4 * eps;
    EXPECT_LE((diff - bound).max().item<double>(), 0.0) << i;
  }
}

// The loss of half logits is in their dtype (torch), computed in f32: within an ulp of f64.
TEST_P(HalfNn, CrossEntropyIsInTheLogitsDtype) {
  const auto [device, dt] = GetParam();
  manual_seed(4);
  Tensor logits = (randn({5, 7}, {.device = device}) * 3.0).to(dt);
  Tensor target = randint(0, 7, {5}, {.dtype = DType::i64, .device = device});
  Tensor loss = F::cross_entropy(logits, target);
  EXPECT_EQ(loss.dtype(), dt);
  const double want = F::cross_entropy(logits.to(DType::f64), target).item<double>();
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  EXPECT_NEAR(loss.item<double>(), want, 2 * eps * std::fabs(want));
}

// softmax's backward in bf16/f16 (a composite of half ops) within the registry's tolerance.
TEST_P(HalfNn, SoftmaxBackwardNearF64) {
  const auto [device, dt] = GetParam();
  manual_seed(5);
  Tensor x = randn({4, 9}, {.dtype = dt, .device = device}).requires_grad_();
  Tensor g = randn({4, 9}, {.dtype = dt, .device = device});
  Tensor gx = autograd::grad({softmax(x, 1)}, {x}, {g})[0];
  EXPECT_EQ(gx.dtype(), dt);
  Tensor xd = x.detach().to(DType::f64).requires_grad_();
  Tensor want = autograd::grad({softmax(xd, 1)}, {xd}, {g.to(DType::f64)})[0];
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  // The registry's bf16/f16 tolerance: |got - want| <= eps + 4 eps |want|.
  Tensor excess = (gx.to(DType::f64) - want).abs() - (want.abs() * (4 * eps) + eps);
  EXPECT_LE(excess.max().item<double>(), 0.0);
}

// Bilinear upsampling, which refused 16-bit inputs before halfnn2 (issue 16), keeps the
// dtype and equals the f32 resize of the same values rounded once.
TEST_P(HalfNn, BilinearUpsamplingRunsInTheDtype) {
  const auto [device, dt] = GetParam();
  Tensor x = randn({1, 2, 4, 5}, {.dtype = dt, .device = device});
  Tensor y = F::interpolate(x, {.size = {8, 9}, .mode = "bilinear"});
  EXPECT_EQ(y.dtype(), dt);
  Tensor want = F::interpolate(x.to(DType::f32), {.size = {8, 9}, .mode = "bilinear"}).to(dt);
  EXPECT_EQ((y.to(DType::f32) - want.to(DType::f32)).abs().max().item<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Devices, HalfNn,
                         ::testing::Combine(::testing::Values(Device::cpu(), Device::sim()),
                                            ::testing::Values(DType::bf16, DType::f16)));

}  // namespace
}  // namespace ember
