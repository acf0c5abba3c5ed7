// conv2d and fused attention: validate, make operands contiguous, allocate, dispatch.
//
// Both are optional backend primitives, dispatched by tensor/dispatch.h (a device without
// one runs the cpu kernels, in place on host memory or on host copies, and says so).
#include <cmath>
#include <limits>
#include <string>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

constexpr const char* kConv = "conv2d";
constexpr const char* kConvBwdInput = "conv2d_backward_input";
constexpr const char* kConvBwdWeight = "conv2d_backward_weight";
constexpr const char* kConvBwd = "conv2d_backward";
constexpr const char* kAttn = "scaled_dot_product_attention";
constexpr const char* kAttnBwd = "scaled_dot_product_attention_backward";

std::string params_str(const Conv2dParams& p) {
  return detail::cat_str("stride [", p.stride_h, ", ", p.stride_w, "], padding [", p.pad_h, ", ",
                         p.pad_w, "], dilation [", p.dilation_h, ", ", p.dilation_w, "], groups ",
                         p.groups);
}

// The geometry of a convolution of an input of shape x by a weight of shape w.
struct ConvShapes {
  int64_t N, C, H, W, K, R, S, P, Q;
  Shape out() const { return {N, K, P, Q}; }
};

ConvShapes conv_shapes(const char* op, const Shape& x, const Shape& w, const Conv2dParams& p) {
  auto where = [&] {
    return detail::cat_str(" (input ", str(x), ", weight ", str(w), ", ", params_str(p), ")");
  };
  if (p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 || p.dilation_w < 1 || p.pad_h < 0 ||
      p.pad_w < 0 || p.groups < 1)
    fail<ValueError>(op, "strides, dilations and groups must be positive and padding non-negative",
                     where());
  if (x.size() != 4)
    fail<ShapeError>(op, "expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), got shape ",
                     str(x), where());
  if (w.size() != 4)
    fail<ShapeError>(op, "expected a 4-D weight (K, C/groups, R, S), got shape ", str(w), where());
  for (int64_t s : x)
    if (s < 0) fail<ValueError>(op, "negative size in input shape ", str(x));
  ConvShapes c{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0};
  if (c.R < 1 || c.S < 1 || w[1] < 0)
    fail<ShapeError>(op, "the kernel must be at least 1x1, got weight shape ", str(w), where());
  if (c.C % p.groups != 0)
    fail<ShapeError>(op, "input channels (", c.C, ") are not divisible by groups (", p.groups, ")",
                     where());
  if (c.K % p.groups != 0)
    fail<ShapeError>(op, "output channels (", c.K, ") are not divisible by groups (", p.groups, ")",
                     where());
  if (w[1] * p.groups != c.C)
    fail<ShapeError>(op, "the weight expects ", w[1], " input channels per group (",
                     w[1] * p.groups, " in all), but the input has ", c.C, " channels", where());
  const int64_t eff_r = p.dilation_h * (c.R - 1) + 1, eff_s = p.dilation_w * (c.S - 1) + 1;
  const int64_t ph = c.H + 2 * p.pad_h, pw = c.W + 2 * p.pad_w;
  if (eff_r > ph || eff_s > pw)
    fail<ShapeError>(op, "the kernel (", eff_r, "x", eff_s,
                     " after dilation) is larger than the padded input (", ph, "x", pw, ")",
                     where());
  c.P = (ph - eff_r) / p.stride_h + 1;
  c.Q = (pw - eff_s) / p.stride_w + 1;
  return c;
}

void check_float_same(const char* op, const Tensor& a, const char* an, const Tensor& b,
                      const char* bn) {
  check_same_device(op, a, b);
  if (!is_floating(a.dtype()) || a.dtype() != b.dtype())
    fail<DTypeError>(op, "expected floating-point ", an, " and ", bn, " of one dtype, got ", an,
                     " ", a.dtype(), " ", str(a.sizes()), " and ", bn, " ", b.dtype(), " ",
                     str(b.sizes()));
}

}  // namespace

