// group_norm (nn::functional::group_norm on (N, C), (N, C, L) and (N, C, H, W), one group,
// one channel per group, C = 1, N = 1, with and without weight and bias, a transposed
// input, a threaded size) and its gradients on each device through autograd::grad.
// Napkin math: ~8 FLOPs per element forward, ~10 backward.
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_norm.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;

constexpr double kEps = 1e-5;

// Cost per call: flops_per_elem per element of x (input 0); bytes: every input read once,
// `outputs` tensors of x's size written (the small per-channel outputs are left out).
void set_norm_cost(OpCase& c, double flops_per_elem, int outputs) {
  c.flops = [flops_per_elem](const Inputs& x) { return flops_per_elem * numel_d(x[0]); };
  c.bytes = [outputs](const Inputs& x) {
    double b = outputs * bytes_of(x[0]);
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

// Inputs: x, [weight, bias]; output y.
OpCase group_norm_case(const Shape& shape, int64_t groups, bool affine, DType dt,
                       Layout layout = Layout::contiguous) {
  std::vector<In> ins = {In{shape, Dist::wide, layout}};
  if (affine) ins.insert(ins.end(), {In{{shape[1]}}, In{{shape[1]}}});
  OpCase c;
  c.name = "group_norm/" + ins_tag(ins) + "_g" + std::to_string(groups) + "/" + dtype_tag(dt);
  c.family = "group_norm";
  c.op = "group_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    return Outputs{
        F::group_norm(x[0], groups, affine ? x[1] : Tensor(), affine ? x[2] : Tensor(), kEps)};
  };
  c.reference = [=](const Refs& x) {
    return Refs{
        ref::group_norm(x[0], groups, affine ? &x[1] : nullptr, affine ? &x[2] : nullptr, kEps)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 8, 1);
  c.grad_inputs = affine ? std::vector<int>{0, 1, 2} : std::vector<int>{0};
  return c;
}

// Inputs: x, grad_out, [weight]; outputs dx and, with a weight, dweight and dbias.
OpCase group_norm_backward_case(const Shape& shape, int64_t groups, bool affine, DType dt) {
  std::vector<In> ins = {In{shape, Dist::wide}, In{shape}};
  if (affine) ins.push_back(In{{shape[1]}});
  OpCase c;
  c.name =
      "group_norm_backward/" + ins_tag(ins) + "_g" + std::to_string(groups) + "/" + dtype_tag(dt);
  c.family = "group_norm";
  c.op = "group_norm_backward";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    const autograd::GradModeGuard grad_on(true);  // ops --perf times under no_grad
    autograd::TensorList leaves = {x[0].detach().requires_grad_()};
    Tensor w, b;
    if (affine) {
      w = x[2].detach().requires_grad_();
      b = zeros({shape[1]}, x[2].options()).requires_grad_();
      leaves.push_back(w);
      leaves.push_back(b);
    }
    return autograd::grad({F::group_norm(leaves[0], groups, w, b, kEps)}, leaves, {x[1]});
  };
  c.reference = [=](const Refs& x) {
    ref::NormGrads g = ref::group_norm_backward(x[0], groups, affine ? &x[2] : nullptr, x[1], kEps);
    return affine ? Refs{g.dx, g.dweight, g.dbias} : Refs{g.dx};
  };
  c.out_dtypes.assign(affine ? 3 : 1, dt);
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 10, 1);
  return c;
}

// A bf16/f16 case (issue 16): f32 math inside, compared with the f64 reference at the
// dtype's tolerance; gradcheck stays f64.
OpCase half_case(OpCase c) {
  c.grad_inputs.clear();
  return c;
}

}  // namespace

void add_group_norm_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(group_norm_case({2, 6, 5}, 3, true, dt));
    out.push_back(group_norm_case({3, 4, 2, 3}, 2, false, dt));
    out.push_back(group_norm_case({2, 4, 3}, 1, true, dt));     // one group: layer norm
    out.push_back(group_norm_case({2, 4, 3, 2}, 4, true, dt));  // one channel per group
    out.push_back(group_norm_case({3, 1, 6}, 1, true, dt));     // C = 1
    out.push_back(group_norm_case({1, 6, 4}, 2, true, dt));     // N = 1
    out.push_back(group_norm_case({4, 6}, 3, true, dt));        // (N, C): S = 1
    out.push_back(group_norm_case({2, 4, 3, 3}, 2, true, dt, Layout::transposed));
    out.push_back(group_norm_backward_case({2, 6, 5}, 3, true, dt));
    out.push_back(group_norm_backward_case({3, 4, 2, 2}, 2, false, dt));
    out.push_back(group_norm_backward_case({2, 4, 3}, 4, true, dt));
  }
  out.push_back(group_norm_case({8, 32, 14, 14}, 8, true, DType::f32));  // (n, g) over threads
  out.push_back(group_norm_backward_case({8, 32, 14, 14}, 8, true, DType::f32));
  for (DType dt : {DType::bf16, DType::f16}) {
    out.push_back(half_case(group_norm_case({2, 6, 5}, 3, true, dt)));
    out.push_back(half_case(group_norm_case({2, 4, 3, 3}, 2, true, dt, Layout::transposed)));
    out.push_back(half_case(group_norm_backward_case({2, 6, 5}, 3, true, dt)));
    out.push_back(half_case(group_norm_backward_case({3, 4, 2, 2}, 2, false, dt)));
  }
}

}  // namespace ember::cases
