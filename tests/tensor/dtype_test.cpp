// The dtypes of issue 16 (bf16, f16, i32, i8, u8): limits, promotion, casts on cpu and sim
// (every 16-bit pattern, rounding against an f64 reference), factories, item, printing and
// the autograd of `.to(dtype)`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <sstream>
#include <vector>

#include <ember/ember.h>

#include "tensor/finfo.h"
#include "tensor/raw.h"

namespace ember {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr DType kAll[] = {DType::b8,  DType::u8,   DType::i8,  DType::i32, DType::i64,
                          DType::f16, DType::bf16, DType::f32, DType::f64};

std::vector<Device> devices() { return {Device::cpu(), Device::sim()}; }

TEST(DTypes, NamesSizesAndKinds) {
  EXPECT_EQ(to_string(DType::bf16), "bf16");
  EXPECT_EQ(to_string(DType::f16), "f16");
  EXPECT_EQ(to_string(DType::i32), "i32");
  EXPECT_EQ(to_string(DType::i8), "i8");
  EXPECT_EQ(to_string(DType::u8), "u8");
  EXPECT_EQ(element_size(DType::bf16), 2u);
  EXPECT_EQ(element_size(DType::f16), 2u);
  EXPECT_EQ(element_size(DType::i32), 4u);
  EXPECT_EQ(element_size(DType::i8), 1u);
  EXPECT_EQ(element_size(DType::u8), 1u);
  EXPECT_TRUE(is_floating(DType::bf16) && is_floating(DType::f16));
  EXPECT_FALSE(is_integral(DType::f16) || is_integral(DType::bf16));
  EXPECT_TRUE(is_integral(DType::i32) && is_integral(DType::i8) && is_integral(DType::u8));
  EXPECT_FALSE(is_floating(DType::u8));
}

// torch.finfo / torch.iinfo's numbers.
TEST(DTypes, FinfoAndIinfo) {
  EXPECT_EQ(finfo(DType::bf16).eps, 0.0078125);
  EXPECT_EQ(finfo(DType::bf16).max, 3.3895313892515355e+38);
  EXPECT_EQ(finfo(DType::bf16).tiny, 1.1754943508222875e-38);
  EXPECT_EQ(finfo(DType::f16).eps, 0.0009765625);
  EXPECT_EQ(finfo(DType::f16).max, 65504.0);
  EXPECT_EQ(finfo(DType::f16).min, -65504.0);
  EXPECT_EQ(finfo(DType::f16).tiny, 6.103515625e-05);
  EXPECT_EQ(finfo(DType::f32).eps, 1.1920928955078125e-07);
  EXPECT_EQ(finfo(DType::f16).bits, 16);
  EXPECT_EQ(finfo(DType::f64).bits, 64);
  // The largest finite values survive a cast, the next rounding step does not.
  EXPECT_EQ(float(f16(65504.0f)), 65504.0f);
  EXPECT_TRUE(std::isinf(float(f16(65520.0f))));
  EXPECT_EQ(float(bf16(static_cast<float>(finfo(DType::bf16).max))), finfo(DType::bf16).max);
  EXPECT_EQ(iinfo(DType::u8).max, 255);
  EXPECT_EQ(iinfo(DType::u8).min, 0);
  EXPECT_EQ(iinfo(DType::i8).min, -128);
  EXPECT_EQ(iinfo(DType::i32).max, 2147483647);
  EXPECT_EQ(iinfo(DType::i64).bits, 64);
  EXPECT_THROW(finfo(DType::i32), DTypeError);
  EXPECT_THROW(iinfo(DType::f16), DTypeError);
  EXPECT_THROW(iinfo(DType::b8), DTypeError);
}

// torch.promote_types over {bool, uint8, int8, int32, int64, float16, bfloat16, float32,
// float64} in kAll's order, except u8 + i8, which is int16 in torch and i32 here.
TEST(DTypes, PromotionTableIsTorchs) {
  using D = DType;
  const D b = D::b8, u = D::u8, c = D::i8, i = D::i32, l = D::i64, h = D::f16, r = D::bf16,
          f = D::f32, d = D::f64;
  const D table[9][9] = {
      {b, u, c, i, l, h, r, f, d},  // b8
      {u, u, i, i, l, h, r, f, d},  // u8
      {c, i, c, i, l, h, r, f, d},  // i8
      {i, i, i, i, l, h, r, f, d},  // i32
      {l, l, l, l, l, h, r, f, d},  // i64
      {h, h, h, h, h, h, f, f, d},  // f16
      {r, r, r, r, r, f, r, f, d},  // bf16
      {f, f, f, f, f, f, f, f, d},  // f32
      {d, d, d, d, d, d, d, d, d},  // f64
  };
  for (int x = 0; x < 9; ++x)
    for (int y = 0; y < 9; ++y)
      EXPECT_EQ(promote_types(kAll[x], kAll[y]), table[x][y]) << kAll[x] << " + " << kAll[y];
}

// torch.result_type's category rule: a 0-dim tensor or a number widens the result only
// when its category (bool < integer < float) is higher.
TEST(DTypes, ResultTypeZeroDimAndScalars) {
  auto t = [](DType dt) { return zeros({3}, {.dtype = dt}); };
  auto z = [](DType dt) { return zeros({}, {.dtype = dt}); };
  EXPECT_EQ(raw::result_type(t(DType::f16), z(DType::f32)), DType::f16);
  EXPECT_EQ(raw::result_type(t(DType::bf16), z(DType::f64)), DType::bf16);
  EXPECT_EQ(raw::result_type(t(DType::u8), z(DType::i64)), DType::u8);
  EXPECT_EQ(raw::result_type(t(DType::i32), z(DType::f64)), DType::f64);
  EXPECT_EQ(raw::result_type(t(DType::i8), z(DType::f16)), DType::f16);
  EXPECT_EQ(raw::result_type(t(DType::bf16), t(DType::f16)), DType::f32);
  EXPECT_EQ(raw::result_type(z(DType::bf16), z(DType::f16)), DType::f32);
  EXPECT_EQ(raw::result_type(t(DType::b8), z(DType::u8)), DType::u8);
  // Numbers: an int keeps an integer tensor's dtype, a float makes f32 of an integer one
  // and keeps a 16-bit float's dtype. (Integer arithmetic kernels for u8/i8/i32 are not
  // written yet: the dtypes are checked through result_type.)
  auto with_number = [&](DType dt, const Scalar& v) {
    const Tensor x = t(dt);
    return raw::result_type(x, raw::scalar_like(v, x));
  };
  EXPECT_EQ(with_number(DType::u8, 300), DType::u8);
  EXPECT_EQ(with_number(DType::i8, 2.5), DType::f32);
  EXPECT_EQ(with_number(DType::b8, 2), DType::i64);
  EXPECT_EQ((t(DType::f16) * 2.5).dtype(), DType::f16);
  EXPECT_EQ((t(DType::bf16) + 3).dtype(), DType::bf16);
  EXPECT_EQ((t(DType::bf16) + t(DType::f16)).dtype(), DType::f32);
  EXPECT_EQ((t(DType::u8).to(DType::f16) + t(DType::f32)).dtype(), DType::f32);
}

// Exact values of a 16-bit pattern, from the formats' definitions.
double f16_value(uint16_t b) {
  const int e = (b >> 10) & 31, m = b & 1023;
  const double s = (b & 0x8000) ? -1.0 : 1.0;
  if (e == 31) return m ? NAN : s * INFINITY;
  if (e == 0) return s * std::ldexp(m, -24);
  return s * std::ldexp(1024 + m, e - 25);
}
double bf16_value(uint16_t b) {
  const int e = (b >> 7) & 255, m = b & 127;
  const double s = (b & 0x8000) ? -1.0 : 1.0;
  if (e == 255) return m ? NAN : s * INFINITY;
  if (e == 0) return s * std::ldexp(m, -133);
  return s * std::ldexp(128 + m, e - 134);
}

Tensor from_bits(const std::vector<uint16_t>& bits, DType dt, Device dev) {
  Tensor host = empty({static_cast<int64_t>(bits.size())}, {.dtype = dt});
  std::memcpy(host.raw_data(), bits.data(), bits.size() * 2);
  return host.to(dev);
}
std::vector<uint16_t> bits_of(const Tensor& t) {
  Tensor h = t.to(Device::cpu()).contiguous();
  std::vector<uint16_t> out(static_cast<size_t>(h.numel()));
  std::memcpy(out.data(), h.raw_data(), out.size() * 2);
  return out;
}

// Every bf16 and f16 pattern reads as its exact value in f32 and comes back bit for bit;
// a NaN comes back as a NaN.
TEST(DTypes, EverySixteenBitPatternRoundTripsThroughF32) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  for (Device dev : devices()) {
    for (DType dt : {DType::f16, DType::bf16}) {
      auto value = dt == DType::f16 ? f16_value : bf16_value;
      Tensor wide = from_bits(all, dt, dev).to(DType::f32);
      std::vector<float> w = wide.to(Device::cpu()).to_vector<float>();
      std::vector<uint16_t> back = bits_of(wide.to(dt));
      int bad = 0;
      for (uint32_t i = 0; i < 65536 && bad < 5; ++i) {
        const double v = value(all[i]);
        const bool nan = std::isnan(v);
        const bool ok = nan ? std::isnan(w[i]) && std::isnan(value(back[i]))
                            : static_cast<double>(w[i]) == v && back[i] == all[i] &&
                                  std::signbit(w[i]) == std::signbit(v);
        if (!ok) {
          ++bad;
          ADD_FAILURE() << dev.str() << " " << dt << " pattern " << i << " -> " << w[i] << " (want "
                        << v << ") -> " << back[i];
        }
      }
    }
  }
}

