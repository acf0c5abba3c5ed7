// 2-D pooling through nn::functional's forms (max_pool2d[_with_indices], avg_pool2d,
// adaptive_{avg,max}_pool2d[_with_indices]), ember::pool2d, and the backward primitive
// raw::pool2d_backward, against reference_pool.h's plain loops.
// The shapes reach: stride = kernel and overlapping windows, padding, dilation, ceil_mode
// whose last window is dropped by torch's rule or clipped at the padded edge,
// count_include_pad both ways, divisor_override, adaptive sizes that do not divide (and
// outputs larger than the input), global average pooling, ties (integer-valued inputs: the
// first maximum wins) and NaN (the last NaN wins), unbatched (C, H, W) and transposed inputs,
// and each vectorized path of kernels/cpu/pool_fast.cpp (fast_*, global_*).
// Napkin math: one flop per window element per output; bytes = input + outputs.
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_pool.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;

struct PoolSpec {
  const char* tag;
  Shape x;
  Pool2dParams p;
  int64_t oh = 0, ow = 0;  // adaptive output size
  Dist dist = Dist::normal;
  Layout layout = Layout::contiguous;
};

Pool2dParams fixed(PoolMode mode, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph = 0,
                   int64_t pw = 0, bool ceil = false) {
  Pool2dParams p;
  p.mode = mode;
  p.kernel_h = kh, p.kernel_w = kw, p.stride_h = sh, p.stride_w = sw, p.pad_h = ph, p.pad_w = pw;
  p.ceil_mode = ceil;
  return p;
}
Pool2dParams dilated(Pool2dParams p, int64_t dh, int64_t dw) {
  p.dilation_h = dh, p.dilation_w = dw;
  return p;
}
Pool2dParams avg(Pool2dParams p, bool include_pad, int64_t divisor = 0) {
  p.count_include_pad = include_pad, p.divisor_override = divisor;
  return p;
}
Pool2dParams adaptive(PoolMode mode) {
  Pool2dParams p;
  p.mode = mode;
  p.adaptive = true;
  return p;
}

constexpr PoolMode kMax = PoolMode::max;
constexpr PoolMode kAvg = PoolMode::avg;

const std::vector<PoolSpec>& max_specs() {
  static const std::vector<PoolSpec> v = {
      {"k2s2", {2, 3, 8, 10}, fixed(kMax, 2, 2, 2, 2)},
      {"k3s2p1", {2, 3, 9, 11}, fixed(kMax, 3, 3, 2, 2, 1, 1)},
      {"k3s2_ceil", {1, 2, 8, 9}, fixed(kMax, 3, 3, 2, 2, 0, 0, true)},
      // ceil_mode's extra window would start in the right padding: torch drops it
      {"k2s2p1_ceil_dropped", {1, 3, 7, 6}, fixed(kMax, 2, 2, 2, 2, 1, 1, true)},
      {"k3_dilation2_p1", {2, 2, 10, 9}, dilated(fixed(kMax, 3, 3, 1, 1, 1, 1), 2, 2)},
      {"k3x2_s2x1_p1x0", {1, 3, 7, 8}, fixed(kMax, 3, 2, 2, 1, 1, 0)},
      {"k3s1p1_chw", {3, 6, 7}, fixed(kMax, 3, 3, 1, 1, 1, 1)},
      {"ties_k3s2p1", {2, 3, 8, 8}, fixed(kMax, 3, 3, 2, 2, 1, 1), 0, 0, Dist::small_int},
      {"ties_k2s1", {1, 2, 5, 6}, fixed(kMax, 2, 2, 1, 1), 0, 0, Dist::small_int},
      {"nan_k2s2", {1, 2, 6, 6}, fixed(kMax, 2, 2, 2, 2), 0, 0, Dist::with_nan},
      {"k2s2_xT", {2, 3, 7, 9}, fixed(kMax, 2, 2, 2, 2), 0, 0, Dist::normal, Layout::transposed},
      {"k3s2_32x32", {2, 16, 32, 32}, fixed(kMax, 3, 3, 2, 2, 1, 1)},
      {"small_k3s2p1_ceil_dilated",
       {1, 2, 6, 7},
       dilated(fixed(kMax, 3, 3, 2, 2, 1, 1, true), 1, 2)},
  };
  return v;
}

