// conv2d and scaled_dot_product_attention: forward against plain-loop f64 references, the
// fused backward against references and the composite path, gradcheck (first and second
// order), error paths, and the composite fallback of a device without the primitives.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "tensor/philox.h"
#include "tensor/random.h"
#include "tensor/raw.h"

namespace ember {
namespace {

using autograd::gradcheck;
using autograd::gradgradcheck;
using autograd::TensorList;

TensorOptions f64() { return {.dtype = DType::f64}; }
constexpr double kInf = std::numeric_limits<double>::infinity();

// |got - want| <= atol + rtol |want| everywhere; reports the first mismatches.
void expect_near(const Tensor& got, const Tensor& want, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool both_nan = std::isnan(g[i]) && std::isnan(w[i]);
    if (both_nan || std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i])) continue;
    if (bad++ < 5) os << "\n  [" << i << "] got " << g[i] << ", want " << w[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements differ" << os.str();
}

// Root mean square of t's elements.
double rms(const Tensor& t) {
  double s = 0;
  std::vector<double> v = t.to_vector<double>();
  for (double x : v) s += x * x;
  return v.empty() ? 0.0 : std::sqrt(s / double(v.size()));
}

// ---- conv2d references ------------------------------------------------------------------

struct ConvCase {
  std::string name;
  int64_t N, C, H, W, K, R, S;
  Conv2dParams p;
  bool bias = true;
};

std::string describe(const ConvCase& c) {
  std::ostringstream os;
  os << c.name << " x[" << c.N << "," << c.C << "," << c.H << "," << c.W << "] w[" << c.K << ","
     << c.C / c.p.groups << "," << c.R << "," << c.S << "] stride " << c.p.stride_h << ","
     << c.p.stride_w << " pad " << c.p.pad_h << "," << c.p.pad_w << " dil " << c.p.dilation_h << ","
     << c.p.dilation_w << " groups " << c.p.groups;
  return os.str();
}

// Calls fn(n, k, p, q, c_in, r, s, h, w) for every (output, tap) pair inside the input.
template <typename Fn>
void conv_loops(const ConvCase& c, int64_t P, int64_t Q, Fn&& fn) {
  const int64_t Cg = c.C / c.p.groups, Kg = c.K / c.p.groups;
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t k = 0; k < c.K; ++k)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t r = 0; r < c.R; ++r)
              for (int64_t s = 0; s < c.S; ++s) {
                const int64_t h = p * c.p.stride_h - c.p.pad_h + r * c.p.dilation_h;
                const int64_t w = q * c.p.stride_w - c.p.pad_w + s * c.p.dilation_w;
                if (h < 0 || h >= c.H || w < 0 || w >= c.W) continue;
                fn(n, k, p, q, (k / Kg) * Cg + ci, ci, r, s, h, w);
              }
}

struct ConvRef {
  Tensor out, dx, dw, db;
};

// Forward and, for the upstream gradient g, the three gradients, all by plain loops in f64.
ConvRef conv_reference(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor& b,
                       const Tensor& g) {
  const int64_t P = (c.H + 2 * c.p.pad_h - c.p.dilation_h * (c.R - 1) - 1) / c.p.stride_h + 1;
  const int64_t Q = (c.W + 2 * c.p.pad_w - c.p.dilation_w * (c.S - 1) - 1) / c.p.stride_w + 1;
  const int64_t Cg = c.C / c.p.groups;
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> gv =
      g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(c.N * c.K * P * Q));
  std::vector<double> out(size_t(c.N * c.K * P * Q), 0.0), dx(xv.size(), 0.0), dw(wv.size(), 0.0),
      db(size_t(c.K), 0.0);
  if (b.defined()) {
    std::vector<double> bv = b.to_vector<double>();
    for (int64_t i = 0; i < c.N * c.K * P * Q; ++i)
      out[size_t(i)] = bv[size_t((i / (P * Q)) % c.K)];
  }
  auto oi = [&](int64_t n, int64_t k, int64_t p, int64_t q) {
    return size_t(((n * c.K + k) * P + p) * Q + q);
  };
  conv_loops(c, P, Q,
             [&](int64_t n, int64_t k, int64_t p, int64_t q, int64_t cin, int64_t ci, int64_t r,
                 int64_t s, int64_t h, int64_t ww) {
               const size_t xi = size_t(((n * c.C + cin) * c.H + h) * c.W + ww),
                            wi = size_t(((k * Cg + ci) * c.R + r) * c.S + s);
               out[oi(n, k, p, q)] += wv[wi] * xv[xi];
               dx[xi] += wv[wi] * gv[oi(n, k, p, q)];
               dw[wi] += xv[xi] * gv[oi(n, k, p, q)];
             });
  for (int64_t i = 0; i < c.N * c.K * P * Q; ++i) db[size_t((i / (P * Q)) % c.K)] += gv[size_t(i)];
  return {from_vector(out, {c.N, c.K, P, Q}), from_vector(dx, x.sizes()),
          from_vector(dw, w.sizes()), from_vector(db, {c.K})};
}

Conv2dParams params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1,
                    int64_t g = 1) {
  return {.stride_h = sh,
          .stride_w = sw,
          .pad_h = ph,
          .pad_w = pw,
          .dilation_h = dh,
          .dilation_w = dw,
          .groups = g};
}