// The representable values of a 16-bit type in increasing order, +inf standing at the
// place the next binade would begin (so ties at the top round to it, as IEEE says).
struct Grid {
  std::vector<double> v;
  std::vector<uint16_t> bits;
};
Grid positive_grid(DType dt) {
  Grid g;
  auto value = dt == DType::f16 ? f16_value : bf16_value;
  for (uint32_t b = 0; b < 0x8000; ++b) {
    double x = value(static_cast<uint16_t>(b));
    if (std::isnan(x)) continue;
    if (std::isinf(x)) x = dt == DType::f16 ? 65536.0 : std::ldexp(1.0, 128);
    g.v.push_back(x);
    g.bits.push_back(static_cast<uint16_t>(b));
  }
  return g;  // the patterns of positive values increase with the value
}
// Round to nearest, ties to the even pattern, computed in f64.
uint16_t reference_round(const Grid& g, float xf) {
  const double x = std::fabs(static_cast<double>(xf));
  const uint16_t sign = std::signbit(xf) ? 0x8000 : 0;
  if (x >= g.v.back()) return sign | g.bits.back();
  auto hi = std::upper_bound(g.v.begin(), g.v.end(), x);
  const size_t j = static_cast<size_t>(hi - g.v.begin()), i = j - 1;
  const double dl = x - g.v[i], dh = g.v[j] - x;
  const size_t k = dl < dh ? i : dh < dl ? j : ((g.bits[i] & 1) == 0 ? i : j);
  return sign | g.bits[k];
}