const std::vector<PoolSpec>& avg_specs() {
  static const std::vector<PoolSpec> v = {
      {"k2s2", {2, 3, 8, 10}, fixed(kAvg, 2, 2, 2, 2)},
      {"k3s2p1_include_pad", {2, 3, 9, 11}, fixed(kAvg, 3, 3, 2, 2, 1, 1)},
      {"k3s2p1_exclude_pad", {2, 3, 9, 11}, avg(fixed(kAvg, 3, 3, 2, 2, 1, 1), false)},
      // the last window runs past the padded input: clipped there for the divisor
      {"k3s2p1_ceil_exclude_pad", {1, 2, 8, 10}, avg(fixed(kAvg, 3, 3, 2, 2, 1, 1, true), false)},
      {"k3s2_ceil_include_pad", {1, 2, 8, 8}, fixed(kAvg, 3, 3, 2, 2, 0, 0, true)},
      {"k3s1p1_divisor5", {2, 2, 6, 7}, avg(fixed(kAvg, 3, 3, 1, 1, 1, 1), true, 5)},
      {"k2x3_s1x2_chw", {3, 7, 8}, fixed(kAvg, 2, 3, 1, 2)},
      {"k2s2_xT", {2, 3, 6, 8}, fixed(kAvg, 2, 2, 2, 2), 0, 0, Dist::normal, Layout::transposed},
      {"small_k3s2p1_ceil", {1, 2, 5, 6}, fixed(kAvg, 3, 3, 2, 2, 1, 1, true)},
  };
  return v;
}

const std::vector<PoolSpec>& adaptive_specs(PoolMode mode) {
  static const std::vector<PoolSpec> a = {
      {"7x5_to_3x2", {2, 3, 7, 5}, adaptive(kAvg), 3, 2},
      {"global_6x6_to_1", {2, 4, 6, 6}, adaptive(kAvg), 1, 1},
      {"3x3_to_5x4", {1, 2, 3, 3}, adaptive(kAvg), 5, 4},
      {"chw_9x7_to_4x3", {3, 9, 7}, adaptive(kAvg), 4, 3},
      {"small_5x6_to_2x4", {1, 2, 5, 6}, adaptive(kAvg), 2, 4},
  };
  static const std::vector<PoolSpec> m = {
      {"7x5_to_3x2", {2, 3, 7, 5}, adaptive(kMax), 3, 2},
      {"ties_8x8_to_3x3", {2, 2, 8, 8}, adaptive(kMax), 3, 3, Dist::small_int},
      {"3x3_to_5x4", {1, 2, 3, 3}, adaptive(kMax), 5, 4},
      {"small_5x6_to_2x4", {1, 2, 5, 6}, adaptive(kMax), 2, 4},
  };
  return mode == kAvg ? a : m;
}

// Shapes for kernels/cpu/pool_fast.cpp's plane kernels: fixed windows without dilation
// (kernel widths 2 and 3 at strides 1 and 2 unrolled, other widths and strides), wide
// enough that the interior columns run full vector iterations and a tail (odd Q), with the
// padded and ceil_mode border columns beside them, ties, NaN and all -inf windows.
const std::vector<PoolSpec>& fast_max_specs() {
  static const std::vector<PoolSpec> v = {
      {"fast_k3s2p1_odd", {2, 3, 13, 75}, fixed(kMax, 3, 3, 2, 2, 1, 1)},
      {"fast_k3s2p1_ceil", {1, 3, 12, 76}, fixed(kMax, 3, 3, 2, 2, 1, 1, true)},
      {"fast_ties_k3s2p1", {2, 2, 11, 73}, fixed(kMax, 3, 3, 2, 2, 1, 1), 0, 0, Dist::small_int},
      {"fast_nan_k3s2p1", {2, 2, 11, 73}, fixed(kMax, 3, 3, 2, 2, 1, 1), 0, 0, Dist::with_nan},
      {"fast_nan_k2s2_ceil",
       {2, 2, 9, 71},
       fixed(kMax, 2, 2, 2, 2, 0, 0, true),
       0,
       0,
       Dist::with_nan},
      {"fast_ties_k2s2_ceil",
       {1, 3, 9, 69},
       fixed(kMax, 2, 2, 2, 2, 0, 0, true),
       0,
       0,
       Dist::small_int},
      {"fast_ninf_k3s1p1", {1, 2, 7, 41}, fixed(kMax, 3, 3, 1, 1, 1, 1), 0, 0, Dist::with_ninf},
      {"fast_ties_k2s1", {1, 2, 6, 37}, fixed(kMax, 2, 2, 1, 1), 0, 0, Dist::small_int},
      {"fast_k3x2_s2x1_p1x0", {1, 2, 9, 40}, fixed(kMax, 3, 2, 2, 1, 1, 0)},
      {"fast_k4s3p2_ceil", {1, 2, 14, 71}, fixed(kMax, 4, 4, 3, 3, 2, 2, true)},
      {"fast_ties_k5s2p2", {1, 2, 13, 67}, fixed(kMax, 5, 5, 2, 2, 2, 2), 0, 0, Dist::small_int},
      {"fast_nan_k4s1p1", {1, 2, 8, 39}, fixed(kMax, 4, 4, 1, 1, 1, 1), 0, 0, Dist::with_nan},
      {"small_fast_k3s2p1_narrow", {1, 2, 5, 2}, fixed(kMax, 3, 3, 2, 2, 1, 1)},
      {"small_fast_k2s2_wide", {1, 2, 4, 37}, fixed(kMax, 2, 2, 2, 2, 0, 0, true)},
  };
  return v;
}

