// Differentiable reductions. g has the reduced shape; expand_reduced broadcasts it back.
#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::expand_reduced;
using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {
int64_t reduced_count(const Shape& shape, const DimList& dims) {
  int64_t k = 1;
  for (int64_t d : dims) k *= shape[d];
  return k;
}
}  // namespace

// sum: dx = g broadcast over the reduced dims
Tensor sum(const Tensor& x, const DimList& dims, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([&](const Tensor& t) { return sum(t, dims, keepdim); }, x);
  Tensor y = raw::reduce(ReduceOp::sum, x, dims, keepdim);
  if (needs_grad({&x})) {
    DimList wd = wrap_dims("sum", dims, x.dim());
    Shape shape = x.sizes();
    record("SumBackward", {x}, y, [=](const TensorList& g) {
      return TensorList{expand_reduced(g[0], shape, wd, keepdim)};
    });
  }
  return y;
}

// mean: dx = g / K broadcast, K the number of reduced elements
Tensor mean(const Tensor& x, const DimList& dims, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([&](const Tensor& t) { return mean(t, dims, keepdim); }, x);
  Tensor y = raw::reduce(ReduceOp::mean, x, dims, keepdim);
  if (needs_grad({&x})) {
    DimList wd = wrap_dims("mean", dims, x.dim());
    Shape shape = x.sizes();
    auto k = static_cast<double>(reduced_count(shape, wd));
    record("MeanBackward", {x}, y, [=](const TensorList& g) {
      return TensorList{expand_reduced(g[0], shape, wd, keepdim) / k};
    });
  }
  return y;
}

// prod: dx = g y / x (inputs without zeros)
Tensor prod(const Tensor& x, const DimList& dims, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32([&](const Tensor& t) { return prod(t, dims, keepdim); }, x);
  Tensor y = raw::reduce(ReduceOp::prod, x, dims, keepdim);
  if (needs_grad({&x})) {
    DimList wd = wrap_dims("prod", dims, x.dim());
    Shape shape = x.sizes();
    SavedTensor sx(x, false);
    auto sy = autograd::saved_output();
    record("ProdBackward", {x}, y, [=](const TensorList& g) {
      return TensorList{expand_reduced(g[0] * sy->unpack(), shape, wd, keepdim) / sx.unpack()};
    });
    autograd::fill(sy, y);
  }
  return y;
}

// var: dx = g 2 (x - mean) / (K - correction)
Tensor var(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  if (autocast_policy::active())  // autocast: f32 (std too)
    return autocast_policy::fp32([&](const Tensor& t) { return var(t, dims, correction, keepdim); },
                                 x);
  Tensor y = raw::reduce(ReduceOp::var, x, dims, keepdim, correction);
  if (needs_grad({&x})) {
    DimList wd = wrap_dims("var", dims, x.dim());
    Shape shape = x.sizes();
    auto denom = static_cast<double>(reduced_count(shape, wd) - correction);
    SavedTensor sx(x, false);
    record("VarBackward", {x}, y, [=](const TensorList& g) {
      Tensor x_ = sx.unpack();
      Tensor centered = x_ - mean(x_, wd, true);
      return TensorList{expand_reduced(g[0], shape, wd, keepdim) * centered * (2.0 / denom)};
    });
  }
  return y;
}

Tensor std(const Tensor& x, const DimList& dims, int64_t correction, bool keepdim) {
  return sqrt(var(x, dims, correction, keepdim));
}

namespace {
// amax/amin: dx = g split evenly among the elements equal to the extreme
Tensor extreme(ReduceOp op, const char* node, const Tensor& x, const DimList& dims, bool keepdim) {
  Tensor y = raw::reduce(op, x, dims, keepdim);
  if (needs_grad({&x})) {
    DimList wd = wrap_dims(node, dims, x.dim());
    Shape shape = x.sizes();
    SavedTensor sx(x, false);
    auto sy = autograd::saved_output();
    record(node, {x}, y, [=](const TensorList& g) {
      Tensor x_ = sx.unpack();
      Tensor hit = eq(x_, expand_reduced(sy->unpack(), shape, wd, keepdim)).to(x_.dtype());
      Tensor count = sum(hit, wd, true);
      return TensorList{expand_reduced(g[0], shape, wd, keepdim) * hit / count};
    });
    autograd::fill(sy, y);
  }
  return y;
}

// max/min over one dim: dx = g scattered to the arg-extreme positions
std::tuple<Tensor, Tensor> extreme_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  auto [values, indices] = raw::max_min(x, dim, keepdim, is_max);
  if (needs_grad({&x})) {
    int64_t d = x.dim() == 0 ? 0 : wrap_dim("max", dim, x.dim());
    Shape shape = x.sizes();
    SavedTensor si(indices, false);
    DType dt = x.dtype();
    Device dev = x.device();
    record(is_max ? "MaxBackward" : "MinBackward", {x}, TensorList{values, indices},
           [=](const TensorList& g) {
             if (shape.empty()) return TensorList{g[0]};
             Tensor gk = keepdim ? g[0] : g[0].unsqueeze(d);
             Tensor ik = keepdim ? si.unpack() : si.unpack().unsqueeze(d);
             return TensorList{scatter_add(zeros(shape, {.dtype = dt, .device = dev}), d, ik, gk)};
           });
  }
  return {values, indices};
}
}  // namespace

Tensor amax(const Tensor& x, const DimList& dims, bool keepdim) {
  return extreme(ReduceOp::max, "AmaxBackward", x, dims, keepdim);
}
Tensor amin(const Tensor& x, const DimList& dims, bool keepdim) {
  return extreme(ReduceOp::min, "AminBackward", x, dims, keepdim);
}
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim(x, dim, keepdim, true);
}
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_dim(x, dim, keepdim, false);
}

}  // namespace ember