// f32 -> bf16/f16 against the f64 reference: random values over the whole range, the exact
// midpoints between neighbours (ties) and their f32 neighbours, subnormals, overflow.
TEST(DTypes, F32ToSixteenBitsRoundsToNearestEven) {
  std::mt19937 rng(16);
  for (DType dt : {DType::f16, DType::bf16}) {
    const Grid g = positive_grid(dt);
    std::vector<float> xs;
    std::uniform_int_distribution<uint32_t> any_bits;
    for (int i = 0; i < 20000; ++i) {
      uint32_t u = any_bits(rng);
      if (dt == DType::f16) u = (u & 0x80000000u) | (0x30000000u + u % 0x18000000u);
      float f;
      std::memcpy(&f, &u, 4);
      if (!std::isnan(f)) xs.push_back(f);
    }
    for (size_t i = 0; i + 1 < g.v.size(); i += 7) {
      const float mid = static_cast<float>((g.v[i] + g.v[i + 1]) / 2);  // exact in f32
      xs.insert(xs.end(), {mid, -mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)});
    }
    xs.insert(xs.end(), {65504.0f, 65519.0f, 65520.0f, 1e38f, 3.4e38f, INFINITY, -INFINITY,
                         5.960464477539063e-08f, 2.9802322387695312e-08f, 1e-45f, 0.0f, -0.0f});
    for (Device dev : devices()) {
      std::vector<uint16_t> got = bits_of(from_vector(xs).to(dev).to(dt));
      int bad = 0;
      for (size_t i = 0; i < xs.size() && bad < 5; ++i) {
        const uint16_t want = reference_round(g, xs[i]);
        if (got[i] != want) {
          ++bad;
          ADD_FAILURE() << dev.str() << " " << dt << ": " << xs[i] << " -> " << got[i] << ", want "
                        << want;
        }
      }
      // NaN stays NaN.
      std::vector<uint16_t> n = bits_of(from_vector(std::vector<float>{NAN, -NAN}).to(dev).to(dt));
      auto value = dt == DType::f16 ? f16_value : bf16_value;
      EXPECT_TRUE(std::isnan(value(n[0])) && std::isnan(value(n[1]))) << dev.str() << " " << dt;
    }
  }
}

