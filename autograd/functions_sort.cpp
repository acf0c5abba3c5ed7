// Sorting and sampling (issue 15): sort, argsort and topk (values differentiable), and
// multinomial (integer draws, not differentiable).
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// Records the gradient of values = x picked at `indices` along dim d: g goes back to the
// positions the values came from (scatter_add, itself differentiable: double backward).
void record_pick(const char* name, const Tensor& x, int64_t d, const Tensor& values,
                 const Tensor& indices) {
  if (!needs_grad({&x})) return;
  const Shape shape = x.sizes();
  const DType dt = x.dtype();
  const Device dev = x.device();
  SavedTensor si(indices, false);
  record(name, {x}, TensorList{values, indices}, [=](const TensorList& g) {
    if (shape.empty()) return TensorList{g[0]};
    return TensorList{
        scatter_add(zeros(shape, {.dtype = dt, .device = dev}), d, si.unpack(), g[0])};
  });
}

}  // namespace

// `stable` is accepted for torch's signature: ember's sort is always stable, which is one of
// the orders torch allows without it.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  auto [values, indices] = raw::sort(x, dim, descending, "sort");
  record_pick("SortBackward", x, raw::sort_dim("sort", x, dim), values, indices);
  return {values, indices};
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool /*stable*/) {
  return raw::sort(x, dim, descending, "argsort").second;
}

// The first k of the stable sort (descending for largest): ties keep their index order and
// NaN counts as the largest value. `sorted` = false also returns them sorted (torch leaves
// that order unspecified).
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest,
                                bool /*sorted*/) {
  raw::check_defined("topk", x);
  const int64_t d = raw::sort_dim("topk", x, dim);
  const int64_t n = x.dim() == 0 ? 1 : x.sizes()[static_cast<size_t>(d)];
  if (k < 0 || k > n)
    fail<IndexError>("topk", "k (", k, ") out of range for dim ", dim, " of size ", n,
                     " of a tensor of shape ", str(x.sizes()), " (expected 0 <= k <= ", n, ")");
  auto [all_values, all_indices] = raw::sort(x, dim, largest, "topk");
  Tensor values = all_values, indices = all_indices;
  if (x.dim() > 0 && k < n) {
    values = raw::contiguous(raw::slice(all_values, d, 0, k, 1));
    indices = raw::contiguous(raw::slice(all_indices, d, 0, k, 1));
  }
  record_pick("TopkBackward", x, d, values, indices);
  return {values, indices};
}

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement) {
  return raw::multinomial(probs, num_samples, replacement);
}

std::tuple<Tensor, Tensor> Tensor::sort(int64_t dim, bool descending, bool stable) const {
  return ember::sort(*this, dim, descending, stable);
}
Tensor Tensor::argsort(int64_t dim, bool descending, bool stable) const {
  return ember::argsort(*this, dim, descending, stable);
}
std::tuple<Tensor, Tensor> Tensor::topk(int64_t k, int64_t dim, bool largest, bool sorted) const {
  return ember::topk(*this, k, dim, largest, sorted);
}
Tensor Tensor::multinomial(int64_t num_samples, bool replacement) const {
  return ember::multinomial(*this, num_samples, replacement);
}

}  // namespace ember