std::vector<ConvCase> conv_cases() {
  return {
      {"odd sizes", 1, 3, 7, 9, 4, 3, 3, params(1, 1, 0, 0)},
      {"stride 2, padding, non-square kernel", 3, 4, 11, 10, 6, 3, 2, params(2, 2, 1, 0)},
      {"dilation 2", 2, 2, 9, 9, 3, 3, 3, params(1, 1, 2, 2, 2, 2), false},
      {"groups 2", 2, 4, 8, 8, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      {"depthwise, stride 2", 2, 6, 9, 7, 6, 3, 3, params(2, 2, 1, 1, 1, 1, 6)},
      {"depthwise multiplier 2", 1, 3, 6, 6, 6, 3, 3, params(1, 1, 1, 1, 1, 1, 3)},
      {"pointwise", 3, 8, 5, 5, 4, 1, 1, params(1, 1, 0, 0)},
      {"pointwise stride 2", 2, 4, 7, 6, 5, 1, 1, params(2, 2, 0, 0), false},
      {"mixed strides, padding, dilation", 3, 3, 10, 12, 4, 2, 3, params(2, 1, 0, 2, 1, 2)},
      {"kernel as large as the padded input", 2, 3, 3, 4, 2, 5, 4, params(1, 1, 1, 0)},
      {"stride 3 leaves rows unused", 1, 2, 10, 11, 3, 3, 3, params(3, 3, 0, 1)},
      {"chunked columns", 3, 16, 40, 40, 32, 3, 3, params(1, 1, 1, 1)},
      {"one image, many channels", 1, 12, 30, 30, 8, 3, 3, params(1, 1, 1, 1), false},
      {"batch 1, groups 4, pointwise", 1, 8, 20, 20, 8, 1, 1, params(1, 1, 0, 0, 1, 1, 4)},
      {"winograd, odd output", 2, 16, 9, 11, 16, 3, 3, params(1, 1, 0, 0)},
      {"winograd, groups 2, padding 2", 1, 32, 8, 7, 32, 3, 3, params(1, 1, 2, 2, 1, 1, 2)},
      {"winograd, asymmetric padding", 2, 16, 6, 13, 24, 3, 3, params(1, 1, 1, 0), false},
      {"winograd, padding 3", 1, 16, 5, 5, 16, 3, 3, params(1, 1, 3, 3)},
      {"winograd, many tile blocks", 3, 16, 30, 31, 16, 3, 3, params(1, 1, 1, 1)},
      // 32 channels a group and more: the 36 GEMMs run on the packed f32 GEMM
      // (winograd::packed_pays), in the channels-last layout and in the tile-row one.
      {"winograd, 32+ channels, by channels", 2, 32, 9, 11, 40, 3, 3, params(1, 1, 1, 1)},
      {"winograd, 32+ channels, tile rows, groups 2", 2, 64, 10, 37, 80, 3, 3,
       params(1, 1, 1, 1, 1, 1, 2)},
      // Stride 2 in f32 takes the vectorized gather and scatter-add (16 or 8 outputs a
      // step, one vector up to 8): rows of 21, 8 and 18 outputs with padding, and a chunk
      // that ends mid-row.
      {"stride 2, rows of 21 outputs", 2, 5, 9, 41, 7, 3, 3, params(2, 2, 1, 1)},
      {"stride 2, rows of 8 outputs", 2, 3, 6, 16, 5, 3, 3, params(2, 2, 1, 1)},
      {"pointwise stride 2, rows of 18 outputs", 1, 3, 4, 35, 4, 1, 1, params(2, 2, 0, 0)},
      {"stride 2, chunked columns", 1, 16, 62, 70, 8, 3, 3, params(2, 2, 1, 1)},
  };
}

class ConvForward : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvForward, MatchesPlainLoopsInF64AndF32) {
  const ConvCase& c = GetParam();
  manual_seed(11);
  Tensor x = randn({c.N, c.C, c.H, c.W}, f64());
  Tensor w = randn({c.K, c.C / c.p.groups, c.R, c.S}, f64());
  Tensor b = c.bias ? randn({c.K}, f64()) : Tensor();
  ConvRef ref = conv_reference(c, x, w, b, Tensor());
  expect_near(conv2d(x, w, b, c.p), ref.out, 1e-12, 1e-12, describe(c) + " f64");
  Tensor y32 =
      conv2d(x.to(DType::f32), w.to(DType::f32), c.bias ? b.to(DType::f32) : Tensor(), c.p);
  EXPECT_EQ(y32.dtype(), DType::f32);
  // Winograd F(4x4, 3x3) in f32 is accurate to a few 1e-5 of the outputs' scale.
  expect_near(y32, ref.out, 1e-4, 1e-4 * std::max(1.0, rms(ref.out)), describe(c) + " f32");
}

TEST_P(ConvForward, BackwardMatchesPlainLoops) {
  const ConvCase& c = GetParam();
  manual_seed(12);
  Tensor x = randn({c.N, c.C, c.H, c.W}, f64()).requires_grad_();
  Tensor w = randn({c.K, c.C / c.p.groups, c.R, c.S}, f64()).requires_grad_();
  Tensor b = randn({c.K}, f64()).requires_grad_();
  Tensor y = conv2d(x, w, b, c.p);
  Tensor g = randn(y.sizes(), f64());
  ConvRef ref = conv_reference(c, x.detach(), w.detach(), b.detach(), g);
  y.backward(g);
  expect_near(x.grad(), ref.dx, 1e-11, 1e-11, describe(c) + " dx");
  expect_near(w.grad(), ref.dw, 1e-11, 1e-11, describe(c) + " dw");
  expect_near(b.grad(), ref.db, 1e-11, 1e-11, describe(c) + " db");
  // The same in f32 through the raw ops.
  Tensor g32 = g.to(DType::f32);
  expect_near(raw::conv2d_backward_input(x.sizes(), g32, w.detach().to(DType::f32), c.p), ref.dx,
              1e-4, 1e-4 * std::max(1.0, rms(ref.dx)), describe(c) + " dx f32");
  expect_near(raw::conv2d_backward_weight(w.sizes(), g32, x.detach().to(DType::f32), c.p), ref.dw,
              1e-4, 1e-4 * std::max(1.0, rms(ref.dw)), describe(c) + " dw f32");
  // All three from one call: the cpu's fused backward where it applies, else the above.
  const auto [dx32, dw32, db32] =
      raw::conv2d_backward(g32, x.sizes(), x.detach().to(DType::f32), w.sizes(),
                           w.detach().to(DType::f32), c.p, {true, true, true});
  expect_near(dx32, ref.dx, 1e-4, 1e-4 * std::max(1.0, rms(ref.dx)), describe(c) + " fused dx");
  expect_near(dw32, ref.dw, 1e-4, 1e-4 * std::max(1.0, rms(ref.dw)), describe(c) + " fused dw");
  expect_near(db32, ref.db, 1e-4, 1e-4 * std::max(1.0, rms(ref.db)), describe(c) + " fused db");
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvForward, ::testing::ValuesIn(conv_cases()),
                         [](const ::testing::TestParamInfo<ConvCase>& param_info) {
                           std::string s;
                           for (char ch : param_info.param.name)
                             s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return s;
                         });

