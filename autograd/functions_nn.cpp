// Differentiable conv2d, scaled_dot_product_attention, layer norm, embedding and cross
// entropy (the last three at the end of the file).
//
// conv2d's derivative rules use three ops that are bilinear in their two tensor
// arguments and differentiable in turn, so double backward works to any order:
//   y  = F(x, w)   (conv2d):                 dx = BI(g, w),  dw = BW(g, x),  db = sum_{N,P,Q} g
//   dx = BI(g, w)  (gradient for the input):  dg = F(u, w),   dw = BW(g, u)
//   dw = BW(g, x)  (gradient for the weight): dg = F(x, u),   dx = BI(g, u)
// where u is the incoming gradient, since <u, BI(g, w)> = <F(u, w), g> and
// <u, BW(g, x)> = <F(x, u), g>.
//
// scaled_dot_product_attention runs the fused primitive and its fused backward (the
// probabilities recomputed from the saved log-sum-exp). With create_graph the backward
// is instead written with differentiable ops (matmul, softmax, ...), which keep the
// (Tq, Tk) matrices but make the gradient differentiable. Dropout is fused too: the
// primitive draws its keep mask from Philox at the generator state taken here, and
// regenerates it in the backward (the create_graph backward materializes it). A floating
// mask that requires grad takes the composite path matmul -> softmax -> dropout -> matmul.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/autocast_policy.h"
#include "autograd/recording.h"
#include "tensor/philox.h"
#include "tensor/random.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

Tensor conv_input_grad(const Tensor& g, const Tensor& w, const Shape& x_shape,
                       const Conv2dParams& p);
Tensor conv_weight_grad(const Tensor& g, const Tensor& x, const Shape& w_shape,
                        const Conv2dParams& p);

bool wants_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// db = g summed over N, P and Q, as a matrix-vector product with ones (vectorized) and a
// sum over N: g (N, K, P, Q) -> (K).
Tensor conv_bias_grad(const Tensor& g) {
  // bf16/f16 (issue 16): one reduction, summed in f32 and rounded once.
  if (is_half(g.dtype())) return sum(g, {0, 2, 3});
  const int64_t N = g.size(0), K = g.size(1), PQ = g.size(2) * g.size(3);
  return sum(matmul(g.reshape({N, K, PQ}), ones({PQ}, g.options())), {0});
}

// F(x, w) + bias: x (N, C, H, W) -> (N, K, P, Q).
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  Tensor y = raw::conv2d_forward(x, w, bias, p);
  if (needs_grad({&x, &w, &bias})) {
    const bool need_x = wants_grad(x), need_w = wants_grad(w), need_b = wants_grad(bias);
    SavedTensor sx = need_w ? SavedTensor(x, false) : SavedTensor();
    SavedTensor sw = need_x ? SavedTensor(w, false) : SavedTensor();
    const Shape xs = x.sizes(), ws = w.sizes();
    record("Conv2dBackward", {x, w, bias}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      const Tensor go = g[0].contiguous();  // (N, K, P, Q), made contiguous once for all three
      const Tensor xv = sx.unpack(), wv = sw.unpack();
      // Without a graph of the backward (create_graph off), the three gradients come from
      // one call, which a backend may fuse into one pass over go (the cpu does).
      if (!needs_grad({&go, &xv, &wv})) {
        auto [dx, dw, db] = raw::conv2d_backward(go, xs, xv, ws, wv, p, {need_x, need_w, need_b});
        return TensorList{dx, dw, db};
      }
      return TensorList{need_x ? conv_input_grad(go, wv, xs, p) : Tensor(),
                        need_w ? conv_weight_grad(go, xv, ws, p) : Tensor(),
                        need_b ? conv_bias_grad(go) : Tensor()};
    });
  }
  return y;
}

// BI(g, w): the gradient of F for an input of shape x_shape.
Tensor conv_input_grad(const Tensor& g, const Tensor& w, const Shape& x_shape,
                       const Conv2dParams& p) {
  Tensor dx = raw::conv2d_backward_input(x_shape, g, w, p);
  if (needs_grad({&g, &w})) {
    const bool need_g = wants_grad(g), need_w = wants_grad(w);
    SavedTensor sg = need_w ? SavedTensor(g, false) : SavedTensor();
    SavedTensor sw = need_g ? SavedTensor(w, false) : SavedTensor();
    const Shape ws = w.sizes();
    record("Conv2dBackwardInputBackward", {g, w}, dx, [=](const TensorList& u) {
      if (!u[0].defined()) return TensorList{Tensor(), Tensor()};
      return TensorList{need_g ? conv_forward(u[0], sw.unpack(), Tensor(), p) : Tensor(),
                        need_w ? conv_weight_grad(sg.unpack(), u[0], ws, p) : Tensor()};
    });
  }
  return dx;
}

