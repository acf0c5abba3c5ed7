// rms_norm (nn::functional::rms_norm over 1 and 2 trailing dims, with and without weight,
// a given eps and the dtype's machine epsilon, transposed input, rows long enough for
// the kernels' block-per-row path and the cpu's threads) and rms_norm_backward (the
// fused backward through autograd::grad for a random grad_out on every device; gradcheck
// checks the rule on the cpu). Issue 15.
// Napkin math: forward ~4 flops per element (square, sum, scale, weight); backward ~6.
#include <cmath>
#include <limits>

#include "autograd/engine.h"
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using ref::RefTensor;

constexpr double kBackwardEps = 1e-5;

size_t at(int64_t i) { return static_cast<size_t>(i); }

// Elements per normalized row.
int64_t row_size(const Shape& shape, int64_t norm_dims) {
  int64_t M = 1;
  for (auto d = static_cast<int64_t>(shape.size()) - norm_dims;
       d < static_cast<int64_t>(shape.size()); ++d)
    M *= shape[at(d)];
  return M;
}

// torch's formula in double: y = x / sqrt(mean(x^2) + eps) * w.
RefTensor rms_norm_ref(const RefTensor& x, int64_t norm_dims, const RefTensor* w, double eps) {
  const int64_t M = row_size(x.shape, norm_dims);
  RefTensor y = ref::filled(x.shape, 0.0);
  for (int64_t row = 0; row * M < x.numel(); ++row) {
    double ss = 0;
    for (int64_t i = 0; i < M; ++i) ss += x.data[at(row * M + i)] * x.data[at(row * M + i)];
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(M) + eps);
    for (int64_t i = 0; i < M; ++i)
      y.data[at(row * M + i)] = x.data[at(row * M + i)] * r * (w ? w->data[at(i)] : 1.0);
  }
  return y;
}

// dx = r gw - x r^3 mean(gw x) with gw = g w, r = 1 / sqrt(mean(x^2) + eps);
// dw = sum over rows of g x r.
struct Grads {
  RefTensor dx, dw;
};
Grads rms_norm_backward_ref(const RefTensor& x, int64_t norm_dims, const RefTensor* w,
                            const RefTensor& g, double eps) {
  const int64_t M = row_size(x.shape, norm_dims);
  const Shape normalized(x.shape.end() - norm_dims, x.shape.end());
  Grads out{ref::filled(x.shape, 0.0), ref::filled(normalized, 0.0)};
  for (int64_t row = 0; row * M < x.numel(); ++row) {
    double ss = 0, sgx = 0;
    for (int64_t i = 0; i < M; ++i) {
      const double xv = x.data[at(row * M + i)];
      ss += xv * xv;
      sgx += g.data[at(row * M + i)] * (w ? w->data[at(i)] : 1.0) * xv;
    }
    const double r = 1.0 / std::sqrt(ss / static_cast<double>(M) + eps);
    for (int64_t i = 0; i < M; ++i) {
      const double xv = x.data[at(row * M + i)], gv = g.data[at(row * M + i)];
      const double gw = gv * (w ? w->data[at(i)] : 1.0);
      out.dx.data[at(row * M + i)] = r * gw - xv * r * r * r * sgx / static_cast<double>(M);
      out.dw.data[at(i)] += gv * xv * r;
    }
  }
  return out;
}

// eps nullopt: the dtype's machine epsilon (torch.finfo), which the reference must use too.
double default_eps(DType dt) {
  return dt == DType::f64 ? std::numeric_limits<double>::epsilon()
                          : std::numeric_limits<float>::epsilon();
}