// ---- conv2d -----------------------------------------------------------------------------

Shape conv2d_output_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dParams& p) {
  return conv_shapes(kConv, x_shape, w_shape, p).out();
}

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dParams& p) {
  const profiler::OpScope profile(kConv);
  check_defined(kConv, x);
  check_defined(kConv, w);
  check_float_same(kConv, x, "input", w, "weight");
  const ConvShapes c = conv_shapes(kConv, x.sizes(), w.sizes(), p);
  if (bias.defined()) {
    check_float_same(kConv, x, "input", bias, "bias");
    if (bias.dim() != 1 || bias.size(0) != c.K)
      fail<ShapeError>(kConv, "expected a bias of shape [", c.K, "], got ", str(bias.sizes()),
                       " (input ", str(x.sizes()), ", weight ", str(w.sizes()), ")");
  }
  Tensor out = empty(c.out(), x.dtype(), x.device());
  if (out.numel() == 0) return out;
  if (w.numel() == 0) {  // no input channels: the bias alone
    if (bias.defined()) {
      copy_(out, reshape(bias, {1, c.K, 1, 1}));
    } else {
      fill_(out, 0);
    }
    return out;
  }
  Tensor xc = contiguous(x), wc = contiguous(w), bc = bias.defined() ? contiguous(bias) : bias;
  const Dispatch run(Primitive::conv2d, x.device(), x.dtype());
  if (run.is_fallback()) out = empty(c.out(), x.dtype(), run.device());
  run.backend().conv2d_forward(out, run.operand(xc), run.operand(wc), run.operand(bc), p);
  return run.result(out);
}

Tensor conv2d_backward_input(const Shape& x_shape, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p) {
  const profiler::OpScope profile(kConvBwdInput);
  check_defined(kConvBwdInput, grad_out);
  check_defined(kConvBwdInput, w);
  check_float_same(kConvBwdInput, grad_out, "grad_output", w, "weight");
  const ConvShapes c = conv_shapes(kConvBwdInput, x_shape, w.sizes(), p);
  if (grad_out.sizes() != c.out())
    fail<ShapeError>(kConvBwdInput, "expected grad_output of shape ", str(c.out()), ", got ",
                     str(grad_out.sizes()), " (input ", str(x_shape), ", weight ", str(w.sizes()),
                     ")");
  Tensor gx = empty(x_shape, w.dtype(), w.device());
  if (gx.numel() == 0) return gx;
  if (grad_out.numel() == 0) {
    fill_(gx, 0);
    return gx;
  }
  Tensor gc = contiguous(grad_out), wc = contiguous(w);
  const Dispatch run(Primitive::conv2d, w.device(), w.dtype());
  if (run.is_fallback()) gx = empty(x_shape, w.dtype(), run.device());
  run.backend().conv2d_backward_input(gx, run.operand(gc), run.operand(wc), p);
  return run.result(gx);
}

Tensor conv2d_backward_weight(const Shape& w_shape, const Tensor& grad_out, const Tensor& x,
                              const Conv2dParams& p) {
  const profiler::OpScope profile(kConvBwdWeight);
  check_defined(kConvBwdWeight, grad_out);
  check_defined(kConvBwdWeight, x);
  check_float_same(kConvBwdWeight, grad_out, "grad_output", x, "input");
  const ConvShapes c = conv_shapes(kConvBwdWeight, x.sizes(), w_shape, p);
  if (grad_out.sizes() != c.out())
    fail<ShapeError>(kConvBwdWeight, "expected grad_output of shape ", str(c.out()), ", got ",
                     str(grad_out.sizes()), " (input ", str(x.sizes()), ", weight ", str(w_shape),
                     ")");
  Tensor gw = empty(w_shape, x.dtype(), x.device());
  if (gw.numel() == 0) return gw;
  if (grad_out.numel() == 0) {
    fill_(gw, 0);
    return gw;
  }
  Tensor gc = contiguous(grad_out), xc = contiguous(x);
  const Dispatch run(Primitive::conv2d, x.device(), x.dtype());
  if (run.is_fallback()) gw = empty(w_shape, x.dtype(), run.device());
  run.backend().conv2d_backward_weight(gw, run.operand(gc), run.operand(xc), p);
  return run.result(gw);
}