// BW(g, x): the gradient of F for a weight of shape w_shape.
Tensor conv_weight_grad(const Tensor& g, const Tensor& x, const Shape& w_shape,
                        const Conv2dParams& p) {
  Tensor dw = raw::conv2d_backward_weight(w_shape, g, x, p);
  if (needs_grad({&g, &x})) {
    const bool need_g = wants_grad(g), need_x = wants_grad(x);
    SavedTensor sg = need_x ? SavedTensor(g, false) : SavedTensor();
    SavedTensor sx = need_g ? SavedTensor(x, false) : SavedTensor();
    const Shape xs = x.sizes();
    record("Conv2dBackwardWeightBackward", {g, x}, dw, [=](const TensorList& u) {
      if (!u[0].defined()) return TensorList{Tensor(), Tensor()};
      return TensorList{need_g ? conv_forward(sx.unpack(), u[0], Tensor(), p) : Tensor(),
                        need_x ? conv_input_grad(sg.unpack(), u[0], xs, p) : Tensor()};
    });
  }
  return dw;
}

constexpr const char* kSdpa = "scaled_dot_product_attention";

Shape lead(const Tensor& t) { return Shape(t.sizes().begin(), t.sizes().end() - 2); }
Shape with_tail(Shape s, int64_t a, int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

// True when `from` broadcasts to `to` without changing `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t lead_dims = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[lead_dims + i]) return false;
  return true;
}

// The scores' additive mask: a bool mask becomes 0 where true (attend) and -inf where false.
Tensor additive_mask(const Tensor& mask, const Tensor& q) {
  if (!mask.defined()) return mask;
  raw::check_same_device(kSdpa, q, mask);
  if (mask.dtype() == DType::b8) {
    return raw::where(mask, raw::scalar_like(0.0, q),
                      raw::scalar_like(-std::numeric_limits<double>::infinity(), q));
  }
  if (mask.dtype() != q.dtype())
    fail<DTypeError>(kSdpa, "attn_mask must be bool or of the query's dtype ", q.dtype(), ", got ",
                     mask.dtype(), " ", str(mask.sizes()));
  return mask;
}

// Keeps each element with probability 1 - p and scales the kept ones by 1 / (1 - p).
Tensor dropout(const Tensor& x, double p) {
  if (p >= 1.0) return x * 0.0;
  Tensor keep = ge(rand(x.sizes(), {.dtype = x.dtype(), .device = x.device()}), p);
  return x * (keep.to(x.dtype()) * (1.0 / (1.0 - p)));
}

// The scores softmax(q k^T scale + mask) with differentiable ops: (..., Tq, Tk).
Tensor attention_probs(const Tensor& q, const Tensor& k, const Tensor& mask, bool causal,
                       double scale) {
  Tensor s = matmul(q, k.transpose(-2, -1)) * scale;
  if (causal) {
    Tensor above = raw::tril_mask(q.size(-2), k.size(-2), 0, false, q.device());  // true: j <= i
    s = masked_fill(s, logical_not(above), -std::numeric_limits<double>::infinity());
  }
  if (mask.defined()) s = s + mask;
  return softmax(s, -1);
}

// The fused primitive's dropout factors Z (B, H, Tq, Tk): 1 / (1 - p) where a score is
// kept, 0 where dropped (tensor/philox.h's dropout_keep), computed on the host.
Tensor attention_dropout_factors(int64_t B, int64_t H, int64_t Tq, int64_t Tk,
                                 const AttentionParams& p, DType dtype, Device device) {
  const uint64_t threshold = philox::dropout_threshold(p.dropout_p);
  const double keep = p.dropout_p < 1.0 ? 1.0 / (1.0 - p.dropout_p) : 0.0;
  std::vector<double> z(static_cast<size_t>(B * H * Tq * Tk));
  for (size_t i = 0; i < z.size(); ++i)
    z[i] = philox::dropout_keep(p.seed, p.offset, i, threshold) ? keep : 0.0;
  return from_vector(z, {B, H, Tq, Tk}).to(dtype).to(device);
}

