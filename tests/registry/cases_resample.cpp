// nn::functional::interpolate: nearest on (N, C, L) and (N, C, H, W), bilinear with and
// without align_corners, from a size or a scale factor; bilinear cases are the family of
// the upsample_bilinear primitive, whose backward also runs alone on every device.
// Costs: nearest moves data (no flops); bilinear ~6 flops per output element forward, 8
// backward. References: torch's formulas per output element (nearest in f32 as torch
// computes it; bilinear as the four-corner weighted sum in double).
#include <cmath>

#include "nn/functional.h"
#include "registry/builders.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

struct InterpSpec {
  In in;
  nn::F::InterpolateOptions o;
};

std::string tag_of(const InterpSpec& s) {
  std::string t = s.o.mode + "_" + in_tag(s.in);
  for (int64_t v : s.o.size) t += "_s" + std::to_string(v);
  for (double f : s.o.scale_factor) t += "_f" + std::to_string(static_cast<int>(f * 100));
  if (s.o.align_corners) t += *s.o.align_corners ? "_ac" : "_noac";
  return t;
}

Shape out_shape_of(const InterpSpec& s) {
  Shape out = s.in.shape;
  size_t spatial = out.size() - 2;
  for (size_t i = 0; i < spatial; ++i) {
    if (!s.o.size.empty()) {
      out[i + 2] = s.o.size[s.o.size.size() == 1 ? 0 : i];
    } else {
      double f = s.o.scale_factor[s.o.scale_factor.size() == 1 ? 0 : i];
      out[i + 2] = static_cast<int64_t>(std::floor(static_cast<double>(out[i + 2]) * f));
    }
  }
  return out;
}

// torch's scale for the source index: 1/factor when a factor is given, else in/out.
double scale_for(const InterpSpec& s, size_t i, int64_t in, int64_t out) {
  if (!s.o.scale_factor.empty())
    return 1.0 / s.o.scale_factor[s.o.scale_factor.size() == 1 ? 0 : i];
  return static_cast<double>(in) / static_cast<double>(out);
}

ref::RefTensor ref_nearest(const ref::RefTensor& x, const InterpSpec& s, const Shape& out) {
  ref::RefTensor y = ref::filled(out, 0.0);
  for (int64_t f = 0; f < y.numel(); ++f) {
    ref::Index o = ref::unravel(f, out), src = o;
    for (size_t i = 0; i + 2 < out.size(); ++i) {
      int64_t in = x.shape[i + 2];
      float scale = static_cast<float>(scale_for(s, i, in, out[i + 2]));
      int64_t v = static_cast<int64_t>(std::floor(static_cast<float>(o[i + 2]) * scale));
      src[i + 2] = std::min(v, in - 1);
    }
    y.data[static_cast<size_t>(f)] = x[src];
  }
  return y;
}

// Source coordinate of output index o along a dim (torch's area_pixel_compute_source_index).
double bilinear_src(const InterpSpec& s, size_t i, int64_t o, int64_t in, int64_t out) {
  if (s.o.align_corners.value_or(false))
    return out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) * o : 0.0;
  double src = scale_for(s, i, in, out) * (o + 0.5) - 0.5;
  return src < 0 ? 0.0 : src;
}

ref::RefTensor ref_bilinear(const ref::RefTensor& x, const InterpSpec& s, const Shape& out) {
  ref::RefTensor y = ref::filled(out, 0.0);
  const int64_t H = x.shape[2], W = x.shape[3];
  for (int64_t f = 0; f < y.numel(); ++f) {
    ref::Index o = ref::unravel(f, out);
    double sh = bilinear_src(s, 0, o[2], H, out[2]), sw = bilinear_src(s, 1, o[3], W, out[3]);
    int64_t h0 = static_cast<int64_t>(sh), w0 = static_cast<int64_t>(sw);
    int64_t h1 = h0 < H - 1 ? h0 + 1 : h0, w1 = w0 < W - 1 ? w0 + 1 : w0;
    double lh = sh - h0, lw = sw - w0;
    auto at = [&](int64_t h, int64_t w) { return x[{o[0], o[1], h, w}]; };
    y.data[static_cast<size_t>(f)] = (1 - lh) * ((1 - lw) * at(h0, w0) + lw * at(h0, w1)) +
                                     lh * ((1 - lw) * at(h1, w0) + lw * at(h1, w1));
  }
  return y;
}

// The gradient of ref_bilinear for an input of shape in, from g: each output's four
// weighted terms added into their sources.
ref::RefTensor ref_bilinear_backward(const ref::RefTensor& g, const InterpSpec& s,
                                     const Shape& in) {
  ref::RefTensor gx = ref::filled(in, 0.0);
  const int64_t H = in[2], W = in[3];
  for (int64_t f = 0; f < g.numel(); ++f) {
    ref::Index o = ref::unravel(f, g.shape);
    double sh = bilinear_src(s, 0, o[2], H, g.shape[2]);
    double sw = bilinear_src(s, 1, o[3], W, g.shape[3]);
    int64_t h0 = static_cast<int64_t>(sh), w0 = static_cast<int64_t>(sw);
    int64_t h1 = h0 < H - 1 ? h0 + 1 : h0, w1 = w0 < W - 1 ? w0 + 1 : w0;
    double lh = sh - h0, lw = sw - w0, v = g.data[static_cast<size_t>(f)];
    gx[{o[0], o[1], h0, w0}] += (1 - lh) * (1 - lw) * v;
    gx[{o[0], o[1], h0, w1}] += (1 - lh) * lw * v;
    gx[{o[0], o[1], h1, w0}] += lh * (1 - lw) * v;
    gx[{o[0], o[1], h1, w1}] += lh * lw * v;
  }
  return gx;
}