std::tuple<Tensor, Tensor, Tensor> conv2d_backward(const Tensor& grad_out, const Shape& x_shape,
                                                   const Tensor& x, const Shape& w_shape,
                                                   const Tensor& w, const Conv2dParams& p,
                                                   std::array<bool, 3> output_mask) {
  const profiler::OpScope profile(kConvBwd);
  const bool need_x = output_mask[0], need_w = output_mask[1], need_b = output_mask[2];
  check_defined(kConvBwd, grad_out);
  if (need_x) {
    check_defined(kConvBwd, w);
    check_float_same(kConvBwd, grad_out, "grad_output", w, "weight");
  }
  if (need_w) {
    check_defined(kConvBwd, x);
    check_float_same(kConvBwd, grad_out, "grad_output", x, "input");
  }
  if (!is_floating(grad_out.dtype()))
    fail<DTypeError>(kConvBwd, "expected a floating-point grad_output, got ", grad_out.dtype(), " ",
                     str(grad_out.sizes()));
  const ConvShapes c = conv_shapes(kConvBwd, x_shape, w_shape, p);
  if ((need_x && w.sizes() != w_shape) || (need_w && x.sizes() != x_shape) ||
      grad_out.sizes() != c.out())
    fail<ShapeError>(kConvBwd, "expected grad_output of shape ", str(c.out()), ", input ",
                     str(x_shape), " and weight ", str(w_shape), ", got grad_output ",
                     str(grad_out.sizes()), (need_w ? ", input " + str(x.sizes()) : ""),
                     (need_x ? ", weight " + str(w.sizes()) : ""));
  const DType dt = grad_out.dtype();
  const auto outputs = [&](Device d) {
    return std::tuple<Tensor, Tensor, Tensor>{need_x ? empty(x_shape, dt, d) : Tensor(),
                                              need_w ? empty(w_shape, dt, d) : Tensor(),
                                              need_b ? empty({c.K}, dt, d) : Tensor()};
  };
  auto [gx, gw, gb] = outputs(grad_out.device());
  if (grad_out.numel() == 0) {  // no output element: every gradient is zero
    for (Tensor* t : {&gx, &gw, &gb})
      if (t->defined()) fill_(*t, 0);
    return {gx, gw, gb};
  }
  const auto wanted = [](const Tensor& t) { return t.defined() && t.numel() > 0; };
  if (!wanted(gx) && !wanted(gw) && !wanted(gb)) return {gx, gw, gb};
  const Tensor gc = contiguous(grad_out);
  const Tensor xc = need_w ? contiguous(x) : Tensor(), wc = need_x ? contiguous(w) : Tensor();
  const Dispatch run(Primitive::conv2d, grad_out.device(), dt);
  if (run.is_fallback()) std::tie(gx, gw, gb) = outputs(run.device());
  run.backend().conv2d_backward({.grad_x = wanted(gx) ? gx : Tensor(),
                                 .grad_w = wanted(gw) ? gw : Tensor(),
                                 .grad_b = wanted(gb) ? gb : Tensor(),
                                 .grad_out = run.operand(gc),
                                 .x = run.operand(xc),
                                 .w = run.operand(wc)},
                                p);
  const auto back = [&](const Tensor& t) { return t.defined() ? run.result(t) : t; };
  return {back(gx), back(gw), back(gb)};
}

// ---- attention --------------------------------------------------------------------------