TEST(Conv2dOp, UnbatchedInputGivesUnbatchedOutput) {
  manual_seed(13);
  Tensor x = randn({3, 6, 5}, f64()), w = randn({4, 3, 3, 3}, f64()), b = randn({4}, f64());
  Tensor y = conv2d(x, w, b, params(1, 1, 1, 1));
  EXPECT_EQ(y.sizes(), (Shape{4, 6, 5}));
  expect_near(y, conv2d(x.unsqueeze(0), w, b, params(1, 1, 1, 1)).squeeze(0), 0, 0, "unbatched");
}

TEST(Conv2dOp, EmptyBatchAndNoGradInputs) {
  Tensor x = randn({0, 3, 5, 5}), w = randn({2, 3, 3, 3});
  EXPECT_EQ(conv2d(x, w).sizes(), (Shape{0, 2, 3, 3}));
  // Only the weight needs a gradient: the input's is never computed.
  Tensor xs = randn({2, 3, 5, 5}, f64()), ws = randn({2, 3, 3, 3}, f64()).requires_grad_();
  conv2d(xs, ws).sum().backward();
  EXPECT_TRUE(ws.grad().defined());
  EXPECT_FALSE(xs.grad().defined());
}

TEST(Conv2dOp, Gradcheck) {
  manual_seed(14);
  struct G {
    Shape x, w;
    Conv2dParams p;
  };
  const std::vector<G> cases = {
      {{2, 2, 5, 5}, {3, 2, 3, 3}, params(1, 1, 0, 0)},
      {{1, 4, 6, 5}, {4, 2, 3, 2}, params(2, 1, 1, 1, 1, 1, 2)},
      {{2, 2, 7, 7}, {2, 1, 3, 3}, params(2, 2, 2, 2, 2, 2, 2)},  // depthwise, dilated
      {{1, 3, 4, 4}, {2, 3, 1, 1}, params(1, 1, 0, 0)},
      {{3, 5, 5}, {2, 3, 2, 2}, params(1, 2, 1, 0)},  // unbatched
  };
  for (const G& c : cases) {
    Tensor x = randn(c.x, f64()).requires_grad_(), w = randn(c.w, f64()).requires_grad_();
    Tensor b = randn({c.w[0]}, f64()).requires_grad_();
    const Conv2dParams p = c.p;
    auto f = [p](const TensorList& t) { return TensorList{conv2d(t[0], t[1], t[2], p)}; };
    auto r = gradcheck(f, {x, w, b});
    EXPECT_TRUE(r.ok) << str(c.x) << " " << str(c.w) << ": " << r.message;
    auto rr = gradgradcheck(f, {x, w, b});
    EXPECT_TRUE(rr.ok) << "double backward " << str(c.x) << " " << str(c.w) << ": " << rr.message;
  }
}

