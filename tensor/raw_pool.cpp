// 2-D pooling: validate (PyTorch's rules and messages), make the input contiguous, view it
// as (B, H, W) planes, allocate, dispatch (Primitive::pool2d, tensor/dispatch.h).
#include <string>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

std::string params_str(const Pool2dParams& p) {
  if (p.adaptive) return "adaptive";
  return detail::cat_str("kernel_size [", p.kernel_h, ", ", p.kernel_w, "], stride [", p.stride_h,
                         ", ", p.stride_w, "], padding [", p.pad_h, ", ", p.pad_w, "], dilation [",
                         p.dilation_h, ", ", p.dilation_w, "], ceil_mode ",
                         p.ceil_mode ? "true" : "false");
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// torch's pooling_output_shape: with ceil_mode the last window must start inside the input
// or the left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d, bool ceil) {
  int64_t out = floor_div(in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0), s) + 1;
  if (ceil && (out - 1) * s >= in + pad) --out;
  return out;
}

// The output's (P, Q); throws naming op, the input's shape and the arguments.
std::pair<int64_t, int64_t> output_hw(const char* op, const Tensor& x, const Pool2dParams& p,
                                      int64_t oh, int64_t ow) {
  auto where = [&] {
    return detail::cat_str(" (input ", str(x.sizes()), ", ", params_str(p), ")");
  };
  if (x.dim() != 3 && x.dim() != 4)
    fail<ShapeError>(op, "expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape ",
                     str(x.sizes()));
  if (!is_floating(x.dtype()))
    fail<DTypeError>(op, "expected a floating-point input, got ", x.dtype(), " ", str(x.sizes()));
  for (int64_t d = x.dim() - 3; d < x.dim(); ++d)
    if (x.size(d) == 0)
      fail<ShapeError>(op, "expected an input with non-zero sizes for the non-batch dims, got ",
                       str(x.sizes()));
  const int64_t H = x.size(-2), W = x.size(-1);
  if (p.adaptive) {
    if (oh < 0 || ow < 0)
      fail<ValueError>(op, "output_size must be non-negative, got [", oh, ", ", ow, "]", where());
    return {oh, ow};
  }
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 ||
      p.dilation_w < 1)
    fail<ValueError>(op, "kernel_size, stride and dilation must be positive", where());
  if (p.pad_h < 0 || p.pad_w < 0 || p.pad_h > p.kernel_h / 2 || p.pad_w > p.kernel_w / 2)
    fail<ValueError>(op, "padding must be non-negative and at most half of the kernel size",
                     where());
  if (p.mode == PoolMode::avg && p.divisor_override < 0)
    fail<ValueError>(op, "divisor_override must be positive, got ", p.divisor_override);
  const int64_t P = pooled_size(H, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.ceil_mode);
  const int64_t Q = pooled_size(W, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.ceil_mode);
  if (P < 1 || Q < 1)
    fail<ShapeError>(op, "the kernel (after dilation) is larger than the padded input: the output ",
                     "would be ", P, "x", Q, where());
  return {P, Q};
}

Shape with_hw(const Shape& s, int64_t h, int64_t w) {
  Shape r = s;
  r[r.size() - 2] = h;
  r[r.size() - 1] = w;
  return r;
}

int64_t planes_of(const Shape& s) { return s.size() == 4 ? s[0] * s[1] : s[0]; }

// The kernels' view of the windows: avg has no dilation.
Pool2dParams kernel_params(Pool2dParams p) {
  if (p.mode == PoolMode::avg || p.adaptive) p.dilation_h = p.dilation_w = 1;
  return p;
}

}  // namespace

std::pair<Tensor, Tensor> pool2d_forward(const char* op, const Tensor& x, const Pool2dParams& p,
                                         int64_t output_h, int64_t output_w) {
  const profiler::OpScope profile(op);
  check_defined(op, x);
  const auto [P, Q] = output_hw(op, x, p, output_h, output_w);
  const int64_t B = planes_of(x.sizes()), H = x.size(-2), W = x.size(-1);
  const Dispatch run(Primitive::pool2d, x.device(), x.dtype());
  Tensor out = empty({B, P, Q}, x.dtype(), run.device());  // (B, P, Q)
  Tensor idx =
      p.mode == PoolMode::max ? empty({B, P, Q}, DType::i64, run.device()) : Tensor();  // (B, P, Q)
  if (out.numel() > 0)
    run.backend().pool2d_forward(out, idx, run.operand(reshape(contiguous(x), {B, H, W})),
                                 kernel_params(p));
  const Shape os = with_hw(x.sizes(), P, Q);
  return {reshape(run.result(out), os), idx.defined() ? reshape(run.result(idx), os) : idx};
}

Tensor pool2d_backward(const char* op, const Shape& x_shape, const Tensor& grad_out,
                       const Tensor& indices, const Pool2dParams& p) {
  const profiler::OpScope profile(op);
  check_defined(op, grad_out);
  if (x_shape.size() != 3 && x_shape.size() != 4)
    fail<ShapeError>(op, "expected a 3-D or 4-D input shape, got ", str(x_shape));
  if (grad_out.dim() != static_cast<int64_t>(x_shape.size()) || !is_floating(grad_out.dtype()))
    fail<ShapeError>(op, "expected a floating grad_output of rank ", x_shape.size(), ", got ",
                     grad_out.dtype(), " ", str(grad_out.sizes()), " (input ", str(x_shape), ")");
  if (p.mode == PoolMode::max) {
    check_defined(op, indices);
    check_same_device(op, grad_out, indices);
    if (indices.sizes() != grad_out.sizes() || indices.dtype() != DType::i64)
      fail<ShapeError>(op, "expected i64 indices of the grad_output's shape ",
                       str(grad_out.sizes()), ", got ", indices.dtype(), " ", str(indices.sizes()));
  }
  const int64_t B = planes_of(x_shape), H = x_shape[x_shape.size() - 2],
                W = x_shape[x_shape.size() - 1], P = grad_out.size(-2), Q = grad_out.size(-1);
  if (with_hw(x_shape, P, Q) != grad_out.sizes())
    fail<ShapeError>(op, "grad_output of shape ", str(grad_out.sizes()),
                     " does not match the input's ", str(x_shape));
  const Dispatch run(Primitive::pool2d, grad_out.device(), grad_out.dtype());
  Tensor gx = empty({B, H, W}, grad_out.dtype(), run.device());  // (B, H, W)
  if (gx.numel() > 0 && grad_out.numel() == 0) {
    fill_(gx, 0);
  } else if (gx.numel() > 0) {
    run.backend().pool2d_backward(
        gx, run.operand(reshape(contiguous(grad_out), {B, P, Q})),
        indices.defined() ? run.operand(reshape(contiguous(indices), {B, P, Q})) : Tensor(),
        kernel_params(p));
  }
  return reshape(run.result(gx), x_shape);
}

}  // namespace ember::raw