// Gradients of softmax(q k^T scale + mask) v for q, k, v with differentiable ops, for double
// backward: dv = (P o Z)^T g, dP = Z o (g v^T), dS = P o (dP - rowsum(dP o P)),
// dq = scale dS k, dk = scale dS^T q, with dropout factors z (the broadcast batch shape,
// Tq, Tk) or undefined without dropout. Results have the broadcast batch shape.
TensorList attention_grads_differentiable(const Tensor& g, const Tensor& q, const Tensor& k,
                                          const Tensor& v, const Tensor& mask, bool causal,
                                          double scale, const Tensor& z) {
  Tensor p = attention_probs(q, k, mask, causal, scale);
  Tensor dv = matmul(z.defined() ? (p * z).transpose(-2, -1) : p.transpose(-2, -1), g);
  Tensor dp = matmul(g, v.transpose(-2, -1));
  if (z.defined()) dp = dp * z;
  Tensor ds = p * (dp - sum(dp * p, {-1}, true));
  Tensor dq = matmul(ds, k) * scale;
  Tensor dk = matmul(ds.transpose(-2, -1), q) * scale;
  return {dq, dk, dv};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& params) {
  if (autocast_policy::active())  // autocast: lower precision (conv1d too)
    return autocast_policy::lower_precision(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return conv2d(x_, w, b, params);
        },
        x, weight, bias);
  raw::check_defined("conv2d", x);
  raw::check_defined("conv2d", weight);
  if (x.dim() == 3) {  // unbatched (C, H, W)
    return conv_forward(x.unsqueeze(0), weight, bias, params).squeeze(0);
  }
  return conv_forward(x, weight, bias, params);
}