TEST(Conv2dOp, ErrorsNameTheOpAndShapes) {
  Tensor x = randn({2, 4, 8, 8}), w = randn({6, 4, 3, 3});
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_THROW(conv2d(randn({2, 2, 4, 8, 8}), w), ShapeError);
  EXPECT_THROW(conv2d(x, randn({6, 4, 3})), ShapeError);
  EXPECT_THROW(conv2d(x, randn({6, 3, 3, 3})), ShapeError);  // channels
  EXPECT_THROW(conv2d(x, randn({6, 4, 3, 3}), Tensor(), params(1, 1, 0, 0, 1, 1, 3)),
               ShapeError);  // 4 % 3
  EXPECT_THROW(conv2d(x, randn({5, 2, 3, 3}), Tensor(), params(1, 1, 0, 0, 1, 1, 2)),
               ShapeError);                                  // 5 % 2
  EXPECT_THROW(conv2d(x, randn({6, 4, 9, 3})), ShapeError);  // kernel too large
  EXPECT_THROW(conv2d(x, randn({6, 4, 3, 3}), Tensor(), params(1, 1, 0, 0, 5, 5)),
               ShapeError);                            // dilated too large
  EXPECT_THROW(conv2d(x, w, randn({5})), ShapeError);  // bias
  EXPECT_THROW(conv2d(x, w.to(DType::f64)), DTypeError);
  EXPECT_THROW(conv2d(x.to(DType::i64), w.to(DType::i64)), DTypeError);
  EXPECT_THROW(conv2d(x, w, Tensor(), params(0, 1, 0, 0)), ValueError);
  EXPECT_THROW(conv2d(x, w, Tensor(), params(1, 1, -1, 0)), ValueError);
  EXPECT_THROW(conv2d(x, w, Tensor(), params(1, 1, 0, 0, 1, 1, 0)), ValueError);
  EXPECT_THROW(conv2d(x, Tensor()), ValueError);
  const std::string m = message([&] { conv2d(x, randn({6, 4, 9, 3})); });
  EXPECT_NE(m.find("conv2d"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 4, 8, 8]"), std::string::npos) << m;
  EXPECT_NE(m.find("[6, 4, 9, 3]"), std::string::npos) << m;
  const std::string c = message([&] { conv2d(x, randn({6, 3, 3, 3})); });
  EXPECT_NE(c.find("[6, 3, 3, 3]"), std::string::npos) << c;
  EXPECT_THROW(raw::conv2d_backward_input({2, 4, 8, 8}, randn({2, 6, 5, 5}), w, {}), ShapeError);
  EXPECT_THROW(raw::conv2d_backward_weight({6, 4, 3, 3}, randn({2, 6, 6, 7}), x, {}), ShapeError);
  // The three gradients from one call: grad_output's shape, a missing operand, the dtypes.
  const std::array<bool, 3> all{true, true, true};
  const std::string f = message([&] {
    raw::conv2d_backward(randn({2, 6, 5, 5}), x.sizes(), x, w.sizes(), w, {}, all);
  });
  EXPECT_NE(f.find("conv2d_backward"), std::string::npos) << f;
  EXPECT_NE(f.find("[2, 6, 6, 6]"), std::string::npos) << f;  // the expected grad_output
  EXPECT_NE(f.find("[2, 6, 5, 5]"), std::string::npos) << f;
  const Tensor go = randn({2, 6, 6, 6});
  EXPECT_THROW(raw::conv2d_backward(go, x.sizes(), Tensor(), w.sizes(), w, {}, all), ValueError);
  EXPECT_THROW(raw::conv2d_backward(go, x.sizes(), x, w.sizes(), Tensor(), {}, all), ValueError);
  EXPECT_THROW(raw::conv2d_backward(go, x.sizes(), x.to(DType::f64), w.sizes(), w, {}, all),
               DTypeError);
  EXPECT_THROW(raw::conv2d_backward(go, x.sizes(), x, {6, 4, 3, 2}, w, {}, all), ShapeError);
  EXPECT_THROW(raw::conv2d_backward(go.to(DType::i64), x.sizes(), Tensor(), w.sizes(), Tensor(), {},
                                    {false, false, true}),
               DTypeError);
  // Only the bias gradient: neither x nor w is needed.
  const auto [no_x, no_w, db] =
      raw::conv2d_backward(go, x.sizes(), Tensor(), w.sizes(), Tensor(), {}, {false, false, true});
  EXPECT_FALSE(no_x.defined());
  EXPECT_FALSE(no_w.defined());
  expect_near(db, sum(go, {0, 2, 3}), 1e-5, 1e-5, "bias only");
}

// ---- attention references ----------------------------------------------------------------

// softmax(q k^T scale + mask) v by plain loops in f64 over (B, H, T, D) tensors; mask is
// additive and already expanded to (B, H, Tq, Tk), or undefined.
Tensor attention_reference(const Tensor& q4, const Tensor& k4, const Tensor& v4,
                           const Tensor& mask4, bool causal, double scale) {
  const int64_t B = q4.size(0), H = q4.size(1), Tq = q4.size(2), D = q4.size(3), Tk = k4.size(2),
                Dv = v4.size(3);
  std::vector<double> q = q4.to_vector<double>(), k = k4.to_vector<double>(),
                      v = v4.to_vector<double>();
  std::vector<double> m =
      mask4.defined() ? mask4.contiguous().to_vector<double>() : std::vector<double>();
  std::vector<double> out(static_cast<size_t>(B * H * Tq * Dv), 0.0), s(static_cast<size_t>(Tk));
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < Tq; ++i) {
      double mx = -kInf;
      for (int64_t j = 0; j < Tk; ++j) {
        double acc = 0;
        for (int64_t d = 0; d < D; ++d)
          acc += q[size_t((bh * Tq + i) * D + d)] * k[size_t((bh * Tk + j) * D + d)];
        acc *= scale;
        if (!m.empty()) acc += m[size_t((bh * Tq + i) * Tk + j)];
        if (causal && j > i) acc = -kInf;
        s[size_t(j)] = acc;
        mx = std::max(mx, acc);
      }
      double sum = 0;
      for (int64_t j = 0; j < Tk; ++j) sum += (s[size_t(j)] = std::exp(s[size_t(j)] - mx));
      for (int64_t j = 0; j < Tk; ++j)
        for (int64_t e = 0; e < Dv; ++e)
          out[size_t((bh * Tq + i) * Dv + e)] +=
              s[size_t(j)] / sum * v[size_t((bh * Tk + j) * Dv + e)];
    }
  return from_vector(out, {B, H, Tq, Dv});
}

struct AttnCase {
  std::string name;
  Shape q, k, v;  // (..., T, D)
  Shape mask;     // empty: none
  bool bool_mask = false;
  bool causal = false;
  double scale = 0;  // 0: the default 1/sqrt(D)
};