namespace {

struct AttnShapes {
  int64_t B, H, Tq, Tk, D, Dv;
  Shape scores() const { return {B, H, Tq, Tk}; }
  Shape out() const { return {B, H, Tq, Dv}; }
};

AttnShapes attn_shapes(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  check_defined(op, q);
  check_defined(op, k);
  check_defined(op, v);
  auto where = [&] {
    return detail::cat_str(" (query ", str(q.sizes()), ", key ", str(k.sizes()), ", value ",
                           str(v.sizes()), ")");
  };
  check_float_same(op, q, "query", k, "key");
  check_float_same(op, q, "query", v, "value");
  if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
    fail<ShapeError>(op, "expected 4-D query, key and value (B, H, T, D)", where());
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(1) != q.size(1) ||
      v.size(1) != q.size(1))
    fail<ShapeError>(op, "query, key and value must agree in batch and heads", where());
  if (k.size(3) != q.size(3))
    fail<ShapeError>(op, "query and key must have the same embedding size (", q.size(3),
                     " != ", k.size(3), ")", where());
  if (v.size(2) != k.size(2))
    fail<ShapeError>(op, "key and value must have the same sequence length (", k.size(2),
                     " != ", v.size(2), ")", where());
  return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3), v.size(3)};
}

void check_dropout(const char* op, const AttentionParams& p) {
  if (!(p.dropout_p >= 0.0 && p.dropout_p <= 1.0))
    fail<ValueError>(op, "dropout_p must be in [0, 1], got ", p.dropout_p);
}

// The additive mask as (Bm, Hm, Tqm, Tk), Bm in {1, B}, Hm in {1, H}, Tqm in {1, Tq}, with
// unit stride along keys: the shape the primitive reads once expanded to the scores'.
Tensor prepare_mask(const char* op, const Tensor& mask, const Tensor& q, const AttnShapes& s) {
  if (!mask.defined()) return mask;
  check_same_device(op, q, mask);
  if (mask.dtype() != q.dtype())
    fail<DTypeError>(op, "expected an additive mask of the query's dtype ", q.dtype(), ", got ",
                     mask.dtype(), " ", str(mask.sizes()));
  const Shape scores = s.scores();
  bool ok = mask.dim() <= 4;
  for (int64_t i = 1; ok && i <= mask.dim(); ++i) {
    const int64_t ms = mask.size(-i), ss = scores[static_cast<size_t>(4 - i)];
    ok = ms == 1 || ms == ss;
  }
  if (!ok)
    fail<ShapeError>(op, "attn_mask of shape ", str(mask.sizes()),
                     " cannot be broadcast to the attention scores' shape ", str(scores),
                     " (query ", str(q.sizes()), ")");
  Tensor m = mask;
  while (m.dim() < 4) m = unsqueeze(m, 0);
  if (m.size(3) != s.Tk || (m.stride(3) != 1 && s.Tk > 1))
    m = contiguous(expand(m, {m.size(0), m.size(1), m.size(2), s.Tk}));
  return m;
}

// The log-sum-exp saved for the backward is f32 for bf16/f16 attention (as PyTorch's flash
// attention): a 16-bit lse would misplace every recomputed probability by up to 2^-8 of lse.
DType lse_dtype(DType q) { return is_half(q) ? DType::f32 : q; }

}  // namespace

std::tuple<Tensor, Tensor> attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& mask, const AttentionParams& p) {
  const profiler::OpScope profile(kAttn);
  const AttnShapes s = attn_shapes(kAttn, q, k, v);
  check_dropout(kAttn, p);
  Tensor m = prepare_mask(kAttn, mask, q, s);
  Tensor out = empty(s.out(), q.dtype(), q.device());  // (B, H, Tq, Dv)
  Tensor lse = empty({s.B, s.H, s.Tq}, lse_dtype(q.dtype()), q.device());
  if (lse.numel() == 0) return {out, lse};
  if (s.Tk == 0) {  // nothing to attend to: an empty sum
    fill_(out, 0);
    fill_(lse, -std::numeric_limits<double>::infinity());
    return {out, lse};
  }
  Tensor qc = contiguous(q), kc = contiguous(k), vc = contiguous(v);
  const Dispatch run(Primitive::attention, q.device(), q.dtype());
  if (run.is_fallback()) {
    out = empty(s.out(), q.dtype(), run.device());
    lse = empty(lse.sizes(), lse.dtype(), run.device());
  }
  Tensor hm = run.operand(m);
  run.backend().attention_forward({.out = out,
                                   .lse = lse,
                                   .q = run.operand(qc),
                                   .k = run.operand(kc),
                                   .v = run.operand(vc),
                                   .mask = hm.defined() ? expand(hm, s.scores()) : hm},
                                  p);
  return {run.result(out), run.result(lse)};
}

