// Bilinear resizing: validate, make the operand contiguous, dispatch.
#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

void check_planes(const char* op, const Tensor& t, int64_t a, int64_t b) {
  check_defined(op, t);
  if (t.dim() != 4 || !is_floating(t.dtype()))
    fail<ShapeError>(op, "expected a floating (N, C, H, W) tensor, got ", t.dtype(), " ",
                     str(t.sizes()));
  if (a <= 0 || b <= 0 || t.size(2) <= 0 || t.size(3) <= 0)
    fail<ShapeError>(op, "sizes must be positive: input ", str(t.sizes()), ", other plane (", a,
                     ", ", b, ")");
}

}  // namespace

Tensor upsample_bilinear_forward(const Tensor& x, int64_t P, int64_t Q,
                                 const UpsampleBilinearParams& p) {
  constexpr const char* op = "upsample_bilinear";
  const profiler::OpScope profile(op);
  check_planes(op, x, P, Q);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Dispatch run(Primitive::upsample_bilinear, x.device(), x.dtype());
  Tensor out = empty({N, C, P, Q}, x.dtype(), run.device());  // (N, C, P, Q)
  if (N * C == 0) return run.result(out);
  run.backend().upsample_bilinear_forward(reshape(out, {N * C, P, Q}),
                                          run.operand(reshape(contiguous(x), {N * C, H, W})), p);
  return run.result(out);
}

Tensor upsample_bilinear_backward(const Tensor& grad_out, int64_t H, int64_t W,
                                  const UpsampleBilinearParams& p) {
  constexpr const char* op = "upsample_bilinear_backward";
  const profiler::OpScope profile(op);
  check_planes(op, grad_out, H, W);
  const int64_t N = grad_out.size(0), C = grad_out.size(1), P = grad_out.size(2),
                Q = grad_out.size(3);
  const Dispatch run(Primitive::upsample_bilinear, grad_out.device(), grad_out.dtype());
  Tensor gx = empty({N, C, H, W}, grad_out.dtype(), run.device());  // (N, C, H, W)
  if (N * C == 0) return run.result(gx);
  run.backend().upsample_bilinear_backward(
      reshape(gx, {N * C, H, W}), run.operand(reshape(contiguous(grad_out), {N * C, P, Q})), p);
  return run.result(gx);
}

}  // namespace ember::raw