std::vector<AttnCase> attn_cases() {
  return {
      {"plain head dim 8", {2, 3, 5, 8}, {2, 3, 5, 8}, {2, 3, 5, 8}, {}},
      {"more keys than queries, head dim 16", {1, 2, 7, 16}, {1, 2, 11, 16}, {1, 2, 11, 16}, {}},
      {"head dim 64, value dim 24", {2, 2, 9, 64}, {2, 2, 13, 64}, {2, 2, 13, 24}, {}},
      {"causal square", {2, 2, 70, 16}, {2, 2, 70, 16}, {2, 2, 70, 16}, {}, false, true},
      {"causal more queries than keys", {1, 3, 9, 8}, {1, 3, 5, 8}, {1, 3, 5, 8}, {}, false, true},
      {"causal fewer queries than keys",
       {1, 1, 4, 8},
       {1, 1, 10, 8},
       {1, 1, 10, 8},
       {},
       false,
       true},
      {"bool mask broadcast over batch and heads",
       {2, 3, 6, 8},
       {2, 3, 7, 8},
       {2, 3, 7, 8},
       {6, 7},
       true},
      {"bool key padding mask", {3, 2, 5, 16}, {3, 2, 6, 16}, {3, 2, 6, 16}, {3, 1, 1, 6}, true},
      {"float mask per head", {2, 4, 5, 8}, {2, 4, 5, 8}, {2, 4, 5, 8}, {1, 4, 5, 5}},
      {"float mask per batch", {3, 2, 4, 8}, {3, 2, 6, 8}, {3, 2, 6, 8}, {3, 1, 4, 6}},
      {"float mask broadcast over queries", {2, 2, 5, 8}, {2, 2, 9, 8}, {2, 2, 9, 8}, {2, 2, 1, 9}},
      {"3 leading dims, mask on the middle one",
       {2, 3, 2, 4, 8},
       {2, 3, 2, 5, 8},
       {2, 3, 2, 5, 8},
       {3, 1, 4, 5}},
      {"no leading dims", {6, 8}, {7, 8}, {7, 8}, {}},
      {"key and value broadcast over heads", {2, 3, 4, 8}, {2, 1, 6, 8}, {2, 1, 6, 8}, {}},
      {"custom scale", {1, 2, 5, 8}, {1, 2, 5, 8}, {1, 2, 5, 8}, {}, false, false, 0.7},
      {"several key blocks", {1, 2, 130, 16}, {1, 2, 600, 16}, {1, 2, 600, 8}, {1, 1, 130, 600}},
      {"several key blocks, causal",
       {2, 1, 300, 8},
       {2, 1, 300, 8},
       {2, 1, 300, 8},
       {},
       false,
       true},
      {"one head, long: key split backward", {1, 1, 200, 32}, {1, 1, 520, 32}, {1, 1, 520, 32}, {}},
  };
}

struct AttnInputs {
  Tensor q, k, v, mask;  // mask as passed to sdpa (bool or additive), maybe undefined
};

AttnInputs make_attn_inputs(const AttnCase& c, DType dtype) {
  TensorOptions o{.dtype = dtype};
  AttnInputs in{randn(c.q, o), randn(c.k, o), randn(c.v, o), Tensor()};
  if (!c.mask.empty()) {
    if (c.bool_mask) {
      in.mask = rand(c.mask) > 0.3;
      // Every query keeps at least one key: key 0 always attends.
      Tensor first = zeros(c.mask, {.dtype = DType::b8});
      first.narrow(-1, 0, 1).fill_(true);
      in.mask = logical_or(in.mask, first);
    } else {
      in.mask = randn(c.mask, o);
    }
  }
  return in;
}

// The reference of a case: inputs broadcast to (B, H, T, D) and the mask made additive.
Tensor reference_for(const AttnCase& c, const AttnInputs& in) {
  Shape batch = broadcast_shapes("test", Shape(c.q.begin(), c.q.end() - 2),
                                 Shape(c.k.begin(), c.k.end() - 2));
  const int64_t Tq = c.q[c.q.size() - 2], Tk = c.k[c.k.size() - 2], D = c.q.back(), Dv = c.v.back();
  int64_t BH = 1;
  for (int64_t s : batch) BH *= s;
  auto flat = [&](const Tensor& t, int64_t a, int64_t b) {
    Shape full = batch;
    full.push_back(a);
    full.push_back(b);
    return t.to(DType::f64).expand(full).reshape({1, BH, a, b});
  };
  Tensor m;
  if (in.mask.defined()) {
    Tensor add = in.mask.dtype() == DType::b8
                     ? where(in.mask, zeros({}, f64()), full({}, -kInf, f64()))
                     : in.mask;
    m = flat(add, Tq, Tk);
  }
  const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(double(D));
  Tensor out = attention_reference(flat(in.q, Tq, D), flat(in.k, Tk, D), flat(in.v, Tk, Dv), m,
                                   c.causal, scale);
  Shape out_shape = batch;
  out_shape.push_back(Tq);
  out_shape.push_back(Dv);
  return out.reshape(out_shape);
}

Tensor sdpa(const AttnCase& c, const Tensor& q, const Tensor& k, const Tensor& v,
            const Tensor& mask) {
  std::optional<double> scale;
  if (c.scale > 0) scale = c.scale;
  return scaled_dot_product_attention(q, k, v, mask, 0.0, c.causal, scale);
}

// The same attention through explicit matmul -> softmax -> matmul with ember ops.
Tensor sdpa_explicit(const AttnCase& c, const Tensor& q, const Tensor& k, const Tensor& v,
                     const Tensor& mask) {
  const double scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(double(q.size(-1)));
  Tensor s = matmul(q, k.transpose(-2, -1)) * scale;
  if (c.causal)
    s = masked_fill(s, logical_not(tril(ones({q.size(-2), k.size(-2)}, {.dtype = DType::b8}))),
                    -kInf);
  if (mask.defined())
    s = mask.dtype() == DType::b8 ? masked_fill(s, logical_not(mask), -kInf) : s + mask;
  return matmul(softmax(s, -1), v);
}

class AttentionCases : public ::testing::TestWithParam<AttnCase> {};

TEST_P(AttentionCases, ForwardMatchesPlainLoops) {
  const AttnCase& c = GetParam();
  manual_seed(21);
  AttnInputs in = make_attn_inputs(c, DType::f64);
  Tensor want = reference_for(c, in);
  expect_near(sdpa(c, in.q, in.k, in.v, in.mask), want, 1e-11, 1e-11, c.name + " f64");
  Tensor m32 = in.mask.defined() && in.mask.dtype() != DType::b8 ? in.mask.to(DType::f32) : in.mask;
  Tensor y32 = sdpa(c, in.q.to(DType::f32), in.k.to(DType::f32), in.v.to(DType::f32), m32);
  EXPECT_EQ(y32.dtype(), DType::f32);
  expect_near(y32, want, 2e-4, 2e-5, c.name + " f32");
}

