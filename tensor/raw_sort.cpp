// Sorting and sampling (issue 15): sort along any dim as one backend call on the (R, N) rows
// of the dim moved last, and multinomial draws on the (R, C) rows of weights.
#include <cmath>
#include <vector>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/random.h"
#include "tensor/raw.h"

namespace ember::raw {

int64_t sort_dim(const char* op, const Tensor& x, int64_t dim) {
  const int64_t n = x.dim() == 0 ? 1 : x.dim();  // a 0-dim tensor takes dims -1 and 0
  if (dim < -n || dim >= n)
    fail<IndexError>(op, "dim ", dim, " out of range for a tensor of shape ", str(x.sizes()),
                     " (expected a dim in [", -n, ", ", n - 1, "])");
  return dim < 0 ? dim + n : dim;
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, const char* op) {
  const profiler::OpScope profile(op);
  check_defined(op, x);
  const int64_t d = sort_dim(op, x, dim);
  if (x.dim() == 0 || x.numel() == 0) {  // nothing to order: index 0 of a 0-dim tensor
    Tensor indices = empty(x.sizes(), DType::i64, x.device());
    fill_(indices, 0);
    return {clone(x), indices};
  }
  // Bool sorts as i64 (false < true) and casts back; the kernels take f32, f64 and i64.
  const DType dt = x.dtype() == DType::b8 ? DType::i64 : x.dtype();
  const int64_t last = x.dim() - 1, n = x.sizes()[static_cast<size_t>(d)];
  Tensor rows = contiguous(cast(d == last ? x : transpose(x, d, last), dt));
  const int64_t r = rows.numel() / n;
  const Dispatch run(Primitive::sort, x.device(), dt);
  Tensor values = empty(rows.sizes(), dt, run.device());
  Tensor indices = empty(rows.sizes(), DType::i64, run.device());
  run.backend().sort(as_strided(values, {r, n}, {n, 1}, 0), as_strided(indices, {r, n}, {n, 1}, 0),
                     run.operand(as_strided(rows, {r, n}, {n, 1}, rows.storage_offset())),
                     descending);
  values = cast(run.result(values), x.dtype());
  indices = run.result(indices);
  if (d != last) {  // back to x's dim order, contiguous as torch returns them
    values = contiguous(transpose(values, d, last));
    indices = contiguous(transpose(indices, d, last));
  }
  return {values, indices};
}

namespace {

// torch's checks of the weights' values (on a host copy: the op needs them before drawing).
void check_weights(const Tensor& p2, int64_t num_samples, bool replacement) {
  const int64_t rows = p2.size(0), cats = p2.size(1);
  const std::vector<double> w = to_device(cast(p2, DType::f64), Device::cpu()).to_vector<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0.0;
    int64_t positive = 0;
    for (int64_t c = 0; c < cats; ++c) {
      const double v = w[static_cast<size_t>(r * cats + c)];
      if (!std::isfinite(v) || v < 0.0)
        fail<ValueError>("multinomial",
                         "probability tensor contains either inf, nan or element < 0"
                         " (row ",
                         r, ", category ", c, ": ", v, ")");
      total += v;
      positive += v > 0.0;
    }
    if (!(total > 0.0))
      fail<ValueError>("multinomial",
                       "invalid multinomial distribution (sum of probabilities <= 0)"
                       " in row ",
                       r, " of input ", str(p2.sizes()));
    if (!replacement && positive < num_samples)
      fail<ValueError>("multinomial",
                       "invalid multinomial distribution (with replacement=False,"
                       " not enough non-zero categories to sample): row ",
                       r, " has ", positive, " positive weights, num_samples=", num_samples);
  }
}

}  // namespace

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  const char* op = "multinomial";
  const profiler::OpScope profile(op);
  check_defined(op, probs);
  if (probs.dim() != 1 && probs.dim() != 2)
    fail<ShapeError>(op, "prob_dist must be 1 or 2 dim, got shape ", str(probs.sizes()));
  if (!is_floating(probs.dtype()))
    fail<DTypeError>(op, "only supports floating-point dtypes for input, got ", probs.dtype());
  const int64_t cats = probs.sizes().back();
  if (num_samples <= 0)
    fail<ValueError>(op, "cannot sample n_sample <= 0 samples (num_samples=", num_samples, ")");
  if (!replacement && num_samples > cats)
    fail<ValueError>(op,
                     "cannot sample n_sample > prob_dist.size(-1) samples without "
                     "replacement (num_samples=",
                     num_samples, ", input ", str(probs.sizes()), ")");
  if (cats > (int64_t{1} << 24))
    fail<ValueError>(op, "number of categories cannot exceed 2^24, got ", cats);
  const int64_t rows = probs.dim() == 2 ? probs.size(0) : 1;
  Shape out_shape = probs.dim() == 2 ? Shape{rows, num_samples} : Shape{num_samples};
  const PhiloxState st = next_philox_state();
  if (rows == 0) return empty(out_shape, DType::i64, probs.device());
  if (cats == 0)
    fail<ValueError>(op, "invalid multinomial distribution: input ", str(probs.sizes()),
                     " has no categories");
  const DType dt = probs.dtype();
  Tensor p2 = contiguous(reshape(probs, {rows, cats}));
  check_weights(p2, num_samples, replacement);
  const Dispatch run(Primitive::multinomial, probs.device(), dt);
  Tensor out = empty({rows, num_samples}, DType::i64, run.device());
  Tensor workspace = empty({rows, cats}, DType::f64, run.device());
  run.backend().multinomial(out, run.operand(p2), workspace, replacement, st.seed, st.offset);
  return reshape(run.result(out), out_shape);
}

}  // namespace ember::raw