OpCase rms_norm_case(const Shape& shape, int64_t norm_dims, bool weight, std::optional<double> eps,
                     DType dt, Layout layout = Layout::contiguous) {
  const Shape normalized(shape.end() - norm_dims, shape.end());
  std::vector<In> ins = {In{shape, Dist::wide, layout}};
  if (weight) ins.push_back(In{normalized});
  OpCase c;
  c.name = "rms_norm/" + ins_tag(ins) + "_n" + std::to_string(norm_dims) + (weight ? "_w" : "") +
           (eps ? "_eps" : "") + "/" + dtype_tag(dt);
  c.family = "rms_norm";
  c.op = "rms_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [normalized, weight, eps](const Inputs& x) {
    return Outputs{F::rms_norm(x[0], normalized, weight ? x[1] : Tensor(), eps)};
  };
  const double e = eps ? *eps : default_eps(dt);
  c.reference = [norm_dims, weight, e](const Refs& x) {
    return Refs{rms_norm_ref(x[0], norm_dims, weight ? &x[1] : nullptr, e)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_elementwise_cost(c, 4, dt);
  for (int i = 0; i < static_cast<int>(ins.size()); ++i) c.grad_inputs.push_back(i);
  return c;
}

// Inputs: x, grad_out, then weight when given; outputs dx, and dweight with a weight.
OpCase rms_norm_backward_case(const Shape& shape, int64_t norm_dims, bool weight, DType dt) {
  const Shape normalized(shape.end() - norm_dims, shape.end());
  std::vector<In> ins = {In{shape, Dist::wide}, In{shape}};
  if (weight) ins.push_back(In{normalized});
  OpCase c;
  c.name = "rms_norm_backward/" + ins_tag(ins) + "_n" + std::to_string(norm_dims) +
           (weight ? "_w" : "") + "/" + dtype_tag(dt);
  c.family = "rms_norm";
  c.op = "rms_norm_backward";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [normalized, weight](const Inputs& x) {
    autograd::TensorList leaves = {x[0].detach().requires_grad_()};
    Tensor w;
    if (weight) {
      w = x[2].detach().requires_grad_();
      leaves.push_back(w);
    }
    Tensor y = F::rms_norm(leaves[0], normalized, w, kBackwardEps);
    return autograd::grad({y}, leaves, {x[1]});
  };
  c.reference = [norm_dims, weight](const Refs& x) {
    Grads g = rms_norm_backward_ref(x[0], norm_dims, weight ? &x[2] : nullptr, x[1], kBackwardEps);
    return weight ? Refs{g.dx, g.dw} : Refs{g.dx};
  };
  c.out_dtypes.assign(weight ? 2 : 1, dt);
  c.tol = tolerance(dt, TolKind::reduction);
  set_elementwise_cost(c, 6, dt);
  return c;
}

// A bf16/f16 case (issue 16): f32 math inside, compared with the f64 reference at the
// dtype's tolerance; gradcheck stays f64.
OpCase half_case(OpCase c) {
  c.grad_inputs.clear();
  return c;
}

}  // namespace

void add_rms_norm_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(rms_norm_case({4, 7}, 1, true, 1e-5, dt));
    out.push_back(rms_norm_case({3, 4, 5}, 2, true, std::nullopt, dt));
    out.push_back(rms_norm_case({5, 6}, 1, false, 1e-6, dt));
    out.push_back(rms_norm_case({3, 6, 4}, 1, true, 1e-5, dt, Layout::transposed));
  }
  out.push_back(rms_norm_case({16, 1000}, 1, true, 1e-5, DType::f32));   // threads, tails
  out.push_back(rms_norm_case({3, 1500}, 1, true, 1e-5, DType::f32));    // a block per row
  out.push_back(rms_norm_case({9}, 1, true, std::nullopt, DType::f32));  // one row
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(rms_norm_backward_case({4, 7}, 1, true, dt));
    out.push_back(rms_norm_backward_case({3, 4, 5}, 2, false, dt));
  }
  out.push_back(rms_norm_backward_case({16, 1000}, 1, true, DType::f32));
  out.push_back(rms_norm_backward_case({70, 600}, 1, true, DType::f32));  // weight blocks, threads
  out.push_back(rms_norm_backward_case({3, 1500}, 1, true, DType::f32));
  for (DType dt : {DType::bf16, DType::f16}) {
    out.push_back(half_case(rms_norm_case({4, 7}, 1, true, 1e-5, dt)));
    out.push_back(half_case(rms_norm_case({3, 6, 4}, 1, true, 1e-5, dt, Layout::transposed)));
    out.push_back(half_case(rms_norm_case({3, 1500}, 1, true, 1e-5, dt)));
    out.push_back(half_case(rms_norm_backward_case({4, 7}, 1, true, dt)));
    out.push_back(half_case(rms_norm_backward_case({70, 600}, 1, true, dt)));
  }
}

}  // namespace ember::cases
