// Vectorizable f32 exp, tanh and erf for the cpu kernels.
//
// glibc's expf/tanhf/erff are scalar calls, so a loop over them runs one element at a time
// (GELU on a (32, 128, 512) activation took 15 ns per element). These are branch-free
// (every path computed, the result selected), built from multiplies, adds, one divide and
// integer bit tricks, so GCC vectorizes the kernels' unit-stride loops around them.
//
// Accuracy, measured against the f64 functions over every f32 in [-100, 100] and on
// random inputs (tests/tensor/fast_math_test.cpp): fast_exp within 2 ulp, fast_tanh
// within 3 ulp (2e-7 relative), fast_erf within 1 ulp (every f32, docs/performance.md
// "(issue 19, erf)"). Special values as the C library: exp(-inf) = 0,
// exp(+inf) = inf, overflow to inf, gradual underflow to subnormals and 0; tanh(+-inf) =
// +-1, tanh(-0) = -0; erf(+-inf) = +-1, erf(-0) = -0; NaN in, NaN out. f64 kernels keep
// the std:: functions (the double overloads at the end).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ember::cpu {

inline float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline uint32_t float_to_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

// c ? a : b, by masking bits. A float ?: whose result feeds arithmetic comes back from
// GCC's jump threading as a branch with that arithmetic on its arms, which the default
// -ftrapping-math forbids if-converting, and the loop around it stays scalar ("control
// flow in loop"); integer masks have no such arms, so the loop vectorizes (blend/and-or).
inline float select(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return bits_to_float((float_to_bits(a) & m) | (float_to_bits(b) & ~m));
}

// 2^n for integer n in [-126, 127], built in the exponent field.
inline float pow2i(int32_t n) { return bits_to_float(static_cast<uint32_t>(n + 127) << 23); }

// exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2]; exp(r) by
// the minimax polynomial of Cephes' expf (relative error 1.2e-7 on that interval).
inline float fast_exp(float x) {
  // Past these exp overflows or rounds to 0; clamping keeps n in range for pow2i below.
  const float xc = select(x < -104.0f, -104.0f, select(x > 88.8f, 88.8f, x));
  // round(xc log2 e) by the 1.5 * 2^23 trick: the add rounds to an integer in the low bits.
  const float kShift = 12582912.0f;
  const float t = xc * 1.44269504088896341f + kShift;
  const int32_t n = static_cast<int32_t>(float_to_bits(t) - float_to_bits(kShift));
  const float fn = t - kShift;
  // ln 2 split in two so fn * ln2_hi is exact (Cody-Waite).
  const float r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * r * r + r + 1.0f;
  // 2^n as two factors, each a normal float: n in [-150, 129] covers overflow to inf and
  // gradual underflow, which one exponent field could not.
  const int32_t n1 = n / 2;
  const float y = er * pow2i(n1) * pow2i(n - n1);  // past 88.72 this overflows to inf
  return select(x != x, x, y);                     // NaN propagates (the clamp dropped it)
}

// tanh(x), computed for |x| and given x's sign: for |x| < 0.625 the odd polynomial of
// Cephes' tanhf (no cancellation near 0, so tiny inputs come back exactly); otherwise
// 1 - 2 / (exp(2|x|) + 1), which saturates to 1 once exp overflows.
inline float fast_tanh(float x) {
  const float ax = std::fabs(x);
  const float z = ax * ax;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * ax + ax;
  const float big = 1.0f - 2.0f / (fast_exp(2.0f * ax) + 1.0f);
  // NaN fails the test and takes `big`, which is NaN; copysign keeps -0 and the odd symmetry.
  return std::copysign(select(ax < 0.625f, small, big), x);
}

// c[0] x^(N-1) + c[1] x^(N-2) + ... + c[N-1] by Horner's rule (the loop unrolls).
template <int N>
inline float horner(float x, const float (&c)[N]) {
  float p = c[0];
  for (int i = 1; i < N; ++i) p = p * x + c[i];
  return p;
}

// erf(x), computed for a = |x| and given x's sign (erf is odd), in two pieces:
//   a < 0.921875:  erf(a) = a + a p(a^2), p(s) ~ erf(sqrt s) / sqrt s - 1, degree 5.
//     Near 0 erf(a) ~ (2 / sqrt pi) a; writing it a + a (2 / sqrt pi - 1 + ...) keeps the
//     rounding of the constant 1.128 out of the result (a is exact, the correction is
//     0.128 a), so tiny inputs come back to within one rounding: |error| < 1e-9 for
//     |x| < 0.01, and subnormals map to themselves or their neighbour.
//   a >= 0.921875: erf(a) = 1 - erfc(a), erfc(a) = exp(q(a)), q ~ log erfc(a), degree 6.
//     log erfc is smooth on [0.92, 4] (about -a^2 - log(a sqrt pi) for large a) where
//     erfc itself falls by eight decades, so a low-degree polynomial fits it; the error
//     exp(q) leaves in erf is erfc(a) |q - log erfc(a)|, which is what the fit weights.
//     Past a = 4, erfc(a) < 1.6e-8, under half an ulp of 1, so a is clamped to 4 and the
//     result rounds to 1 (inf included); NaN fails the clamp's test and stays NaN.
// The coefficients are ember's own fit: near-minimax polynomials from Lawson's reweighted
// least squares in long double against erfl/erfcl, each coefficient rounded to f32 in
// turn (lowest power first) with the remaining ones refitted. Weighted error of the
// fits: 1.5e-8 relative (piece 1), 1.5e-9 absolute in erfc (piece 2); measured over every
// f32, fast_erf is within 1 ulp of the correctly rounded erf, with or without FMA
// contraction.
inline float fast_erf(float x) {
  const float a = std::fabs(x);
  const float s = a * a;
  const float p = horner(s, {-6.003841991e-4f, 4.995859228e-3f, -2.676858194e-2f, 1.128187701e-1f,
                             -3.761250079e-1f, 1.283791512e-1f});
  const float small = p * a + a;
  const float t = select(a > 4.0f, 4.0f, a);
  const float q = horner(t, {1.949453290e-4f, -3.033682704e-3f, 2.218974754e-2f, -1.038563251e-1f,
                             -6.372658014e-1f, -1.127627373f, -2.070154878e-4f});
  const float big = 1.0f - fast_exp(q);
  return std::copysign(select(a < 0.921875f, small, big), x);
}

// The f64 kernels' versions are the C library's: a kernel template over float and double
// calls one name and gets the vectorizable function for f32.
inline double fast_exp(double x) { return std::exp(x); }
inline double fast_tanh(double x) { return std::tanh(x); }
inline double fast_erf(double x) { return std::erf(x); }

}  // namespace ember::cpu