const std::vector<PoolSpec>& fast_avg_specs() {
  static const std::vector<PoolSpec> v = {
      {"fast_k3s2p1_include_pad", {2, 2, 9, 75}, fixed(kAvg, 3, 3, 2, 2, 1, 1)},
      {"fast_k3s2p1_ceil_exclude_pad",
       {1, 2, 10, 76},
       avg(fixed(kAvg, 3, 3, 2, 2, 1, 1, true), false)},
      {"fast_k2s2_ceil", {1, 3, 9, 77}, fixed(kAvg, 2, 2, 2, 2, 0, 0, true)},
      {"fast_k3s1p1_divisor7", {1, 2, 6, 40}, avg(fixed(kAvg, 3, 3, 1, 1, 1, 1), true, 7)},
      {"fast_k2s1", {1, 2, 5, 40}, fixed(kAvg, 2, 2, 1, 1)},
      {"fast_k5s3p2_ceil_exclude_pad",
       {1, 2, 13, 70},
       avg(fixed(kAvg, 5, 5, 3, 3, 2, 2, true), false)},
      {"fast_k4s2p1", {1, 2, 10, 66}, fixed(kAvg, 4, 4, 2, 2, 1, 1)},
      {"fast_k3x5_s1x2_p0x2", {1, 2, 7, 45}, avg(fixed(kAvg, 3, 5, 1, 2, 0, 2), false)},
      // one output whose window covers the plane: the global path with each divisor rule
      {"global_fixed_k9x11", {2, 3, 9, 11}, fixed(kAvg, 9, 11, 9, 11)},
      {"global_fixed_k7p1_include_pad", {1, 2, 5, 5}, fixed(kAvg, 7, 7, 1, 1, 1, 1)},
      {"global_fixed_k7p1_exclude_pad", {1, 2, 5, 5}, avg(fixed(kAvg, 7, 7, 1, 1, 1, 1), false)},
      {"small_fast_k3s2p1_narrow", {1, 2, 5, 2}, avg(fixed(kAvg, 3, 3, 2, 2, 1, 1), false)},
      {"small_fast_k3s2p1_wide", {1, 2, 4, 37}, fixed(kAvg, 3, 3, 2, 2, 1, 1, true)},
      {"small_global_fixed_k5p1_divisor4",
       {1, 2, 3, 3},
       avg(fixed(kAvg, 5, 5, 1, 1, 1, 1), true, 4)},
  };
  return v;
}

const std::vector<PoolSpec>& global_avg_specs() {
  static const std::vector<PoolSpec> v = {
      {"global_13x11_to_1", {2, 3, 13, 11}, adaptive(kAvg), 1, 1},
      {"global_7x100_to_1", {1, 4, 7, 100}, adaptive(kAvg), 1, 1},
      {"global_chw_9x9_to_1", {5, 9, 9}, adaptive(kAvg), 1, 1},
      {"small_global_5x7_to_1", {1, 2, 5, 7}, adaptive(kAvg), 1, 1},
  };
  return v;
}