// The adjoint of conv2d: y = BI(x, w) for the convolution that maps y's shape back to x's
// (its weight (C, K/groups, R, S) is conv2d's (out, in/groups, R, S) layout), so every
// device's conv2d kernels serve it and the rules above differentiate it.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias,
                        const Conv2dParams& params, int64_t output_padding_h,
                        int64_t output_padding_w) {
  if (autocast_policy::active())  // autocast: lower precision
    return autocast_policy::lower_precision(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return conv_transpose2d(x_, w, b, params, output_padding_h, output_padding_w);
        },
        x, weight, bias);
  constexpr const char* kOp = "conv_transpose2d";
  raw::check_defined(kOp, x);
  raw::check_defined(kOp, weight);
  if (x.dim() == 3)  // unbatched (C, H, W)
    return conv_transpose2d(x.unsqueeze(0), weight, bias, params, output_padding_h,
                            output_padding_w)
        .squeeze(0);
  const Conv2dParams& p = params;
  auto where = [&] {
    return detail::cat_str(" (input ", str(x.sizes()), ", weight ", str(weight.sizes()),
                           ", stride [", p.stride_h, ", ", p.stride_w, "], output_padding [",
                           output_padding_h, ", ", output_padding_w, "], dilation [", p.dilation_h,
                           ", ", p.dilation_w, "])");
  };
  if (x.dim() != 4 || weight.dim() != 4)
    fail<ShapeError>(kOp, "expected a 3-D or 4-D input and a 4-D weight", where());
  if (p.groups < 1 || weight.size(0) != x.size(1) || x.size(1) % p.groups != 0)
    fail<ShapeError>(kOp, "the input has ", x.size(1), " channels but the weight (in_channels, ",
                     "out_channels/groups, kH, kW) expects ", weight.size(0), " with groups ",
                     p.groups, where());
  if (output_padding_h < 0 || output_padding_w < 0 ||
      output_padding_h >= std::max(p.stride_h, p.dilation_h) ||
      output_padding_w >= std::max(p.stride_w, p.dilation_w))
    fail<ValueError>(kOp, "output_padding must be smaller than either stride or dilation", where());
  if (output_padding_h >= p.stride_h || output_padding_w >= p.stride_w)
    fail<ValueError>(kOp,
                     "output_padding must be smaller than the stride in ember "
                     "(docs/decisions.md)",
                     where());
  const int64_t N = x.size(0), K = weight.size(1) * p.groups;
  const int64_t P = (x.size(2) - 1) * p.stride_h - 2 * p.pad_h +
                    p.dilation_h * (weight.size(2) - 1) + output_padding_h + 1;
  const int64_t Q = (x.size(3) - 1) * p.stride_w - 2 * p.pad_w +
                    p.dilation_w * (weight.size(3) - 1) + output_padding_w + 1;
  if (P < 1 || Q < 1)
    fail<ShapeError>(kOp, "the output would be ", P, "x", Q, ", not positive", where());
  Tensor y = conv_input_grad(x, weight, {N, K, P, Q}, p);  // (N, K, P, Q)
  if (!bias.defined()) return y;
  if (bias.dim() != 1 || bias.size(0) != K)
    fail<ShapeError>(kOp, "bias of shape ", str(bias.sizes()), " must be [", K, "]", where());
  return y + bias.reshape({K, 1, 1});
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale) {
  if (autocast_policy::active())  // autocast: lower precision
    return autocast_policy::lower_precision(
        [&](const Tensor& q_, const Tensor& k_, const Tensor& v_, const Tensor& m) {
          return scaled_dot_product_attention(q_, k_, v_, m, dropout_p, is_causal, scale);
        },
        q, k, v, attn_mask);
  raw::check_defined(kSdpa, q);
  raw::check_defined(kSdpa, k);
  raw::check_defined(kSdpa, v);
  auto shapes = [&] {
    return detail::cat_str(" (query ", str(q.sizes()), ", key ", str(k.sizes()), ", value ",
                           str(v.sizes()), ")");
  };
  raw::check_same_device(kSdpa, q, k);
  raw::check_same_device(kSdpa, q, v);
  if (!is_floating(q.dtype()) || k.dtype() != q.dtype() || v.dtype() != q.dtype())
    fail<DTypeError>(kSdpa, "expected floating-point query, key and value of one dtype, got ",
                     q.dtype(), ", ", k.dtype(), " and ", v.dtype(), shapes());
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    fail<ShapeError>(kSdpa, "query, key and value need at least 2 dims (..., T, D)", shapes());
  const int64_t Tq = q.size(-2), D = q.size(-1), Tk = k.size(-2), Dv = v.size(-1);
  if (k.size(-1) != D)
    fail<ShapeError>(kSdpa, "query and key must have the same embedding size (", D,
                     " != ", k.size(-1), ")", shapes());
  if (v.size(-2) != Tk)
    fail<ShapeError>(kSdpa, "key and value must have the same sequence length (", Tk,
                     " != ", v.size(-2), ")", shapes());
  const Shape batch = broadcast_shapes(kSdpa, broadcast_shapes(kSdpa, lead(q), lead(k)), lead(v));
  if (!(dropout_p >= 0.0 && dropout_p <= 1.0))
    fail<ValueError>(kSdpa, "dropout_p must be in [0, 1], got ", dropout_p);
  if (is_causal && attn_mask.defined())
    fail<ValueError>(kSdpa,
                     "attn_mask must not be set when is_causal is true (got a mask of shape ",
                     str(attn_mask.sizes()), ")");
  const double sc = scale.value_or(1.0 / std::sqrt(static_cast<double>(D)));

  Tensor mask = additive_mask(attn_mask, q);
  const Shape scores = with_tail(batch, Tq, Tk);
  if (mask.defined() && !broadcasts_to(mask.sizes(), scores))
    fail<ShapeError>(kSdpa, "attn_mask of shape ", str(mask.sizes()),
                     " cannot be broadcast to the attention scores' shape ", str(scores), shapes());

  if (wants_grad(mask) && autograd::GradMode::is_enabled()) {
    Tensor p = attention_probs(q, k, mask, is_causal, sc);
    if (dropout_p > 0.0) p = dropout(p, dropout_p);
    return matmul(p, v);
  }

  // The primitive's (B, H, T, D): the last batch dim is H, the others fold into B.
  const auto L = static_cast<int64_t>(batch.size());
  const int64_t H = L >= 1 ? batch.back() : 1;
  int64_t B = 1;
  for (int64_t i = 0; i + 1 < L; ++i) B *= batch[static_cast<size_t>(i)];
  auto flat = [=](const Tensor& t, int64_t rows, int64_t cols) {
    return raw::reshape(raw::expand(t, with_tail(batch, rows, cols)), {B, H, rows, cols});
  };
  Tensor mask4;  // (Bm, Hm, Tqm, Tkm): Bm in {1, B}, Hm in {1, H}
  if (mask.defined()) {
    Tensor m = raw::alias(mask);
    while (m.dim() < L + 2) m = raw::unsqueeze(m, 0);
    const int64_t Hm = L >= 1 ? m.size(L - 1) : 1;
    bool b_broadcast = true;
    for (int64_t i = 0; i + 1 < L; ++i) b_broadcast = b_broadcast && m.size(i) == 1;
    Shape lead_shape(batch.begin(), batch.end() - (L >= 1 ? 1 : 0));
    if (b_broadcast) std::fill(lead_shape.begin(), lead_shape.end(), 1);
    Shape full = lead_shape;
    if (L >= 1) full.push_back(Hm);
    full.push_back(m.size(-2));
    full.push_back(m.size(-1));
    mask4 = raw::reshape(raw::expand(m, full), {b_broadcast ? 1 : B, Hm, m.size(-2), m.size(-1)});
  }
  AttentionParams params{sc, is_causal};
  if (dropout_p > 0.0) {
    const PhiloxState st = next_philox_state();
    params.dropout_p = dropout_p, params.seed = st.seed, params.offset = st.offset;
  }
  auto [out4, lse] =
      raw::attention_forward(flat(q, Tq, D), flat(k, Tk, D), flat(v, Tk, Dv), mask4, params);
  Tensor out = raw::reshape(out4, with_tail(batch, Tq, Dv));
  if (needs_grad({&q, &k, &v})) {
    SavedTensor sq(q, false), sk(k, false), sv(v, false);
    auto so = autograd::saved_output();
    Tensor lse_ = lse;  // (B, H, Tq), never exposed, so never modified in place
    record("ScaledDotProductAttentionBackward", {q, k, v}, out, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor q_ = sq.unpack(), k_ = sk.unpack(), v_ = sv.unpack();
      if (autograd::GradMode::is_enabled())  // create_graph: a differentiable gradient
        return attention_grads_differentiable(
            g[0], q_, k_, v_, mask, is_causal, sc,
            params.dropout_p > 0.0
                ? raw::reshape(
                      attention_dropout_factors(B, H, Tq, Tk, params, q_.dtype(), q_.device()),
                      with_tail(batch, Tq, Tk))
                : Tensor());
      auto [dq, dk, dv] = raw::attention_backward(
          flat(g[0], Tq, Dv), flat(q_, Tq, D), flat(k_, Tk, D), flat(v_, Tk, Dv),
          raw::reshape(so->unpack(), {B, H, Tq, Dv}), lse_, mask4, params);
      // In the broadcast batch shape; the node sums them down to each input's shape.
      return TensorList{raw::reshape(dq, with_tail(batch, Tq, D)),
                        raw::reshape(dk, with_tail(batch, Tk, D)),
                        raw::reshape(dv, with_tail(batch, Tk, Dv))};
    });
    autograd::fill(so, out);
  }
  return out;
}