TEST_P(AttentionCases, FusedBackwardMatchesExplicitComposite) {
  const AttnCase& c = GetParam();
  manual_seed(22);
  AttnInputs in = make_attn_inputs(c, DType::f64);
  Tensor q = in.q.requires_grad_(), k = in.k.requires_grad_(), v = in.v.requires_grad_();
  Tensor y = sdpa(c, q, k, v, in.mask);
  Tensor g = randn(y.sizes(), f64());
  TensorList fused = autograd::grad({y}, {q, k, v}, {g});
  TensorList want = autograd::grad({sdpa_explicit(c, q, k, v, in.mask)}, {q, k, v}, {g});
  const char* names[] = {"dq", "dk", "dv"};
  for (int i = 0; i < 3; ++i)
    expect_near(fused[size_t(i)], want[size_t(i)], 1e-10, 1e-10, c.name + " " + names[i]);
  // f32 through the same path.
  Tensor q32 = in.q.detach().to(DType::f32).requires_grad_(),
         k32 = in.k.detach().to(DType::f32).requires_grad_();
  Tensor v32 = in.v.detach().to(DType::f32).requires_grad_();
  Tensor m32 = in.mask.defined() && in.mask.dtype() != DType::b8 ? in.mask.to(DType::f32) : in.mask;
  TensorList g32 =
      autograd::grad({sdpa(c, q32, k32, v32, m32)}, {q32, k32, v32}, {g.to(DType::f32)});
  for (int i = 0; i < 3; ++i)
    expect_near(g32[size_t(i)], want[size_t(i)], 1e-3, 1e-4, c.name + " f32 " + names[i]);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionCases, ::testing::ValuesIn(attn_cases()),
                         [](const ::testing::TestParamInfo<AttnCase>& param_info) {
                           std::string s;
                           for (char ch : param_info.param.name)
                             s += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return s;
                         });

TEST(SdpaOp, Gradcheck) {
  manual_seed(23);
  struct G {
    Shape q, k, v, mask;
    bool bool_mask, causal;
  };
  const std::vector<G> cases = {
      {{1, 2, 3, 4}, {1, 2, 4, 4}, {1, 2, 4, 3}, {}, false, false},
      {{2, 1, 4, 3}, {2, 1, 4, 3}, {2, 1, 4, 3}, {}, false, true},
      {{1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 2}, {1, 2, 3, 5}, false, false},
      {{2, 1, 3, 4}, {2, 1, 4, 4}, {2, 1, 4, 4}, {2, 1, 1, 4}, true, false},
      {{3, 4}, {2, 4}, {2, 3}, {}, false, false},
  };
  for (const G& c : cases) {
    Tensor q = randn(c.q, f64()).requires_grad_(), k = randn(c.k, f64()).requires_grad_();
    Tensor v = randn(c.v, f64()).requires_grad_();
    Tensor mask;
    if (!c.mask.empty()) {
      mask = c.bool_mask ? logical_or(rand(c.mask) > 0.4, eq(arange(c.mask.back()), 0))
                         : randn(c.mask, f64());
    }
    const bool causal = c.causal;
    auto f = [mask, causal](const TensorList& t) {
      return TensorList{scaled_dot_product_attention(t[0], t[1], t[2], mask, 0.0, causal)};
    };
    auto r = gradcheck(f, {q, k, v});
    EXPECT_TRUE(r.ok) << str(c.q) << ": " << r.message;
    auto rr = gradgradcheck(f, {q, k, v});
    EXPECT_TRUE(rr.ok) << "double backward " << str(c.q) << ": " << rr.message;
  }
  // A floating mask that requires grad takes the composite path and gets its gradient.
  Tensor q = randn({1, 2, 3, 4}, f64()).requires_grad_(),
         k = randn({1, 2, 3, 4}, f64()).requires_grad_();
  Tensor v = randn({1, 2, 3, 4}, f64()).requires_grad_(),
         bias = randn({2, 3, 3}, f64()).requires_grad_();
  auto r = gradcheck(
      [](const TensorList& t) {
        return TensorList{scaled_dot_product_attention(t[0], t[1], t[2], t[3])};
      },
      {q, k, v, bias});
  EXPECT_TRUE(r.ok) << "mask with grad: " << r.message;
}

TEST(SdpaOp, NoDropoutEqualsExplicitMatmulSoftmaxMatmul) {
  manual_seed(24);
  Tensor q = randn({2, 4, 33, 16}), k = randn({2, 4, 40, 16}), v = randn({2, 4, 40, 16});
  Tensor want = matmul(softmax(matmul(q, k.transpose(-2, -1)) / 4.0, -1), v);
  expect_near(scaled_dot_product_attention(q, k, v), want, 1e-5, 1e-6, "sdpa vs explicit");
  expect_near(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, 0.25), want, 1e-5, 1e-6,
              "explicit scale");
}

// The fused dropout keeps score (b, h, i, j) where philox::dropout_keep says so, at the
// generator state the call takes: here rebuilt by hand and applied to explicit attention.
TEST(SdpaOp, DropoutKeepsThePhiloxChosenScores) {
  manual_seed(25);
  Tensor q = randn({2, 2, 6, 8}, f64()).requires_grad_(), k = randn({2, 2, 7, 8}, f64()),
         v = randn({2, 2, 7, 8}, f64());
  manual_seed(99);
  const PhiloxState st = get_rng_state();
  Tensor y = scaled_dot_product_attention(q, k, v, Tensor(), 0.4);
  Tensor p = softmax(matmul(q, k.transpose(-2, -1)) / std::sqrt(8.0), -1);
  std::vector<double> z(static_cast<size_t>(p.numel()));
  const uint64_t threshold = philox::dropout_threshold(0.4);
  for (size_t i = 0; i < z.size(); ++i)
    z[i] = philox::dropout_keep(st.seed, st.offset, i, threshold) ? 1 / 0.6 : 0.0;
  Tensor want = matmul(p * from_vector(z, p.sizes()), v);
  expect_near(y, want, 1e-12, 1e-12, "dropout");
  manual_seed(100);
  Tensor y2 = scaled_dot_product_attention(q, k, v, Tensor(), 0.4);
  EXPECT_FALSE(allclose(y, y2));  // another seed, another mask
  y.sum().backward();
  EXPECT_TRUE(q.grad().defined());
  EXPECT_EQ(scaled_dot_product_attention(q, k, v, Tensor(), 1.0).abs().sum().item<double>(), 0.0);
}