bool differentiable(const PoolSpec& s) { return s.dist == Dist::normal; }

int64_t window_elems(const PoolSpec& s) {
  if (!s.p.adaptive) return s.p.kernel_h * s.p.kernel_w;
  const Shape& x = s.x;
  return (x[x.size() - 2] / s.oh + 2) * (x[x.size() - 1] / s.ow + 2);
}

// Runs the op named `op` on x.
Outputs run_op(const std::string& op, const Tensor& x, const PoolSpec& s) {
  const Pool2dParams& p = s.p;
  const nn::Pair2 k(p.kernel_h, p.kernel_w), st(p.stride_h, p.stride_w), pad(p.pad_h, p.pad_w);
  const F::MaxPool2dOptions mo{.stride = st,
                               .padding = pad,
                               .dilation = {p.dilation_h, p.dilation_w},
                               .ceil_mode = p.ceil_mode};
  if (op == "max_pool2d") return {F::max_pool2d(x, k, mo)};
  if (op == "max_pool2d_with_indices") {
    auto [y, i] = F::max_pool2d_with_indices(x, k, mo);
    return {y, i};
  }
  if (op == "avg_pool2d") {
    const F::AvgPool2dOptions ao{
        .stride = st,
        .padding = pad,
        .ceil_mode = p.ceil_mode,
        .count_include_pad = p.count_include_pad,
        .divisor_override =
            p.divisor_override > 0 ? std::optional<int64_t>(p.divisor_override) : std::nullopt};
    return {F::avg_pool2d(x, k, ao)};
  }
  if (op == "adaptive_avg_pool2d") return {F::adaptive_avg_pool2d(x, {s.oh, s.ow})};
  if (op == "adaptive_max_pool2d") return {F::adaptive_max_pool2d(x, {s.oh, s.ow})};
  if (op == "adaptive_max_pool2d_with_indices") {
    auto [y, i] = F::adaptive_max_pool2d_with_indices(x, {s.oh, s.ow});
    return {y, i};
  }
  auto [y, i] = pool2d(x, p, s.oh, s.ow);  // "pool2d"
  return i.defined() ? Outputs{y, i} : Outputs{y};
}

bool with_indices(const std::string& op, const PoolSpec& s) {
  return op.find("with_indices") != std::string::npos || (op == "pool2d" && s.p.mode == kMax);
}

OpCase forward(const std::string& op, const PoolSpec& s, DType dt) {
  OpCase c;
  c.name = op + "/" + s.tag + "/" + dtype_tag(dt);
  c.family = "pool2d";
  c.op = op;
  c.dtype = dt;
  const bool idx = with_indices(op, s);
  c.out_dtypes = idx ? std::vector<DType>{dt, DType::i64} : std::vector<DType>{dt};
  c.make_inputs = input_maker({In{s.x, s.dist, s.layout}});
  c.run = [op, s](const Inputs& x) { return run_op(op, x[0], s); };
  c.reference = [s, idx](const Refs& x) {
    ref::RefTensor indices;
    ref::RefTensor y = ref::pool2d(x[0], s.p, s.oh, s.ow, &indices);
    return idx ? Refs{y, indices} : Refs{y};
  };
  c.tol = tolerance(dt, s.p.mode == kMax ? TolKind::exact : TolKind::reduction);
  const auto out =
      static_cast<double>(ref::numel_of(ref::pool2d_output_shape(s.x, s.p, s.oh, s.ow)));
  const double flops = out * static_cast<double>(window_elems(s));
  c.flops = [flops](const Inputs&) { return flops; };
  const double out_bytes = out * (element_size(dt) + (idx ? 8.0 : 0.0));
  c.bytes = [out_bytes](const Inputs& x) { return bytes_of(x[0]) + out_bytes; };
  if (differentiable(s)) c.grad_inputs = {0};
  return c;
}

