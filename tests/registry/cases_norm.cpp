// layer_norm (nn::functional::layer_norm over 1, 2 and 3 trailing dims, with and without
// weight and bias, a long row) and embedding (nn::functional::embedding with 1-D and 2-D
// indices, repeats, padding_idx given as a positive and a negative index). The
// "_backward" cases run each op's gradient on the device through autograd::grad for a
// random grad_out (gradcheck checks the rules on the cpu; these check every device, and
// embedding's padding row, which finite differences cannot).
// Napkin math: layer norm about 8 flops per element forward (mean, centre, square, sum,
// scale, affine) and 10 backward; embedding none, bytes the indices and the rows
// gathered (scattered) and written.
#include "autograd/engine.h"
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_nn.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;

OpCase layer_norm_case(const Shape& shape, int64_t norm_dims, bool weight, bool bias, DType dt,
                       Layout layout = Layout::contiguous) {
  const Shape normalized(shape.end() - norm_dims, shape.end());
  std::vector<In> ins = {In{shape, Dist::wide, layout}};
  if (weight) ins.push_back(In{normalized});
  if (bias) ins.push_back(In{normalized});
  OpCase c;
  c.name = "layer_norm/" + ins_tag(ins) + "_n" + std::to_string(norm_dims) + (weight ? "_w" : "") +
           (bias ? "_b" : "") + "/" + dtype_tag(dt);
  c.family = "layer_norm";
  c.op = "layer_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  constexpr double eps = 1e-5;
  c.run = [normalized, weight, bias](const Inputs& x) {
    const Tensor w = weight ? x[1] : Tensor(), b = bias ? x[weight ? 2 : 1] : Tensor();
    return Outputs{F::layer_norm(x[0], normalized, w, b, eps)};
  };
  c.reference = [norm_dims, weight, bias](const Refs& x) {
    const ref::RefTensor* w = weight ? &x[1] : nullptr;
    const ref::RefTensor* b = bias ? &x[weight ? 2 : 1] : nullptr;
    return Refs{ref::layer_norm(x[0], norm_dims, w, b, eps)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_elementwise_cost(c, 8, dt);
  c.bytes = [dt](const Inputs& x) {
    double b = numel_d(x[0]) * static_cast<double>(element_size(dt));
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
  for (int i = 0; i < static_cast<int>(ins.size()); ++i) c.grad_inputs.push_back(i);
  return c;
}

// Inputs: x, grad_out, then weight when given; outputs dx, dweight (with a weight), dbias.
OpCase layer_norm_backward_case(const Shape& shape, int64_t norm_dims, bool affine, DType dt) {
  const Shape normalized(shape.end() - norm_dims, shape.end());
  std::vector<In> ins = {In{shape, Dist::wide}, In{shape}};
  if (affine) ins.push_back(In{normalized});
  OpCase c;
  c.name = "layer_norm_backward/" + ins_tag(ins) + "_n" + std::to_string(norm_dims) +
           (affine ? "_w_b" : "") + "/" + dtype_tag(dt);
  c.family = "layer_norm";
  c.op = "layer_norm_backward";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  constexpr double eps = 1e-5;
  c.run = [normalized, affine](const Inputs& x) {
    autograd::TensorList leaves = {x[0].detach().requires_grad_()};
    Tensor w, b;
    if (affine) {
      w = x[2].detach().requires_grad_();
      b = zeros(normalized, x[2].options()).requires_grad_();
      leaves.push_back(w);
      leaves.push_back(b);
    }
    Tensor y = F::layer_norm(leaves[0], normalized, w, b, eps);
    return autograd::grad({y}, leaves, {x[1]});
  };
  c.reference = [norm_dims, affine](const Refs& x) {
    ref::LayerNormGrads g =
        ref::layer_norm_backward(x[0], norm_dims, affine ? &x[2] : nullptr, x[1], eps);
    return affine ? Refs{g.dx, g.dweight, g.dbias} : Refs{g.dx};
  };
  c.out_dtypes.assign(affine ? 3 : 1, dt);
  c.tol = tolerance(dt, TolKind::reduction);
  set_elementwise_cost(c, 10, dt);
  return c;
}

OpCase embedding_case(int64_t num, int64_t dim, const Shape& indices, std::optional<int64_t> pad,
                      DType dt) {
  In idx{indices, Dist::index};
  idx.index_high = num;
  const std::vector<In> ins = {idx, In{{num, dim}}};
  OpCase c;
  c.name = "embedding/" + ins_tag(ins) + (pad ? "_pad" + std::to_string(*pad) : "") + "/" +
           dtype_tag(dt);
  c.family = "embedding";
  c.op = "embedding";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [pad](const Inputs& x) { return Outputs{F::embedding(x[0], x[1], pad)}; };
  c.reference = [](const Refs& x) { return Refs{ref::embedding(x[0], x[1])}; };
  c.out_dtypes = {dt};
  c.flops = [](const Inputs&) { return 0.0; };
  c.bytes = [](const Inputs& x) {
    return bytes_of(x[0]) + 2.0 * numel_d(x[0]) * static_cast<double>(x[1].size(1)) *
                                static_cast<double>(x[1].element_size());
  };
  // The padding row's values are read but get no gradient, which finite differences
  // cannot agree with: gradcheck covers the cases without padding_idx.
  if (!pad) c.grad_inputs = {1};
  return c;
}

// The weight's gradient: indices, weight, grad_out (indices shape..., dim).
OpCase embedding_backward_case(int64_t num, int64_t dim, const Shape& indices,
                               std::optional<int64_t> pad, DType dt) {
  In idx{indices, Dist::index};
  idx.index_high = num;
  Shape go = indices;
  go.push_back(dim);
  const std::vector<In> ins = {idx, In{{num, dim}}, In{go}};
  OpCase c;
  c.name = "embedding_backward/" + ins_tag(ins) + (pad ? "_pad" + std::to_string(*pad) : "") + "/" +
           dtype_tag(dt);
  c.family = "embedding";
  c.op = "embedding_backward";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [pad](const Inputs& x) {
    Tensor w = x[1].detach().requires_grad_();
    return autograd::grad({F::embedding(x[0], w, pad)}, {w}, {x[2]});
  };
  c.reference = [num, pad](const Refs& x) {
    return Refs{ref::embedding_backward(x[0], x[2], num, pad)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  c.flops = [](const Inputs& x) { return numel_d(x[2]); };
  c.bytes = [](const Inputs& x) { return bytes_of(x[0]) + bytes_of(x[2]) + 2.0 * bytes_of(x[1]); };
  return c;
}

// A bf16/f16 case (issue 16): f32 math inside, compared with the f64 reference at the
// dtype's tolerance; gradcheck stays f64.
OpCase half_case(OpCase c) {
  c.grad_inputs.clear();
  return c;
}

}  // namespace

void add_norm_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::bf16, DType::f16}) {
    out.push_back(half_case(layer_norm_case({4, 7}, 1, true, true, dt)));
    out.push_back(half_case(layer_norm_case({3, 6, 4}, 1, true, true, dt, Layout::transposed)));
    out.push_back(half_case(layer_norm_case({16, 1000}, 1, true, true, dt)));
    out.push_back(half_case(layer_norm_backward_case({4, 7}, 1, true, dt)));
    out.push_back(half_case(layer_norm_backward_case({150, 33}, 1, true, dt)));
  }
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(layer_norm_case({4, 7}, 1, true, true, dt));
    out.push_back(layer_norm_case({3, 4, 5}, 2, true, false, dt));
    out.push_back(layer_norm_case({2, 3, 2, 4}, 3, false, true, dt));
    out.push_back(layer_norm_case({5, 6}, 1, false, false, dt));
    out.push_back(layer_norm_case({3, 6, 4}, 1, true, true, dt, Layout::transposed));
  }
  out.push_back(layer_norm_case({16, 1000}, 1, true, true, DType::f32));  // threads, tails
  out.push_back(layer_norm_case({9}, 1, true, true, DType::f32));         // one row
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(layer_norm_backward_case({4, 7}, 1, true, dt));
    out.push_back(layer_norm_backward_case({3, 4, 5}, 2, false, dt));
  }
  out.push_back(layer_norm_backward_case({16, 1000}, 1, true, DType::f32));
  // More rows than one of the cpu kernel's row blocks (64), the last block partial: the
  // weight and bias gradients are summed per block, then across blocks.
  for (DType dt : {DType::f32, DType::f64})
    out.push_back(layer_norm_backward_case({150, 33}, 1, true, dt));
}