// ---- layer norm, embedding, cross entropy ------------------------------------------------
//
// Each runs its fused primitive and records one node whose backward is the fused backward
// primitive; under create_graph (grad mode on inside the backward) the gradient is instead
// written with differentiable ops, so it can be differentiated again:
//   layer norm, per row (N features), xhat = (x - mean) rstd, g = dy w:
//     dx = rstd (g - mean(g) - xhat mean(g xhat)),  dw = sum_rows dy xhat,  db = sum_rows dy
//   embedding: dW = the rows of g added at their indices (the padding row gets nothing);
//     linear in g, so its own gradient is a lookup of the incoming gradient
//   cross entropy, per row: d row / d z = (1 - eps) w_t (softmax(z) - onehot(t))
//                                          + eps / C (softmax(z) W - w)

namespace {

// The layer norm gradients with differentiable ops (create_graph): x (R, N), dy (R, N).
TensorList layer_norm_grads_differentiable(const Tensor& dy, const Tensor& x, const Tensor& w,
                                           double eps, bool need_x, bool need_w, bool need_b) {
  Tensor mu = x.mean({1}, true);
  Tensor xc = x - mu;
  Tensor rstd = rsqrt((xc * xc).mean({1}, true) + eps);
  Tensor xhat = xc * rstd;
  Tensor g = w.defined() ? dy * w : dy;
  Tensor dx;
  if (need_x) dx = rstd * (g - g.mean({1}, true) - xhat * (g * xhat).mean({1}, true));
  return {dx, need_w ? (dy * xhat).sum({0}) : Tensor(), need_b ? dy.sum({0}) : Tensor()};
}

}  // namespace

