// conv2d through the public op (ember::conv2d, which nn::functional::conv2d is), its two
// backward primitives raw::conv2d_backward_input / raw::conv2d_backward_weight, and
// raw::conv2d_backward (all three gradients, or any subset, from one call).
// The shapes are small but reach every path of kernels/cuda/conv2d.cu: strides (up to 5 x 4,
// whose 20 backward-input phases take two launches), padding, dilation, groups, depthwise
// (the direct kernels), channel counts off and over the 64 x 64 tile, a long reduction
// that splits the backward-weight's N P Q, 1x1 and 5x5 kernels, one output pixel.
// bf16/f16 (issue 16) on every third shape: f32 accumulation, one rounding, checked with a
// tolerance that grows with the reduction length (its f32 sum) next to the rounding's eps.
// Napkin math: 2 N K P Q (C/groups) R S flops per primitive (+ N K P Q for the bias);
// bytes are the operands read once and the result written once.
#include "registry/builders.h"
#include "registry/reference_nn.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

struct ConvShape {
  const char* tag;
  int64_t N, C, H, W, K, R, S;
  Conv2dParams p;
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

const std::vector<ConvShape>& shapes() {
  static const std::vector<ConvShape> v = {
      {"3x3_pad1", 2, 3, 9, 11, 5, 3, 3, params(1, 1, 1, 1)},
      {"3x3_stride2_pad1", 1, 4, 10, 9, 6, 3, 3, params(2, 2, 1, 1)},
      {"5x5_stride3_pad2", 2, 3, 13, 12, 4, 5, 5, params(3, 3, 2, 2)},
      {"5x5_nopad", 1, 3, 12, 11, 9, 5, 5, params(1, 1, 0, 0)},
      {"3x3_dilation2", 1, 5, 11, 10, 7, 3, 3, params(1, 1, 2, 2, 2, 2)},
      {"mixed_stride_dilation", 2, 3, 10, 13, 4, 3, 2, params(1, 2, 1, 3, 2, 3)},
      {"groups2", 2, 6, 8, 7, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      {"groups3_1x3", 1, 9, 6, 8, 6, 1, 3, params(1, 2, 0, 1, 1, 1, 3)},
      {"depthwise", 2, 8, 9, 9, 8, 3, 3, params(1, 1, 1, 1, 1, 1, 8)},
      {"depthwise_x2_5x5_stride2", 1, 4, 11, 10, 8, 5, 5, params(2, 2, 2, 2, 1, 1, 4)},
      {"depthwise_plane_over_a_block", 2, 3, 20, 19, 3, 3, 3, params(1, 1, 1, 1, 2, 1, 3)},
      {"depthwise_dilated_strided", 1, 5, 13, 12, 5, 3, 3, params(2, 3, 2, 1, 2, 2, 5)},
      {"1x1_over_tile", 3, 70, 5, 6, 67, 1, 1, params(1, 1, 0, 0)},
      {"1x1_stride2", 2, 5, 7, 9, 3, 1, 1, params(2, 2, 0, 0)},
      {"channels_17_to_66", 4, 17, 6, 6, 66, 3, 3, params(1, 1, 1, 1)},
      // backward-weight: N P Q = 1024 over one 64 x 64 tile, so the reduction is split
      {"long_reduction", 4, 8, 16, 16, 16, 3, 3, params(1, 1, 1, 1)},
      // backward-weight split in uneven ranges, with stride, dilation and padding
      {"long_reduction_strided_dilated", 3, 5, 20, 18, 7, 3, 3, params(2, 1, 2, 1, 2, 1)},
      {"groups2_two_m_tiles", 1, 4, 5, 5, 140, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      {"c130_three_m_tiles_backward", 1, 130, 4, 4, 9, 3, 3, params(1, 1, 1, 1)},
      // backward-input: 5 x 4 = 20 output phases, two launches of up to 16
      {"stride5x4_many_phases", 2, 3, 11, 9, 4, 3, 2, params(5, 4, 1, 1)},
      {"one_output_pixel", 3, 4, 3, 3, 5, 3, 3, params(1, 1, 0, 0)},
      {"width_1", 2, 3, 7, 1, 4, 3, 1, params(2, 1, 1, 0)},
      // The cpu's fused backward on its threads (8+ image-group tasks, per-thread partial
      // dW and db): 3x3, a 1x1 with groups (dx and dW without im2col), and images of
      // several col chunks (3600 columns of 45 rows)
      {"fused_8_images", 8, 5, 12, 12, 24, 3, 3, params(1, 1, 1, 1)},
      {"fused_1x1_groups2", 4, 32, 16, 16, 32, 1, 1, params(1, 1, 0, 0, 1, 1, 2)},
      {"fused_chunks_60x60", 8, 5, 60, 60, 8, 3, 3, params(1, 1, 1, 1)},
      // Winograd (cpu): tile rows of 9 tiles take the row-vectorized layout, up to 7 the
      // channel-vectorized one (kernels/cpu/conv2d_winograd.h); channels off the vector
      // width, pad 0/1/2 (backward-input pads 2 - p), batch 1, groups, the ResNet's 7x7
      {"winograd_rows_wide", 1, 16, 5, 34, 16, 3, 3, params(1, 1, 1, 1)},
      {"winograd_14x14_pad0", 2, 18, 14, 14, 16, 3, 3, params(1, 1, 0, 0)},
      {"winograd_7x7_20_to_17", 3, 20, 7, 7, 17, 3, 3, params(1, 1, 1, 1)},
      {"winograd_batch1_pad2", 1, 16, 6, 5, 24, 3, 3, params(1, 1, 2, 2)},
      {"3x3_stride2_14x14", 2, 16, 14, 14, 32, 3, 3, params(2, 2, 1, 1)},
      {"winograd_groups2_7x7", 2, 32, 7, 7, 34, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      // small enough for gradcheck (f64): groups, stride, dilation; depthwise
      {"small_groups_strided_dilated", 1, 4, 5, 6, 6, 3, 3, params(2, 1, 1, 2, 1, 2, 2)},
      {"small_depthwise", 1, 3, 6, 5, 3, 3, 3, params(1, 1, 1, 1, 1, 1, 3)},
  };
  return v;
}

Shape x_shape(const ConvShape& s) { return {s.N, s.C, s.H, s.W}; }
Shape w_shape(const ConvShape& s) { return {s.K, s.C / s.p.groups, s.R, s.S}; }
Shape out_shape(const ConvShape& s) {
  return raw::conv2d_output_shape(x_shape(s), w_shape(s), s.p);
}

// |err| of a sum of `terms` products of N(0, 1) numbers grows with the number of terms.
// bf16/f16: the f32 sum of 16-bit products (exact in f32) rounded once: half an ulp of the
// result (rtol eps), and the f32 sum's error plus the rounding of a result near 0 (atol).
Tolerance conv_tol(DType dt, int64_t terms) {
  const auto t = static_cast<double>(terms);
  if (is_half(dt)) {
    const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
    return {eps * (0.5 + 0.01 * t), eps};
  }
  return dt == DType::f64 ? Tolerance{1e-13 * (1 + t), 1e-12} : Tolerance{2e-6 * (1 + t), 1e-5};
}

double mac_flops(const ConvShape& s) {
  return 2.0 * static_cast<double>(ref::numel_of(out_shape(s)) * (s.C / s.p.groups) * s.R * s.S);
}

OpCase base(const std::string& op, const ConvShape& s, const std::string& suffix, DType dt) {
  OpCase c;
  c.name = op + "/" + s.tag + suffix + "/" + dtype_tag(dt);
  c.family = "conv2d";
  c.op = op;
  c.dtype = dt;
  c.out_dtypes = {dt};
  return c;
}

// flops per call; bytes = the operands + the result of out_shape.
void set_cost(OpCase& c, double flops, const Shape& result, DType dt) {
  c.flops = [flops](const Inputs&) { return flops; };
  const double out_bytes = static_cast<double>(ref::numel_of(result)) * element_size(dt);
  c.bytes = [out_bytes](const Inputs& x) {
    double b = out_bytes;
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

// The public op: x (N, C, H, W) (or a transposed view, or unbatched (C, H, W)), w, bias.
OpCase forward(const ConvShape& s, DType dt, bool bias, Layout x_layout = Layout::contiguous,
               bool unbatched = false) {
  std::string suffix = std::string(bias ? "_bias" : "") +
                       (x_layout == Layout::transposed ? "_xT" : "") + (unbatched ? "_chw" : "");
  OpCase c = base("conv2d", s, suffix, dt);
  Shape xs = x_shape(s);
  if (unbatched) xs.erase(xs.begin());
  std::vector<In> ins = {In{xs, Dist::normal, x_layout}, In{w_shape(s)}};
  if (bias) ins.push_back(In{{s.K}});
  c.make_inputs = input_maker(ins);
  const Conv2dParams p = s.p;
  c.run = [p](const Inputs& x) {
    return Outputs{conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), p)};
  };
  c.reference = [p, unbatched](const Refs& x) {
    ref::RefTensor in = x[0];
    if (unbatched) in = ref::reshape(in, {1, in.shape[0], in.shape[1], in.shape[2]});
    ref::RefTensor y = ref::conv2d(in, x[1], x.size() > 2 ? &x[2] : nullptr, p);
    if (unbatched) y = ref::reshape(y, {y.shape[1], y.shape[2], y.shape[3]});
    return Refs{y};
  };
  c.tol = conv_tol(dt, s.C / s.p.groups * s.R * s.S);
  set_cost(c, mac_flops(s) + (bias ? static_cast<double>(ref::numel_of(out_shape(s))) : 0),
           out_shape(s), dt);
  c.grad_inputs = bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1};
  return c;
}

// raw::conv2d_backward_input: grad_out (N, K, P, Q), w -> grad_x (N, C, H, W).
OpCase backward_input(const ConvShape& s, DType dt) {
  OpCase c = base("conv2d_backward_input", s, "", dt);
  c.make_inputs = input_maker({In{out_shape(s)}, In{w_shape(s)}});
  const Conv2dParams p = s.p;
  const Shape xs = x_shape(s);
  c.run = [p, xs](const Inputs& x) {
    return Outputs{raw::conv2d_backward_input(xs, x[0], x[1], p)};
  };
  c.reference = [p, xs](const Refs& x) {
    return Refs{ref::conv2d_backward_input(xs, x[0], x[1], p)};
  };
  c.tol = conv_tol(dt, s.K / s.p.groups * s.R * s.S);
  set_cost(c, mac_flops(s), xs, dt);
  return c;
}

// raw::conv2d_backward_weight: grad_out (N, K, P, Q), x -> grad_w (K, C/groups, R, S).
OpCase backward_weight(const ConvShape& s, DType dt) {
  OpCase c = base("conv2d_backward_weight", s, "", dt);
  c.make_inputs = input_maker({In{out_shape(s)}, In{x_shape(s)}});
  const Conv2dParams p = s.p;
  const Shape ws = w_shape(s);
  c.run = [p, ws](const Inputs& x) {
    return Outputs{raw::conv2d_backward_weight(ws, x[0], x[1], p)};
  };
  c.reference = [p, ws](const Refs& x) {
    return Refs{ref::conv2d_backward_weight(ws, x[0], x[1], p)};
  };
  const Shape os = out_shape(s);
  c.tol = conv_tol(dt, s.N * os[2] * os[3]);
  set_cost(c, mac_flops(s), ws, dt);
  return c;
}

// raw::conv2d_backward: grad_out (N, K, P, Q), x, w -> the gradients `mask` asks for, in
// the order input, weight, bias (the cpu fuses them into one pass over grad_out).
OpCase backward_all(const ConvShape& s, DType dt, std::array<bool, 3> mask) {
  std::string suffix = "_";
  for (size_t i = 0; i < 3; ++i)
    if (mask[i]) suffix += "xwb"[i];
  OpCase c = base("conv2d_backward", s, suffix, dt);
  c.make_inputs = input_maker({In{out_shape(s)}, In{x_shape(s)}, In{w_shape(s)}});
  const Conv2dParams p = s.p;
  const Shape xs = x_shape(s), ws = w_shape(s);
  c.run = [p, xs, ws, mask](const Inputs& x) {
    auto [dx, dw, db] = raw::conv2d_backward(x[0], xs, x[1], ws, x[2], p, mask);
    Outputs out;
    for (const Tensor& t : {dx, dw, db})
      if (t.defined()) out.push_back(t);
    return out;
  };
  c.reference = [p, xs, ws, mask](const Refs& x) {
    Refs out;
    if (mask[0]) out.push_back(ref::conv2d_backward_input(xs, x[0], x[2], p));
    if (mask[1]) out.push_back(ref::conv2d_backward_weight(ws, x[0], x[1], p));
    if (mask[2]) out.push_back(ref::reduce(x[0], {0, 2, 3}, false, ref::sum_of));
    return out;
  };
  c.out_dtypes.clear();
  for (bool m : mask)
    if (m) c.out_dtypes.push_back(dt);
  const Shape os = out_shape(s);
  c.tol = conv_tol(dt, std::max(s.K / s.p.groups * s.R * s.S, s.N * os[2] * os[3]));
  const double flops = (mask[0] ? mac_flops(s) : 0) + (mask[1] ? mac_flops(s) : 0) +
                       (mask[2] ? static_cast<double>(ref::numel_of(os)) : 0);
  set_cost(c, flops, mask[0] ? xs : ws, dt);
  return c;
}

}  // namespace

void add_conv2d_cases(std::vector<OpCase>& out) {
  const auto& all = shapes();
  for (size_t i = 0; i < all.size(); ++i) {
    const ConvShape& s = all[i];
    const bool small = i + 2 >= all.size();
    // f32 everywhere, forward with and without bias; f64 on every third shape and on
    // the gradcheck-sized ones.
    out.push_back(forward(s, DType::f32, true));
    out.push_back(forward(s, DType::f32, false));
    out.push_back(backward_input(s, DType::f32));
    out.push_back(backward_weight(s, DType::f32));
    out.push_back(backward_all(s, DType::f32, {true, true, true}));
    // Every subset of the gradients on a few shapes: each one alone, and pairs.
    if (i % 4 == 1) {
      for (std::array<bool, 3> m : {std::array<bool, 3>{true, false, false},
                                    {false, true, false},
                                    {false, false, true},
                                    {true, true, false},
                                    {false, true, true}})
        out.push_back(backward_all(s, DType::f32, m));
    }
    if (i % 3 == 0 || small) {
      out.push_back(forward(s, DType::f64, true));
      out.push_back(forward(s, DType::f64, false));
      out.push_back(backward_input(s, DType::f64));
      out.push_back(backward_weight(s, DType::f64));
      out.push_back(backward_all(s, DType::f64, {true, true, true}));
    }
    if (i % 3 == 1 || s.p.groups == s.C) {  // bf16/f16, depthwise ones included (issue 16)
      const DType h = i % 2 == 0 ? DType::bf16 : DType::f16;
      out.push_back(forward(s, h, true));
      out.push_back(backward_input(s, h));
      out.push_back(backward_weight(s, h));
      out.push_back(backward_all(s, h, {true, true, true}));
    }
  }
  // Through the op layer: a non-contiguous input (made contiguous there), an unbatched one.
  out.push_back(forward(all[6], DType::f32, true, Layout::transposed));
  out.push_back(forward(all[all.size() - 2], DType::f64, true, Layout::transposed));
  out.push_back(forward(all[all.size() - 1], DType::f64, false, Layout::contiguous, true));
}

}  // namespace ember::cases
