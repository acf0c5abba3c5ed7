// conv_transpose2d (ember::conv_transpose2d, the adjoint of conv2d run by conv2d's
// backward-input primitive) and nn::functional::conv1d (conv2d over a height of one),
// against reference_pool.h's direct loops.
// The shapes reach: stride with output_padding (the extra rows the adjoint cannot see),
// padding, dilation, groups, depthwise, a 1x1 kernel, bias or none, unbatched inputs.
// Napkin math: 2 N C H W (K/groups) R S flops; bytes = operands + result.
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_pool.h"

namespace ember::cases {

namespace {

struct TransposeShape {
  const char* tag;
  int64_t N, C, H, W, K, R, S;
  Conv2dParams p;
  int64_t oph = 0, opw = 0;
};

Conv2dParams params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1,
                    int64_t g = 1) {
  return {.stride_h = sh,
          .stride_w = sw,
          .pad_h = ph,
          .pad_w = pw,
          .dilation_h = dh,
          .dilation_w = dw,
          .groups = g};
}

const std::vector<TransposeShape>& transpose_shapes() {
  static const std::vector<TransposeShape> v = {
      {"k3s1p1", 2, 3, 6, 7, 4, 3, 3, params(1, 1, 1, 1)},
      {"k3s2p1_outpad1", 2, 4, 5, 6, 3, 3, 3, params(2, 2, 1, 1), 1, 1},
      {"k4s2p1", 1, 3, 5, 5, 2, 4, 4, params(2, 2, 1, 1)},
      {"k3x2_s3x2_outpad2x1", 1, 2, 4, 5, 3, 3, 2, params(3, 2, 0, 1), 2, 1},
      {"dilation2_s2_outpad1", 1, 3, 4, 4, 2, 3, 3, params(2, 2, 1, 1, 2, 2), 1, 0},
      {"groups2", 2, 4, 5, 4, 6, 3, 3, params(2, 1, 1, 1, 1, 1, 2), 1, 0},
      {"depthwise", 1, 3, 5, 5, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 3)},
      {"k1s2", 2, 5, 4, 3, 3, 1, 1, params(2, 2, 0, 0)},
      {"small_s2_outpad1_groups2", 1, 2, 3, 3, 2, 3, 3, params(2, 2, 1, 1, 1, 1, 2), 1, 1},
  };
  return v;
}

Tolerance conv_tol(DType dt, int64_t terms) {
  const auto t = static_cast<double>(terms);
  if (is_half(dt)) {  // bf16/f16 (issue 16): f32 sums, rounded once, the bias added after
    const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
    return {eps * (0.5 + 0.01 * t), 2 * eps};
  }
  return dt == DType::f64 ? Tolerance{1e-13 * (1 + t), 1e-12} : Tolerance{2e-6 * (1 + t), 1e-5};
}

OpCase transpose_case(const TransposeShape& s, DType dt, bool bias, bool unbatched = false) {
  OpCase c;
  c.name = std::string("conv_transpose2d/") + s.tag + (bias ? "_bias" : "") +
           (unbatched ? "_chw" : "") + "/" + dtype_tag(dt);
  c.family = "conv2d";
  c.op = "conv_transpose2d";
  c.dtype = dt;
  c.out_dtypes = {dt};
  Shape xs = {s.N, s.C, s.H, s.W};
  if (unbatched) xs.erase(xs.begin());
  const int64_t K = s.K;
  std::vector<In> ins = {In{xs}, In{{s.C, K / s.p.groups, s.R, s.S}}};
  if (bias) ins.push_back(In{{K}});
  c.make_inputs = input_maker(ins);
  const TransposeShape sh = s;
  c.run = [sh](const Inputs& x) {
    return Outputs{
        conv_transpose2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), sh.p, sh.oph, sh.opw)};
  };
  c.reference = [sh, unbatched](const Refs& x) {
    ref::RefTensor in = x[0];
    if (unbatched) in = ref::reshape(in, {1, in.shape[0], in.shape[1], in.shape[2]});
    ref::RefTensor y =
        ref::conv_transpose2d(in, x[1], x.size() > 2 ? &x[2] : nullptr, sh.p, sh.oph, sh.opw);
    if (unbatched) y = ref::reshape(y, {y.shape[1], y.shape[2], y.shape[3]});
    return Refs{y};
  };
  c.tol = conv_tol(dt, s.C / s.p.groups * s.R * s.S);
  const double flops =
      2.0 * static_cast<double>(s.N * s.C * s.H * s.W * (K / s.p.groups) * s.R * s.S);
  c.flops = [flops](const Inputs&) { return flops; };
  c.bytes = [](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return 2 * b;  // the result is about the operands' size
  };
  c.grad_inputs = bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1};
  return c;
}

