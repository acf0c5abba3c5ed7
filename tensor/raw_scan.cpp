// Scans (cumsum, cumprod): view x as (O, K, I) around the scanned dim, one backend call.
#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

Tensor scan(ScanOp op, const Tensor& x, int64_t dim, bool reverse) {
  const char* name = to_string(op);
  const profiler::OpScope profile(name);
  check_defined(name, x);
  const int64_t d = wrap_dim(name, dim, x.dim());
  // torch: integer and bool inputs accumulate in i64 (no overflow at 8 bits).
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::i64;
  if (x.numel() == 0) return empty(x.sizes(), dt, x.device());
  int64_t O = 1, K = 1, I = 1;  // a 0-dim tensor is one line of one element
  for (int64_t k = 0; k < x.dim(); ++k) (k < d ? O : k == d ? K : I) *= x.sizes()[k];
  const Dispatch run(Primitive::scan, x.device(), dt);
  Tensor in = contiguous(cast(x, dt));              // (O, K, I) once viewed
  Tensor out = empty(x.sizes(), dt, run.device());  // (O, K, I)
  run.backend().scan(op, as_strided(out, {O, K, I}, {K * I, I, 1}, 0),
                     run.operand(as_strided(in, {O, K, I}, {K * I, I, 1}, in.storage_offset())),
                     reverse);
  return run.result(out);
}

}  // namespace ember::raw