// The primitive's backward on every device: grad_x from a random grad_out.
void add_bilinear_backward(std::vector<OpCase>& out, const InterpSpec& s, DType dt) {
  Shape out_shape = out_shape_of(s), in_shape = s.in.shape;
  UpsampleBilinearParams p;
  p.align_corners = s.o.align_corners.value_or(false);
  auto scale = [&](size_t i) {
    int64_t in = in_shape[i + 2], o = out_shape[i + 2];
    if (p.align_corners) return o > 1 ? static_cast<double>(in - 1) / (o - 1) : 0.0;
    return scale_for(s, i, in, o);
  };
  p.scale_h = scale(0);
  p.scale_w = scale(1);
  OpCase c;
  c.name = "upsample_bilinear_backward/" + tag_of(s) + "/" + dtype_tag(dt);
  c.family = "upsample_bilinear";
  c.op = "upsample_bilinear_backward";
  c.dtype = dt;
  c.make_inputs = input_maker({In{out_shape}});
  c.run = [in_shape, p](const Inputs& x) {
    return Outputs{raw::upsample_bilinear_backward(x[0], in_shape[2], in_shape[3], p)};
  };
  c.reference = [s, in_shape](const Refs& x) {
    return Refs{ref_bilinear_backward(x[0], s, in_shape)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  double out_n = static_cast<double>(ref::numel_of(out_shape));
  double in_n = static_cast<double>(ref::numel_of(in_shape));
  c.flops = [out_n](const Inputs&) { return 8.0 * out_n; };
  c.bytes = [out_n, in_n](const Inputs& in) {
    return (out_n + in_n) * static_cast<double>(element_size(in[0].dtype()));
  };
  out.push_back(std::move(c));
}

}  // namespace

void add_resample_cases(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  using O = nn::F::InterpolateOptions;
  std::vector<InterpSpec> specs = {
      {In{{2, 3, 5}}, O{.size = {9}}},
      {In{{2, 3, 5}}, O{.scale_factor = {2.0}}},
      {In{{1, 2, 7}, N, Layout::strided}, O{.size = {3}}},
      {In{{2, 3, 4, 5}}, O{.size = {8, 10}}},
      {In{{2, 3, 4, 5}, N, Layout::transposed}, O{.size = {3, 7}}},
      {In{{1, 2, 5, 6}}, O{.scale_factor = {1.7}}},
      {In{{1, 2, 5, 6}}, O{.scale_factor = {0.5, 2.5}}},
      {In{{2, 3, 4, 5}}, O{.size = {8, 10}, .mode = "bilinear"}},
      {In{{2, 3, 4, 5}}, O{.size = {8, 10}, .mode = "bilinear", .align_corners = true}},
      {In{{1, 2, 6, 7}, N, Layout::transposed}, O{.size = {4, 3}, .mode = "bilinear"}},
      {In{{1, 2, 6, 7}}, O{.size = {4, 3}, .mode = "bilinear", .align_corners = true}},
      {In{{1, 2, 5, 6}}, O{.scale_factor = {1.7}, .mode = "bilinear"}},
      {In{{1, 2, 5, 6}}, O{.scale_factor = {2.0, 0.5}, .mode = "bilinear", .align_corners = false}},
      {In{{1, 1, 3, 4}}, O{.size = {1, 5}, .mode = "bilinear", .align_corners = true}},
      {In{{8, 16, 32, 32}}, O{.scale_factor = {2.0}}},
      {In{{8, 16, 32, 32}}, O{.scale_factor = {2.0}, .mode = "bilinear"}},
  };
  // bf16/f16 (issue 16, halfnn2): nearest copies exactly; bilinear runs in f32 and rounds
  // once (forward and backward), within tolerance()'s half tolerance.
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      const InterpSpec& s = specs[k];
      bool bilinear = s.o.mode == "bilinear", big = s.in.shape[0] == 8;
      if (dt == DType::i64 && (bilinear || (k != 0 && k != 3))) continue;
      if ((dt == DType::f64 || is_half(dt)) && big) continue;
      OpCase c;
      c.name = "interpolate/" + tag_of(s) + "/" + dtype_tag(dt);
      c.family = bilinear ? "upsample_bilinear" : "interpolate";  // the primitive's cases
      c.op = "interpolate";
      c.dtype = dt;
      c.make_inputs = input_maker({s.in});
      c.run = [s](const Inputs& x) { return Outputs{nn::F::interpolate(x[0], s.o)}; };
      Shape out_shape = out_shape_of(s);
      c.reference = [s, out_shape, bilinear](const Refs& x) {
        return Refs{bilinear ? ref_bilinear(x[0], s, out_shape) : ref_nearest(x[0], s, out_shape)};
      };
      c.out_dtypes = {dt};
      c.tol = bilinear ? tolerance(dt, TolKind::elementwise) : Tolerance{};
      double out_n = static_cast<double>(ref::numel_of(out_shape));
      c.flops = [out_n, bilinear](const Inputs&) { return bilinear ? 6.0 * out_n : 0.0; };
      c.bytes = [out_n](const Inputs& in) {
        return bytes_of(in[0]) + out_n * static_cast<double>(element_size(in[0].dtype()));
      };
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};  // gradcheck: f32, f64
      out.push_back(std::move(c));
      if (bilinear && (dt == DType::f32 || is_half(dt) || k == 8 || k == 9))
        add_bilinear_backward(out, s, dt);
    }
}

}  // namespace ember::cases
