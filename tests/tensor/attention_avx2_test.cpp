// The AVX2 build of the cpu attention tiles (kernels/cpu/attention_f32.cpp, issue 19). The
// library is built with -march=native, which on an AVX-512 machine runs the 16-lane tiles
// only; this program compiles attention_f32.cpp again with -march=haswell (8 lanes, 6-row
// tiles: what an AVX2-only machine runs) and checks it against attention in f64: forward
// (out, lse) and backward (dq, dk, dv) with the keys split in two ranges, as the backward's
// few-heads split does. It links no ember library (the same functions would clash).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/attention_f32.h"

namespace ember::cpu {
namespace {

struct Shape {
  int64_t Tq, Tk, D, Dv;
  bool causal;
};

struct Reference {
  std::vector<double> out, lse, dq, dk, dv;
};

Reference reference(const Shape& s, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<float>& go, double scale) {
  Reference r{std::vector<double>(static_cast<size_t>(s.Tq * s.Dv)),
              std::vector<double>(static_cast<size_t>(s.Tq)),
              std::vector<double>(static_cast<size_t>(s.Tq * s.D)),
              std::vector<double>(static_cast<size_t>(s.Tk * s.D)),
              std::vector<double>(static_cast<size_t>(s.Tk * s.Dv))};
  auto at = [](const std::vector<float>& x, int64_t i) {
    return static_cast<double>(x[static_cast<size_t>(i)]);
  };
  for (int64_t i = 0; i < s.Tq; ++i) {
    const int64_t n = s.causal ? std::min(s.Tk, i + 1) : s.Tk;
    std::vector<double> p(static_cast<size_t>(n));
    double mx = -std::numeric_limits<double>::infinity(), sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      double a = 0;
      for (int64_t d = 0; d < s.D; ++d) a += at(q, i * s.D + d) * at(k, j * s.D + d);
      p[static_cast<size_t>(j)] = a * scale;
      mx = std::max(mx, a * scale);
    }
    for (double& x : p) sum += (x = std::exp(x - mx));
    for (double& x : p) x /= sum;
    r.lse[static_cast<size_t>(i)] = mx + std::log(sum);
    double delta = 0;
    for (int64_t c = 0; c < s.Dv; ++c) {
      double o = 0;
      for (int64_t j = 0; j < n; ++j) o += p[static_cast<size_t>(j)] * at(v, j * s.Dv + c);
      r.out[static_cast<size_t>(i * s.Dv + c)] = o;
      delta += o * at(go, i * s.Dv + c);
    }
    for (int64_t j = 0; j < n; ++j) {
      const double pj = p[static_cast<size_t>(j)];
      double dp = 0;
      for (int64_t c = 0; c < s.Dv; ++c) {
        dp += at(go, i * s.Dv + c) * at(v, j * s.Dv + c);
        r.dv[static_cast<size_t>(j * s.Dv + c)] += pj * at(go, i * s.Dv + c);
      }
      const double ds = pj * (dp - delta) * scale;
      for (int64_t d = 0; d < s.D; ++d) {
        r.dq[static_cast<size_t>(i * s.D + d)] += ds * at(k, j * s.D + d);
        r.dk[static_cast<size_t>(j * s.D + d)] += ds * at(q, i * s.D + d);
      }
    }
  }
  return r;
}

void expect_near(const std::vector<float>& got, const std::vector<double>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t e = 0; e < got.size(); ++e)
    ASSERT_NEAR(got[e], want[e], 2e-5 * (1 + std::fabs(want[e]))) << what << " at " << e;
}

TEST(AttentionTilesAvx2, MatchF64) {
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
    GTEST_SKIP() << "this CPU has no AVX2/FMA";
  ASSERT_TRUE(attn_f32::supported(32, 32, false, false));
  // Several query blocks (64) and key blocks (256), key counts off the 8-lane padding,
  // Dv != D, causal with more queries and with more keys, 6-row tiles with tails.
  const Shape shapes[] = {{70, 300, 40, 24, false}, {130, 130, 32, 32, true},
                          {300, 300, 16, 48, true}, {90, 37, 8, 16, true},
                          {20, 90, 32, 32, true},   {7, 21, 128, 128, false}};
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (const Shape& s : shapes) {
    SCOPED_TRACE(::testing::Message() << "Tq " << s.Tq << " Tk " << s.Tk << " D " << s.D << " Dv "
                                      << s.Dv << " causal " << s.causal);
    auto random = [&](int64_t n) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& e : x) e = normal(rng);
      return x;
    };
    const std::vector<float> q = random(s.Tq * s.D), k = random(s.Tk * s.D),
                             v = random(s.Tk * s.Dv), go = random(s.Tq * s.Dv);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> out(static_cast<size_t>(s.Tq * s.Dv), nan),
        lse(static_cast<size_t>(s.Tq), nan);
    std::vector<float> dk(static_cast<size_t>(s.Tk * s.D), nan),
        dv(static_cast<size_t>(s.Tk * s.Dv), nan);
    std::vector<float> dq_a(static_cast<size_t>(s.Tq * s.D), 0.f), dq_b = dq_a;
    const float scale = 1.f / std::sqrt(static_cast<float>(s.D));
    attn_f32::forward_rows(q.data(), k.data(), v.data(), out.data(), lse.data(), s.Tk, s.D, s.Dv, 0,
                           s.Tq, scale, s.causal);
    const int64_t half = s.Tk / 2;
    attn_f32::backward_range(q.data(), k.data(), v.data(), out.data(), lse.data(), go.data(),
                             dq_a.data(), dk.data(), dv.data(), s.Tq, s.D, s.Dv, 0, half, scale,
                             s.causal);
    attn_f32::backward_range(q.data(), k.data(), v.data(), out.data(), lse.data(), go.data(),
                             dq_b.data(), dk.data(), dv.data(), s.Tq, s.D, s.Dv, half, s.Tk, scale,
                             s.causal);
    std::vector<float> dq(dq_a.size());
    for (size_t e = 0; e < dq.size(); ++e) dq[e] = dq_a[e] + dq_b[e];
    const Reference r = reference(s, q, k, v, go, static_cast<double>(scale));
    expect_near(out, r.out, "out");
    expect_near(lse, r.lse, "lse");
    expect_near(dq, r.dq, "dq");
    expect_near(dk, r.dk, "dk");
    expect_near(dv, r.dv, "dv");
  }
}

}  // namespace
}  // namespace ember::cpu