TEST(SdpaOp, DropoutKeepsAboutOneMinusPOfTheScores) {
  const uint64_t threshold = philox::dropout_threshold(0.3);
  int kept = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i)
    kept += philox::dropout_keep(42, 3, static_cast<uint64_t>(i), threshold) ? 1 : 0;
  EXPECT_NEAR(kept / double(n), 0.7, 0.005);
  EXPECT_FALSE(philox::dropout_keep(42, 3, 5, philox::dropout_threshold(1.0)));
  EXPECT_TRUE(philox::dropout_keep(42, 3, 5, philox::dropout_threshold(0.0)));
}

// Gradcheck with dropout at a fixed seed (every evaluation drops the same scores), first
// and second order (the create_graph backward rebuilds the keep mask).
TEST(SdpaOp, GradcheckWithDropout) {
  manual_seed(26);
  Tensor q = randn({2, 2, 4, 3}, f64()).requires_grad_(),
         k = randn({2, 2, 5, 3}, f64()).requires_grad_();
  Tensor v = randn({2, 2, 5, 2}, f64()).requires_grad_(), mask = randn({2, 4, 5}, f64());
  for (bool causal : {false, true}) {
    auto f = [&](const TensorList& t) {
      manual_seed(4321);
      return TensorList{
          scaled_dot_product_attention(t[0], t[1], t[2], causal ? Tensor() : mask, 0.35, causal)};
    };
    auto r = gradcheck(f, {q, k, v});
    EXPECT_TRUE(r.ok) << "causal " << causal << ": " << r.message;
    auto rr = gradgradcheck(f, {q, k, v});
    EXPECT_TRUE(rr.ok) << "double backward, causal " << causal << ": " << rr.message;
  }
}

TEST(SdpaOp, FullyMaskedRowGivesNaNLikeSoftmax) {
  Tensor q = randn({1, 1, 2, 4}), k = randn({1, 1, 3, 4}), v = randn({1, 1, 3, 4});
  Tensor mask = from_vector<bool>({true, false, true, false, false, false}, {2, 3});
  Tensor y = scaled_dot_product_attention(q, k, v, mask);
  std::vector<float> yv = y.to_vector<float>();
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(std::isnan(yv[size_t(i)]));
  for (int i = 4; i < 8; ++i) EXPECT_TRUE(std::isnan(yv[size_t(i)]));
  expect_near(y, sdpa_explicit({}, q, k, v, mask), 1e-5, 1e-6, "masked rows");
}

TEST(SdpaOp, EmptyKeysAndQueries) {
  Tensor q = randn({2, 3, 4}), k = randn({2, 0, 4}), v = randn({2, 0, 5});
  Tensor y = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(y.sizes(), (Shape{2, 3, 5}));
  EXPECT_EQ(y.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(
      scaled_dot_product_attention(randn({2, 0, 4}), randn({2, 3, 4}), randn({2, 3, 5})).sizes(),
      (Shape{2, 0, 5}));
}

TEST(SdpaOp, ErrorsNameTheOpAndShapes) {
  Tensor q = randn({2, 3, 5, 8}), k = randn({2, 3, 6, 8}), v = randn({2, 3, 6, 4});
  EXPECT_THROW(scaled_dot_product_attention(q, randn({2, 3, 6, 7}), v), ShapeError);  // D
  EXPECT_THROW(scaled_dot_product_attention(q, k, randn({2, 3, 5, 4})), ShapeError);  // Tk
  EXPECT_THROW(scaled_dot_product_attention(q, randn({3, 3, 6, 8}), v), ShapeError);  // batch
  EXPECT_THROW(scaled_dot_product_attention(randn({8}), k, v), ShapeError);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, randn({5, 5})), ShapeError);  // mask keys
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, randn({2, 2, 5, 6})),
               ShapeError);  // mask heads
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, randn({1, 2, 3, 5, 6})),
               ShapeError);  // mask dims
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, zeros({5, 6}, {.dtype = DType::i64})),
               DTypeError);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, randn({5, 6}, f64())), DTypeError);
  EXPECT_THROW(scaled_dot_product_attention(q, k.to(DType::f64), v), DTypeError);
  EXPECT_THROW(scaled_dot_product_attention(q.to(DType::i64), k.to(DType::i64), v.to(DType::i64)),
               DTypeError);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, randn({5, 6}), 0.0, true), ValueError);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, Tensor(), 1.5), ValueError);
  EXPECT_THROW(scaled_dot_product_attention(q, k, v, Tensor(), -0.1), ValueError);
  try {
    scaled_dot_product_attention(q, k, v, randn({5, 5}));
    ADD_FAILURE() << "no error";
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("scaled_dot_product_attention"), std::string::npos) << m;
    EXPECT_NE(m.find("[5, 5]"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3, 5, 6]"), std::string::npos) << m;
  }
  // The raw primitive checks what it is given too.
  EXPECT_THROW(
      raw::attention_forward(randn({3, 5, 8}), randn({3, 6, 8}), randn({3, 6, 8}), Tensor(), {}),
      ShapeError);
}

// ---- the composite fallback ---------------------------------------------------------------