struct Conv1dShape {
  const char* tag;
  int64_t N, C, L, K, k, stride, padding, dilation, groups;
};

const std::vector<Conv1dShape>& conv1d_shapes() {
  static const std::vector<Conv1dShape> v = {
      {"k3p1", 2, 3, 11, 4, 3, 1, 1, 1, 1},
      {"k5s2p2", 2, 4, 13, 5, 5, 2, 2, 1, 1},
      {"k3_dilation2_groups2", 1, 4, 12, 6, 3, 1, 2, 2, 2},
      {"small_k3s2_groups2", 1, 2, 7, 2, 3, 2, 1, 1, 2},
  };
  return v;
}

OpCase conv1d_case(const Conv1dShape& s, DType dt, bool bias, bool unbatched = false) {
  OpCase c;
  c.name = std::string("conv1d/") + s.tag + (bias ? "_bias" : "") + (unbatched ? "_cl" : "") + "/" +
           dtype_tag(dt);
  c.family = "conv2d";
  c.op = "conv1d";
  c.dtype = dt;
  c.out_dtypes = {dt};
  Shape xs = {s.N, s.C, s.L};
  if (unbatched) xs.erase(xs.begin());
  std::vector<In> ins = {In{xs}, In{{s.K, s.C / s.groups, s.k}}};
  if (bias) ins.push_back(In{{s.K}});
  c.make_inputs = input_maker(ins);
  const Conv1dShape sh = s;
  c.run = [sh](const Inputs& x) {
    return Outputs{nn::functional::conv1d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), sh.stride,
                                          sh.padding, sh.dilation, sh.groups)};
  };
  c.reference = [sh, unbatched](const Refs& x) {
    ref::RefTensor in = x[0];
    if (unbatched) in = ref::reshape(in, {1, in.shape[0], in.shape[1]});
    ref::RefTensor y = ref::conv1d(in, x[1], x.size() > 2 ? &x[2] : nullptr, sh.stride, sh.padding,
                                   sh.dilation, sh.groups);
    if (unbatched) y = ref::reshape(y, {y.shape[1], y.shape[2]});
    return Refs{y};
  };
  c.tol = conv_tol(dt, s.C / s.groups * s.k);
  const double flops = 2.0 * static_cast<double>(s.N * s.K * s.L * (s.C / s.groups) * s.k);
  c.flops = [flops](const Inputs&) { return flops; };
  c.bytes = [](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return 2 * b;
  };
  c.grad_inputs = bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1};
  return c;
}

}  // namespace

void add_conv_transpose_cases(std::vector<OpCase>& out) {
  const auto& ts = transpose_shapes();
  for (size_t i = 0; i < ts.size(); ++i) {
    const bool small = i + 1 == ts.size();
    if (!small) {
      out.push_back(transpose_case(ts[i], DType::f32, true));
      out.push_back(transpose_case(ts[i], DType::f32, false));
    }
    if (small || i % 3 == 1) out.push_back(transpose_case(ts[i], DType::f64, true));
  }
  out.push_back(transpose_case(ts[1], DType::f32, true, true));
  const auto& cs = conv1d_shapes();
  for (size_t i = 0; i < cs.size(); ++i) {
    const bool small = i + 1 == cs.size();
    if (!small) out.push_back(conv1d_case(cs[i], DType::f32, i % 2 == 0));
    if (small || i == 1) out.push_back(conv1d_case(cs[i], DType::f64, true));
  }
  out.push_back(conv1d_case(cs[0], DType::f32, true, true));
  // bf16/f16 through the conv2d primitives (issue 16).
  out.push_back(transpose_case(ts[0], DType::bf16, true));
  out.push_back(transpose_case(ts[2], DType::f16, true));
  out.push_back(conv1d_case(cs[0], DType::bf16, true));
  out.push_back(conv1d_case(cs[1], DType::f16, true));
}

}  // namespace ember::cases