Tensor layer_norm_rows(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  auto [y, mean, rstd] = raw::layer_norm_forward(x, weight, bias, eps);
  if (needs_grad({&x, &weight, &bias})) {
    const bool need_x = wants_grad(x), need_w = wants_grad(weight), need_b = wants_grad(bias);
    SavedTensor sx(x, false), sw(weight, false);
    Tensor mean_ = mean, rstd_ = rstd;  // (R), never exposed, so never modified in place
    record("LayerNormBackward", {x, weight, bias}, y, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor xx = sx.unpack(), ww = sw.unpack();
      if (autograd::GradMode::is_enabled())
        return layer_norm_grads_differentiable(g[0], xx, ww, eps, need_x, need_w, need_b);
      auto [dx, dw, db] = raw::layer_norm_backward(g[0], xx, mean_, rstd_, ww, need_w, need_b);
      return TensorList{need_x ? dx : Tensor(), dw, db};
    });
  }
  return y;
}

Tensor embedding_rows(const Tensor& weight, const Tensor& indices,
                      std::optional<int64_t> padding_idx) {
  Tensor flat = raw::reshape(indices, {indices.numel()});  // (M)
  Tensor out = raw::embedding_forward(weight, flat);       // (M, D)
  if (needs_grad({&weight})) {
    SavedTensor sidx(flat, false);
    const int64_t V = weight.size(0);
    const Shape wshape = weight.sizes();
    const TensorOptions wopts = weight.options();
    record("EmbeddingBackward", {weight}, out, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor()};
      Tensor idx = sidx.unpack();
      if (!autograd::GradMode::is_enabled())
        return TensorList{raw::embedding_backward(g[0], idx, V, padding_idx)};
      Tensor gg = g[0];
      if (padding_idx) gg = where(ne(idx, *padding_idx).unsqueeze(1), gg, 0);
      return TensorList{
          scatter_add(zeros(wshape, wopts), 0, idx.unsqueeze(1).expand(gg.sizes()), gg)};
    });
  }
  return out;
}

Tensor cross_entropy_rows(const Tensor& z, const Tensor& t, const Tensor& weight,
                          const CrossEntropyParams& p) {
  auto [rows, lse] = raw::cross_entropy_forward(z, t, weight, p);
  if (needs_grad({&z})) {
    SavedTensor sz(z, false), st(t, false), sw(weight, false);
    Tensor lse_ = lse;  // (R), never exposed
    record("CrossEntropyBackward", {z}, rows, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor()};
      Tensor zz = sz.unpack(), tt = st.unpack(), ww = sw.unpack();
      if (!autograd::GradMode::is_enabled())
        return TensorList{raw::cross_entropy_backward(g[0], zz, lse_, tt, ww, p)};
      const int64_t C = zz.size(1);
      Tensor valid = ne(tt, p.ignore_index);
      Tensor safe = where(valid, tt, 0);
      Tensor onehot =
          eq(arange(C, {.device = zz.device()}).unsqueeze(0), safe.unsqueeze(1)).to(zz.dtype());
      Tensor probs = softmax(zz, 1);
      Tensor wv = ww.defined() ? ww.to(zz.dtype()).unsqueeze(0) : ones({1, C}, zz.options());
      Tensor wt = ww.defined() ? ww.to(zz.dtype()).index_select(0, safe).unsqueeze(1)
                               : ones({1, 1}, zz.options());
      const double eps = p.label_smoothing;
      Tensor d = (probs - onehot) * wt * (1.0 - eps) +
                 (probs * wv.sum() - wv) * (eps / static_cast<double>(C));
      return TensorList{d * (g[0] * valid.to(zz.dtype())).unsqueeze(1)};
    });
  }
  return rows;
}

}  // namespace ember