// Casts between every pair of dtypes on cpu and sim, against values computed here: small
// integers (exact everywhere), float -> integer truncating toward zero, and a wrap into u8.
TEST(DTypes, CastsBetweenEveryPair) {
  const std::vector<double> base = {0, 1, 2, 3, 7, 100, 127, 0, 1, 5};
  for (Device dev : devices()) {
    for (DType from : kAll) {
      for (DType to : kAll) {
        Tensor src = from_vector(base).to(from).to(dev);
        Tensor got = src.to(to).to(DType::f64).to(Device::cpu());
        std::vector<double> g = got.to_vector<double>();
        for (size_t i = 0; i < base.size(); ++i) {
          const double want = (from == DType::b8 || to == DType::b8) ? (base[i] != 0) : base[i];
          ASSERT_EQ(g[i], want) << dev.str() << " " << from << " -> " << to << " at " << i;
        }
      }
    }
    const Tensor fr = from_vector(std::vector<double>{2.75, -2.75, 126.5, -0.5}).to(dev);
    for (DType to : {DType::i8, DType::i32, DType::i64}) {
      for (DType ft : {DType::f64, DType::f32, DType::f16, DType::bf16})
        EXPECT_EQ(fr.to(ft).to(to).to(DType::f64).to(Device::cpu()).to_vector<double>(),
                  (std::vector<double>{2, -2, 126, 0}))
            << dev.str() << " " << ft << " -> " << to;
    }
    // Integers wrap into the narrower types, as in torch: -1 as u8 is 255, 300 is 44.
    const Tensor wide = from_vector(std::vector<int64_t>{-1, 300, 200}).to(dev);
    EXPECT_EQ(wide.to(DType::u8).to(DType::f64).to(Device::cpu()).to_vector<double>(),
              (std::vector<double>{255, 44, 200}));
    EXPECT_EQ(wide.to(DType::i8).to(DType::f64).to(Device::cpu()).to_vector<double>(),
              (std::vector<double>{-1, 44, -56}));
  }
}