std::tuple<Tensor, Tensor, Tensor> attention_backward(const Tensor& grad_out, const Tensor& q,
                                                      const Tensor& k, const Tensor& v,
                                                      const Tensor& out, const Tensor& lse,
                                                      const Tensor& mask,
                                                      const AttentionParams& p) {
  const profiler::OpScope profile(kAttnBwd);
  const AttnShapes s = attn_shapes(kAttnBwd, q, k, v);
  check_dropout(kAttnBwd, p);
  check_defined(kAttnBwd, grad_out);
  check_defined(kAttnBwd, out);
  check_defined(kAttnBwd, lse);
  check_float_same(kAttnBwd, q, "query", grad_out, "grad_output");
  check_float_same(kAttnBwd, q, "query", out, "output");
  check_same_device(kAttnBwd, q, lse);
  if (lse.dtype() != lse_dtype(q.dtype()))
    fail<DTypeError>(kAttnBwd, "expected a logsumexp of dtype ", lse_dtype(q.dtype()),
                     " for a query of dtype ", q.dtype(), ", got ", lse.dtype());
  if (grad_out.sizes() != s.out() || out.sizes() != s.out() || lse.sizes() != Shape{s.B, s.H, s.Tq})
    fail<ShapeError>(kAttnBwd, "expected grad_output and output of shape ", str(s.out()),
                     " and logsumexp of ", str(Shape{s.B, s.H, s.Tq}), ", got ",
                     str(grad_out.sizes()), ", ", str(out.sizes()), " and ", str(lse.sizes()));
  Tensor m = prepare_mask(kAttnBwd, mask, q, s);
  Tensor gq = empty(q.sizes(), q.dtype(), q.device());
  Tensor gk = empty(k.sizes(), q.dtype(), q.device());
  Tensor gv = empty(v.sizes(), q.dtype(), q.device());
  if (s.B * s.H * s.Tq * s.Tk == 0) {  // no score took part: every gradient is zero
    fill_(gq, 0);
    fill_(gk, 0);
    fill_(gv, 0);
    return {gq, gk, gv};
  }
  Tensor qc = contiguous(q), kc = contiguous(k), vc = contiguous(v);
  Tensor oc = contiguous(out), lc = contiguous(lse), gc = contiguous(grad_out);
  const Dispatch run(Primitive::attention, q.device(), q.dtype());
  if (run.is_fallback()) {
    gq = empty(q.sizes(), q.dtype(), run.device());
    gk = empty(k.sizes(), q.dtype(), run.device());
    gv = empty(v.sizes(), q.dtype(), run.device());
  }
  Tensor hm = run.operand(m);
  run.backend().attention_backward({.grad_q = gq,
                                    .grad_k = gk,
                                    .grad_v = gv,
                                    .grad_out = run.operand(gc),
                                    .q = run.operand(qc),
                                    .k = run.operand(kc),
                                    .v = run.operand(vc),
                                    .out = run.operand(oc),
                                    .lse = run.operand(lc),
                                    .mask = hm.defined() ? expand(hm, s.scores()) : hm},
                                   p);
  return {run.result(gq), run.result(gk), run.result(gv)};
}

}  // namespace ember::raw