// raw::pool2d_backward: x (its forward's indices for max) and grad_out -> grad_x.
OpCase backward(const PoolSpec& s, DType dt) {
  OpCase c;
  c.name = std::string("pool2d_backward/") + (s.p.mode == kMax ? "max_" : "avg_") +
           (s.p.adaptive ? "adaptive_" : "") + s.tag + "/" + dtype_tag(dt);
  c.family = "pool2d";
  c.op = "pool2d_backward";
  c.dtype = dt;
  c.out_dtypes = {dt};
  const Shape os = ref::pool2d_output_shape(s.x, s.p, s.oh, s.ow);
  c.make_inputs = input_maker({In{s.x, s.dist}, In{os}});
  c.run = [s](const Inputs& x) {
    auto [y, idx] = raw::pool2d_forward("pool2d", x[0], s.p, s.oh, s.ow);
    return Outputs{raw::pool2d_backward("pool2d_backward", s.x, x[1], idx, s.p)};
  };
  c.reference = [s](const Refs& x) { return Refs{ref::pool2d_backward(x[0], x[1], s.p)}; };
  c.tol = tolerance(dt, TolKind::reduction);
  const auto in = static_cast<double>(ref::numel_of(s.x));
  const double flops = static_cast<double>(ref::numel_of(os) * window_elems(s));
  c.flops = [flops](const Inputs&) { return flops; };
  c.bytes = [in, dt](const Inputs& x) { return bytes_of(x[1]) + in * element_size(dt); };
  return c;
}

void add_family(std::vector<OpCase>& out, const std::vector<std::string>& ops,
                const std::vector<PoolSpec>& specs) {
  for (size_t i = 0; i < specs.size(); ++i) {
    const PoolSpec& s = specs[i];
    const bool small = std::string(s.tag).rfind("small", 0) == 0;
    for (const std::string& op : ops) {
      if (!small) out.push_back(forward(op, s, DType::f32));
      if (small || i % 3 == 0) out.push_back(forward(op, s, DType::f64));
    }
    if (s.layout == Layout::contiguous) {
      out.push_back(backward(s, DType::f32));
      if (small) out.push_back(backward(s, DType::f64));
    }
  }
}

// bf16/f16 (issue 16, halfnn2): every spec of a family forward (a max and its index are
// exact; an average is an f32 sum rounded once) and its backward primitive (overlapping
// windows summed in f32, rounded once), within tolerance()'s half tolerance.
void add_half_family(std::vector<OpCase>& out, const std::vector<std::string>& ops,
                     const std::vector<PoolSpec>& specs, bool with_backward = true) {
  for (DType dt : {DType::bf16, DType::f16})
    for (const PoolSpec& s : specs) {
      for (const std::string& op : ops) {
        OpCase c = forward(op, s, dt);
        c.grad_inputs.clear();  // gradcheck runs in f64
        out.push_back(std::move(c));
      }
      if (with_backward && s.layout == Layout::contiguous) out.push_back(backward(s, dt));
    }
}

}  // namespace

void add_pool_cases(std::vector<OpCase>& out) {
  add_family(out, {"max_pool2d", "max_pool2d_with_indices"}, max_specs());
  add_family(out, {"avg_pool2d"}, avg_specs());
  add_family(out, {"adaptive_avg_pool2d"}, adaptive_specs(kAvg));
  add_family(out, {"adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"},
             adaptive_specs(kMax));
  // kernels/cpu/pool_fast.cpp's paths.
  add_family(out, {"max_pool2d_with_indices"}, fast_max_specs());
  add_family(out, {"avg_pool2d"}, fast_avg_specs());
  add_family(out, {"adaptive_avg_pool2d"}, global_avg_specs());
  // The op under the functional forms, once per mode.
  out.push_back(forward("pool2d", max_specs()[1], DType::f32));
  out.push_back(forward("pool2d", avg_specs().back(), DType::f64));  // small: gradcheck
  out.push_back(forward("pool2d", adaptive_specs(kAvg)[0], DType::f32));
  // bf16/f16 (issue 16, halfnn2)
  add_half_family(out, {"max_pool2d", "max_pool2d_with_indices"}, max_specs());
  add_half_family(out, {"avg_pool2d"}, avg_specs());
  add_half_family(out, {"adaptive_avg_pool2d"}, adaptive_specs(kAvg));
  add_half_family(out, {"adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"},
                  adaptive_specs(kMax));
  add_half_family(out, {"pool2d"}, {max_specs()[1], avg_specs()[2]}, false);
  add_half_family(out, {"avg_pool2d"}, {fast_avg_specs()[0]});
  add_half_family(out, {"adaptive_avg_pool2d"}, {global_avg_specs()[0]});
}

}  // namespace ember::cases