TEST(DTypes, FactoriesItemAndPrinting) {
  for (Device dev : devices()) {
    for (DType dt : {DType::bf16, DType::f16, DType::i32, DType::i8, DType::u8}) {
      SCOPED_TRACE(dev.str() + " " + std::string(to_string(dt)));
      EXPECT_EQ(zeros({2, 3}, {.dtype = dt, .device = dev}).dtype(), dt);
      EXPECT_EQ(full({2}, 5, {.dtype = dt, .device = dev})
                    .to(DType::f64)
                    .to(Device::cpu())
                    .to_vector<double>(),
                (std::vector<double>{5, 5}));
      Tensor a = arange(0, 6, 1, {.dtype = dt, .device = dev});
      EXPECT_EQ(a.dtype(), dt);
      EXPECT_EQ(a.to(DType::f64).to(Device::cpu()).to_vector<double>(),
                (std::vector<double>{0, 1, 2, 3, 4, 5}));
      EXPECT_EQ(full({}, 3, {.dtype = dt, .device = dev}).item<double>(), 3.0);
      EXPECT_EQ(full({}, 3, {.dtype = dt, .device = dev}).item<int64_t>(), 3);
    }
    for (DType dt : {DType::bf16, DType::f16}) {
      // The 16-bit draws are the f32 draws rounded: same seed, same numbers.
      manual_seed(3);
      Tensor r = randn({1000}, {.dtype = dt, .device = dev});
      manual_seed(3);
      Tensor r32 = randn({1000}, {.device = dev});
      EXPECT_EQ(r.dtype(), dt);
      EXPECT_EQ(bits_of(r), bits_of(r32.to(dt)));
      manual_seed(4);
      std::vector<double> u = rand({1000}, {.dtype = dt, .device = dev})
                                  .to(DType::f64)
                                  .to(Device::cpu())
                                  .to_vector<double>();
      EXPECT_GE(*std::min_element(u.begin(), u.end()), 0.0);
      EXPECT_LE(*std::max_element(u.begin(), u.end()), 1.0);
      EXPECT_GT(*std::max_element(u.begin(), u.end()), 0.9);
      EXPECT_EQ(full({}, 0.1, {.dtype = dt, .device = dev}).item<double>(),
                static_cast<double>(dt == DType::f16 ? float(f16(0.1f)) : float(bf16(0.1f))));
    }
    manual_seed(5);
    std::vector<double> ri = randint(-100, 100, {500}, {.dtype = DType::i8, .device = dev})
                                 .to(DType::f64)
                                 .to(Device::cpu())
                                 .to_vector<double>();
    EXPECT_GE(*std::min_element(ri.begin(), ri.end()), -100);
    EXPECT_LT(*std::max_element(ri.begin(), ri.end()), 100);
    EXPECT_LT(*std::min_element(ri.begin(), ri.end()), -50);
    EXPECT_THROW(randint(0, 300, {2}, {.dtype = DType::u8, .device = dev}), ValueError);
  }
  std::vector<bf16> hv = {bf16(1.5f), bf16(-2.0f)};
  Tensor h = from_vector(hv);
  EXPECT_EQ(h.dtype(), DType::bf16);
  EXPECT_EQ(h.to(DType::f32).to_vector<float>(), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(from_vector(std::vector<uint8_t>{1, 255}).dtype(), DType::u8);
  EXPECT_EQ(from_vector(std::vector<int8_t>{1, -2}).dtype(), DType::i8);
  std::ostringstream os;
  os << h << " " << from_vector(std::vector<uint8_t>{1, 255}) << " " << ones({2});
  EXPECT_THAT(os.str(), HasSubstr("dtype=bf16"));
  EXPECT_THAT(os.str(), HasSubstr("1.5000"));
  EXPECT_THAT(os.str(), HasSubstr("255], dtype=u8"));
  EXPECT_THAT(os.str(), Not(HasSubstr("dtype=f32")));
}

// ---- kernels in bf16 and f16: compute in f32, round once ---------------------------------

std::vector<double> host_f64(const Tensor& t) {
  return t.to(DType::f64).to(Device::cpu()).contiguous().to_vector<double>();
}

// Each result is within one unit in the last place of the dtype of the f64 result computed
// from the same (16-bit) inputs, and bit-equal to the device's f32 result rounded once.
void expect_half_op(const char* what, const Tensor& got, const Tensor& f32_result,
                    const std::vector<double>& want, DType dt) {
  ASSERT_EQ(got.dtype(), dt) << what;
  EXPECT_EQ(bits_of(got.contiguous()), bits_of(f32_result.to(dt).contiguous())) << what;
  const std::vector<double> g = host_f64(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  const double eps = finfo(dt).eps;
  int bad = 0;
  for (size_t i = 0; i < g.size() && bad < 5; ++i) {
    if (std::fabs(g[i] - want[i]) <= eps * std::fabs(want[i]) + 1e-30) continue;
    ++bad;
    ADD_FAILURE() << what << " " << dt << " at " << i << ": " << g[i] << ", want " << want[i];
  }
}

TEST(DTypes, HalfElementwiseAndReductionsOnCpuAndSim) {
  for (Device dev : devices()) {
    for (DType dt : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(dev.str() + " " + std::string(to_string(dt)));
      manual_seed(11);
      // (5, 37) and a transposed (37, 5) view: contiguous and strided kernels.
      Tensor x = randn({5, 37}, {.dtype = dt, .device = dev});
      Tensor y = rand({5, 37}, {.dtype = dt, .device = dev}) + 0.5;
      ASSERT_EQ(y.dtype(), dt);
      Tensor xt = x.transpose(0, 1), yt = y.transpose(0, 1);
      const Tensor x32 = x.to(DType::f32), y32 = y.to(DType::f32);
      const std::vector<double> xv = host_f64(x), yv = host_f64(y);
      auto map1 = [&](double (*f)(double)) {
        std::vector<double> r(xv.size());
        for (size_t i = 0; i < r.size(); ++i) r[i] = f(xv[i]);
        return r;
      };
      auto map2 = [&](double (*f)(double, double)) {
        std::vector<double> r(xv.size());
        for (size_t i = 0; i < r.size(); ++i) r[i] = f(xv[i], yv[i]);
        return r;
      };
      expect_half_op("exp", x.exp(), x32.exp(), map1([](double v) { return std::exp(v); }), dt);
      expect_half_op("tanh", x.tanh(), x32.tanh(), map1([](double v) { return std::tanh(v); }), dt);
      expect_half_op("neg", -x, -x32, map1([](double v) { return -v; }), dt);
      expect_half_op("relu", relu(x), relu(x32), map1([](double v) { return v > 0 ? v : 0.0; }),
                     dt);
      expect_half_op("add", x + y, x32 + y32, map2([](double a, double b) { return a + b; }), dt);
      expect_half_op("mul", x * y, x32 * y32, map2([](double a, double b) { return a * b; }), dt);
      expect_half_op("div", x / y, x32 / y32, map2([](double a, double b) { return a / b; }), dt);
      expect_half_op("maximum", maximum(x, y), maximum(x32, y32),
                     map2([](double a, double b) { return std::max(a, b); }), dt);
      // Strided operands: the transposed views give the transposed results.
      expect_half_op("add_T", (xt + yt).transpose(0, 1), (x32 + y32),
                     map2([](double a, double b) { return a + b; }), dt);
      Tensor lt = x < y;
      EXPECT_EQ(lt.dtype(), DType::b8);
      EXPECT_TRUE(equal(lt, x32 < y32));
      // Reductions accumulate in f32 or wider and round once.
      std::vector<double> rs(5, 0.0), rm(5, -INFINITY);
      for (size_t r = 0; r < 5; ++r)
        for (size_t k = 0; k < 37; ++k) {
          rs[r] += xv[r * 37 + k];
          rm[r] = std::max(rm[r], xv[r * 37 + k]);
        }
      expect_half_op("sum", sum(x, {1}), sum(x32, {1}), rs, dt);
      std::vector<double> avg = rs;
      for (double& v : avg) v /= 37;
      expect_half_op("mean", mean(x, {1}), mean(x32, {1}), avg, dt);
      expect_half_op("max", amax(x, {1}), amax(x32, {1}), rm, dt);
      double total = 0;
      for (double v : xv) total += v;
      expect_half_op("sum_all", sum(x), sum(x32), {total}, dt);
    }
  }
}

// A cast between floating types is differentiable: the gradient is cast back to the source
// dtype. A cast to an integer type leaves the graph, as in torch.
TEST(DTypes, CastGradientIsCastBack) {
  Tensor x = from_vector(std::vector<float>{1.0f, 2.0f, 3.0f}).requires_grad_(true);
  Tensor y = x.to(DType::bf16);
  EXPECT_TRUE(y.requires_grad());
  y.to(DType::f32).mul(from_vector(std::vector<float>{0.5f, 3.0f, -1.0f})).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{0.5f, 3.0f, -1.0f}));
  EXPECT_FALSE(x.to(DType::i32).requires_grad());
}

}  // namespace
}  // namespace ember
