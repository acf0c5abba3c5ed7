// Plain-loop host references computed in double: the ground truth every op case is
// compared against. Nothing here calls an ember op; ember tensors are only *read*
// (from_tensor walks their strides over the raw storage bytes), so a bug in ember's
// views, casts or kernels cannot leak into the expected values.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ember::ref {

using Index = std::vector<int64_t>;  // a multi-index, outermost dim first

// A dense row-major host tensor of doubles.
struct RefTensor {
  Shape shape;
  std::vector<double> data;

  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  double& operator[](const Index& idx);
  double operator[](const Index& idx) const;
};

// ---- construction and index helpers ----------------------------------------------------
int64_t numel_of(const Shape& shape);
RefTensor filled(const Shape& shape, double value);
RefTensor from_values(const Shape& shape, std::vector<double> data);
// Reads every element of t through its sizes, strides and offset (copying to the host
// first when t's memory is not host-addressable). Bool elements read as their raw byte,
// so a kernel that writes a byte other than 0 or 1 shows up as a mismatch.
RefTensor from_tensor(const Tensor& t);
Index unravel(int64_t flat, const Shape& shape);
int64_t ravel(const Index& idx, const Shape& shape);
std::string index_str(const Index& idx);  // "(1, 0, 2)"
int64_t wrap(int64_t dim, int64_t ndim);  // negative dims count from the end
// NumPy broadcasting; throws std::invalid_argument when the shapes do not fit.
Shape broadcast(const Shape& a, const Shape& b);
// The element of x that broadcasts to multi-index `out_idx` (x has <= out_idx.size() dims).
double bget(const RefTensor& x, const Index& out_idx);
// x with a new shape of the same numel (row-major order kept): view/reshape/flatten.
RefTensor reshape(const RefTensor& x, const Shape& shape);
RefTensor expand(const RefTensor& x, const Shape& shape);

// ---- scalar math ---------------------------------------------------------------------
double sign(double x);
double sigmoid(double x);
double relu(double x);
double gelu_erf(double x);
double gelu_tanh(double x);
double silu(double x);
// Rounds a value the way a cast to dtype does: f32 rounding, i64 truncation toward
// zero, bool as x != 0.
double cast_value(double x, DType dtype);

// ---- elementwise -----------------------------------------------------------------------
RefTensor map(const RefTensor& x, const std::function<double(double)>& f);
RefTensor zip(const RefTensor& a, const RefTensor& b,
              const std::function<double(double, double)>& f);
RefTensor zip3(const RefTensor& a, const RefTensor& b, const RefTensor& c,
               const std::function<double(double, double, double)>& f);
RefTensor cast(const RefTensor& x, DType dtype);

// ---- reductions (empty dims = all dims) ------------------------------------------------
using Reducer = std::function<double(const std::vector<double>&)>;
RefTensor reduce(const RefTensor& x, const DimList& dims, bool keepdim, const Reducer& f);
double sum_of(const std::vector<double>& v);
double prod_of(const std::vector<double>& v);
double mean_of(const std::vector<double>& v);
double max_of(const std::vector<double>& v);  // NaN is the extreme, as in PyTorch
double min_of(const std::vector<double>& v);
double var_of(const std::vector<double>& v, int64_t correction);
// Values and indices (as doubles) of the first extreme along dim.
std::pair<RefTensor, RefTensor> arg_reduce(const RefTensor& x, int64_t dim, bool keepdim,
                                           bool is_max);

// ---- linear algebra and softmax ----------------------------------------------------------
RefTensor matmul(const RefTensor& a, const RefTensor& b);  // torch.matmul semantics
RefTensor softmax(const RefTensor& x, int64_t dim, bool log);

// ---- shape and index ops ------------------------------------------------------------------
RefTensor permute(const RefTensor& x, const DimList& dims);
RefTensor transpose(const RefTensor& x, int64_t d0, int64_t d1);
RefTensor slice(const RefTensor& x, int64_t dim, int64_t start, int64_t end, int64_t step);
RefTensor select(const RefTensor& x, int64_t dim, int64_t index);
RefTensor cat(const std::vector<RefTensor>& xs, int64_t dim);
RefTensor stack(const std::vector<RefTensor>& xs, int64_t dim);
std::vector<RefTensor> split(const RefTensor& x, const std::vector<int64_t>& sizes, int64_t dim);
RefTensor index_select(const RefTensor& x, int64_t dim, const RefTensor& index);
RefTensor gather(const RefTensor& x, int64_t dim, const RefTensor& index);
RefTensor scatter_add(const RefTensor& x, int64_t dim, const RefTensor& index,
                      const RefTensor& src);
// tril (upper = false) or triu (upper = true) over the last two dims.
RefTensor tri(const RefTensor& x, int64_t diagonal, bool upper);

}  // namespace ember::ref
