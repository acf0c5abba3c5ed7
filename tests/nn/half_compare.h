// The half-precision layer tests' comparison: a 16-bit result against its f32 twin.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace ember::testing_half {

// The unit roundoff of a 16-bit type: 2^-8 for bf16 (8 significand bits), 2^-11 for f16,
// doubled: one rounding of an f32 value either way, plus one of its inputs.
inline double eps_of(DType dt) { return dt == DType::bf16 ? 0x1p-7 : 0x1p-10; }

// |a - b| <= tol (1 + |b|) elementwise, a (16-bit) against b (f32), both read as f64.
inline void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const std::vector<double> x = a.cpu().to(DType::f64).contiguous().to_vector<double>();
  const std::vector<double> y = b.cpu().to(DType::f64).contiguous().to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i] - y[i]) <= tol * (1 + std::fabs(y[i]))) continue;
    if (bad++ < 3) ADD_FAILURE() << what << " at " << i << ": " << x[i] << " vs " << y[i];
  }
  EXPECT_EQ(bad, 0) << what;
}

}  // namespace ember::testing_half