// A `sim` stand-in for builds without the simulator: host memory, every primitive the
// cpu backend's, but no conv2d or attention, so the op layer must fall back.
class HostBackendWithoutNn final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::sim; }
  void* allocate(size_t n) override { return cpu().allocate(n); }
  void deallocate(void* p, size_t n) noexcept override { cpu().deallocate(p, n); }
  void copy_from_host(void* d, const void* s, size_t n) override { cpu().copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { cpu().copy_to_host(d, s, n); }
  void copy(const Tensor& o, const Tensor& i) override { cpu().copy(o, i); }
  void fill(const Tensor& o, const Scalar& v) override { cpu().fill(o, v); }
  void unary(UnaryOp op, const Tensor& o, const Tensor& i, double a, double a2) override {
    cpu().unary(op, o, i, a, a2);
  }
  void binary(BinaryOp op, const Tensor& o, const Tensor& a, const Tensor& b) override {
    cpu().binary(op, o, a, b);
  }
  void where(const Tensor& o, const Tensor& c, const Tensor& a, const Tensor& b) override {
    cpu().where(o, c, a, b);
  }
  void reduce(ReduceOp op, const Tensor& o, const Tensor& idx, const Tensor& i,
              int64_t corr) override {
    cpu().reduce(op, o, idx, i, corr);
  }
  void matmul(const Tensor& o, const Tensor& a, const Tensor& b) override { cpu().matmul(o, a, b); }
  void softmax(const Tensor& o, const Tensor& i, bool log) override { cpu().softmax(o, i, log); }
  void random(const Tensor& o, RandomDist d, uint64_t seed, uint64_t off, double a,
              double b) override {
    cpu().random(o, d, seed, off, a, b);
  }
  void index_select(const Tensor& o, const Tensor& i, int64_t dim, const Tensor& idx) override {
    cpu().index_select(o, i, dim, idx);
  }
  void gather(const Tensor& o, const Tensor& i, int64_t dim, const Tensor& idx) override {
    cpu().gather(o, i, dim, idx);
  }
  void scatter_add(const Tensor& o, int64_t dim, const Tensor& idx, const Tensor& s) override {
    cpu().scatter_add(o, dim, idx, s);
  }

 private:
  static Backend& cpu() { return backend(DeviceType::cpu); }
};

// Installs the stand-in as the `sim` backend for a scope (the simulator implements both
// primitives, so the fallback needs a device without them), and puts the real one back.
// Every sim tensor of the scope must die inside it: the stand-in allocates host memory.
class WithoutNnPrimitives {
 public:
  WithoutNnPrimitives()
      : real_(backend_available(DeviceType::sim) ? &backend(DeviceType::sim) : nullptr) {
    static HostBackendWithoutNn stand_in;  // outlives the scope: without sim it stays installed
    register_backend(&stand_in);
  }
  ~WithoutNnPrimitives() {
    if (real_ != nullptr) register_backend(real_);
  }
  WithoutNnPrimitives(const WithoutNnPrimitives&) = delete;
  WithoutNnPrimitives& operator=(const WithoutNnPrimitives&) = delete;

 private:
  Backend* real_;
};

TEST(NnFallback, DeviceWithoutPrimitivesMatchesCpu) {
  const WithoutNnPrimitives scope;
  const Device dev = Device::sim();
  ASSERT_FALSE(backend(dev).supports(Primitive::conv2d, DType::f64));
  ASSERT_FALSE(backend(dev).supports(Primitive::attention, DType::f64));
  manual_seed(31);
  Tensor x = randn({2, 4, 9, 8}, f64()), w = randn({6, 2, 3, 3}, f64()), b = randn({6}, f64());
  const Conv2dParams p = params(2, 1, 1, 1, 1, 2, 2);
  Tensor xs = x.to(dev).requires_grad_(), ws = w.to(dev).requires_grad_(),
         bs = b.to(dev).requires_grad_();
  Tensor ys = conv2d(xs, ws, bs, p);
  EXPECT_EQ(ys.device(), dev);
  Tensor g = randn(ys.sizes(), f64());
  ys.backward(g.to(dev));
  Tensor xc = x.clone().requires_grad_(), wc = w.clone().requires_grad_(),
         bc = b.clone().requires_grad_();
  conv2d(xc, wc, bc, p).backward(g);
  expect_near(ys, conv2d(x, w, b, p), 1e-12, 1e-12, "fallback conv forward");
  expect_near(xs.grad(), xc.grad(), 1e-12, 1e-12, "fallback conv dx");
  expect_near(ws.grad(), wc.grad(), 1e-12, 1e-12, "fallback conv dw");
  expect_near(bs.grad(), bc.grad(), 1e-12, 1e-12, "fallback conv db");

  Tensor q = randn({2, 3, 5, 8}, f64()), k = randn({2, 3, 6, 8}, f64()),
         v = randn({2, 3, 6, 4}, f64());
  Tensor mask = randn({3, 5, 6}, f64());
  Tensor qs = q.to(dev).requires_grad_(), ks = k.to(dev).requires_grad_(),
         vs = v.to(dev).requires_grad_();
  Tensor att = scaled_dot_product_attention(qs, ks, vs, mask.to(dev));
  EXPECT_EQ(att.device(), dev);
  Tensor ga = randn(att.sizes(), f64());
  TensorList gs = autograd::grad({att}, {qs, ks, vs}, {ga.to(dev)});
  Tensor qc = q.clone().requires_grad_(), kc = k.clone().requires_grad_(),
         vc = v.clone().requires_grad_();
  Tensor want = scaled_dot_product_attention(qc, kc, vc, mask);
  TensorList gc = autograd::grad({want}, {qc, kc, vc}, {ga});
  expect_near(att, want, 1e-12, 1e-12, "fallback attention forward");
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(gs[i].device(), dev);
    expect_near(gs[i], gc[i], 1e-12, 1e-12, "fallback attention grad");
  }
}

}  // namespace
}  // namespace ember