void add_embedding_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::bf16, DType::f16}) {
    out.push_back(half_case(embedding_case(6, 3, {3, 5}, std::nullopt, dt)));
    out.push_back(half_case(embedding_case(8, 5, {4, 3}, 2, dt)));
    out.push_back(half_case(embedding_backward_case(6, 3, {4, 5}, std::nullopt, dt)));
    out.push_back(half_case(embedding_backward_case(30, 64, {2000}, 3, dt)));  // long f32 sums
  }
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(embedding_case(10, 4, {7}, std::nullopt, dt));
    out.push_back(embedding_case(6, 3, {3, 5}, std::nullopt, dt));  // repeats
    out.push_back(embedding_case(8, 5, {4, 3}, 2, dt));
    out.push_back(embedding_case(8, 5, {9}, -1, dt));
  }
  out.push_back(embedding_case(1000, 64, {4, 50}, 0, DType::f32));
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(embedding_backward_case(6, 3, {4, 5}, std::nullopt, dt));  // repeats add up
    out.push_back(embedding_backward_case(5, 4, {12}, 2, dt));
    out.push_back(embedding_backward_case(5, 4, {3, 4}, -1, dt));
  }
  // Many indices onto few rows: a parallel backward must not race.
  out.push_back(embedding_backward_case(30, 64, {2000}, 3, DType::f32));
}

}  // namespace ember::cases
