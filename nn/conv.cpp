#include "nn/conv.h"

#include <cmath>
#include <vector>

#include "nn/init.h"
#include "tensor/raw.h"

namespace ember::nn {

namespace {

// PyTorch's _ConvNd.reset_parameters: kaiming_uniform(a = sqrt(5)) on the weight, and
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias, fan_in from the weight's dim 1.
void conv_init(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(weight);
    const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

void check_channels(const char* op, int64_t in, int64_t out, int64_t groups) {
  if (groups <= 0 || in % groups != 0 || out % groups != 0)
    fail<ValueError>(op, "in_channels ", in, " and out_channels ", out,
                     " must be divisible by groups ", groups);
}

std::string pair_str(Pair2 p) {
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}
std::string one_str(int64_t v) { return "(" + std::to_string(v) + ",)"; }

enum class PadMode : uint8_t { zeros, reflect, replicate, circular };

PadMode pad_mode(const std::string& name) {
  if (name == "zeros") return PadMode::zeros;
  if (name == "reflect") return PadMode::reflect;
  if (name == "replicate") return PadMode::replicate;
  if (name == "circular") return PadMode::circular;
  fail<ValueError>("Conv2d", "padding_mode must be 'zeros', 'reflect', 'replicate' or ",
                   "'circular', got '", name, "'");
}

// The source row of padded row j (j in [-before, n + after)) of a dim of size n.
int64_t source_row(int64_t j, int64_t n, PadMode mode) {
  switch (mode) {
    case PadMode::reflect: return j < 0 ? -j : j >= n ? 2 * (n - 1) - j : j;
    case PadMode::replicate: return j < 0 ? 0 : j >= n ? n - 1 : j;
    case PadMode::circular: return ((j % n) + n) % n;
    case PadMode::zeros: break;
  }
  return j;
}

// x padded along dim by (before, after) rows: zeros concatenated, or the other modes as a
// differentiable index_select of the source rows.
Tensor pad_dim(const Tensor& x, int64_t dim, int64_t before, int64_t after, PadMode mode) {
  if (before == 0 && after == 0) return x;
  const int64_t n = x.size(dim);
  if (mode == PadMode::zeros) {
    Shape b = x.sizes(), a = x.sizes();
    b[static_cast<size_t>(dim)] = before;
    a[static_cast<size_t>(dim)] = after;
    return cat({zeros(b, x.options()), x, zeros(a, x.options())}, dim);
  }
  const int64_t limit = mode == PadMode::reflect ? n - 1 : mode == PadMode::circular ? n : -1;
  if (limit >= 0 && (before > limit || after > limit))
    fail<ValueError>("Conv2d", "padding (", before, ", ", after, ") is too large for an input ",
                     "dim of size ", n, " in ", mode == PadMode::reflect ? "reflect" : "circular",
                     " mode (input ", str(x.sizes()), ")");
  std::vector<int64_t> rows;
  for (int64_t j = -before; j < n + after; ++j) rows.push_back(source_row(j, n, mode));
  return index_select(x, dim, from_vector(rows, x.device()));
}

}  // namespace

namespace detail {

void check_conv2d_padding(const Conv2dOptions& o) {
  pad_mode(o.padding_mode);
  if (o.padding.mode == Conv2dPadding::Mode::same && (o.stride.h != 1 || o.stride.w != 1))
    fail<ValueError>("Conv2d", "padding='same' is not supported for strided convolutions ",
                     "(stride ", pair_str(o.stride), ")");
}

Tensor conv2d_padded(const Tensor& x, const Tensor& weight, const Tensor& bias,
                     const Conv2dOptions& o, Pair2 k) {
  int64_t top = o.padding.h, bottom = o.padding.h, left = o.padding.w, right = o.padding.w;
  if (o.padding.mode != Conv2dPadding::Mode::sizes) top = bottom = left = right = 0;
  if (o.padding.mode == Conv2dPadding::Mode::same) {
    const int64_t th = o.dilation.h * (k.h - 1), tw = o.dilation.w * (k.w - 1);
    top = th / 2, bottom = th - top, left = tw / 2, right = tw - left;
  }
  Conv2dParams p{.stride_h = o.stride.h,
                 .stride_w = o.stride.w,
                 .pad_h = top,
                 .pad_w = left,
                 .dilation_h = o.dilation.h,
                 .dilation_w = o.dilation.w,
                 .groups = o.groups};
  const PadMode mode = pad_mode(o.padding_mode);
  if (mode == PadMode::zeros && top == bottom && left == right) return conv2d(x, weight, bias, p);
  raw::check_defined("Conv2d", x);
  if (x.dim() != 3 && x.dim() != 4)
    fail<ShapeError>("Conv2d", "expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got ",
                     str(x.sizes()));
  Tensor xp = pad_dim(pad_dim(x, x.dim() - 2, top, bottom, mode), x.dim() - 1, left, right, mode);
  p.pad_h = p.pad_w = 0;
  return conv2d(xp, weight, bias, p);
}

}  // namespace detail

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, Pair2 k, ConvTranspose2dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  check_channels("ConvTranspose2d", in, out, o.groups);
  if (k.h <= 0 || k.w <= 0)
    fail<ValueError>("ConvTranspose2d", "kernel_size must be positive, got ", pair_str(k));
  weight = register_parameter("weight", empty({in, out / o.groups, k.h, k.w}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void ConvTranspose2d::reset_parameters() { conv_init(weight, bias); }

Conv2dParams ConvTranspose2d::params() const {
  return {.stride_h = options.stride.h,
          .stride_w = options.stride.w,
          .pad_h = options.padding.h,
          .pad_w = options.padding.w,
          .dilation_h = options.dilation.h,
          .dilation_w = options.dilation.w,
          .groups = options.groups};
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, params(), options.output_padding.h,
                          options.output_padding.w);
}

std::string ConvTranspose2d::extra_repr() const {
  const ConvTranspose2dOptions& o = options;
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair_str(kernel_size) + ", stride=" + pair_str(o.stride);
  if (o.padding.h != 0 || o.padding.w != 0) s += ", padding=" + pair_str(o.padding);
  if (o.dilation.h != 1 || o.dilation.w != 1) s += ", dilation=" + pair_str(o.dilation);
  if (o.output_padding.h != 0 || o.output_padding.w != 0)
    s += ", output_padding=" + pair_str(o.output_padding);
  if (o.groups != 1) s += ", groups=" + std::to_string(o.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

Conv1d::Conv1d(int64_t in, int64_t out, int64_t k, Conv1dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  check_channels("Conv1d", in, out, o.groups);
  if (k <= 0) fail<ValueError>("Conv1d", "kernel_size must be positive, got ", k);
  weight = register_parameter("weight", empty({out, in / o.groups, k}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Conv1d::reset_parameters() { conv_init(weight, bias); }

Tensor Conv1d::forward(const Tensor& x) {
  return F::conv1d(x, weight, bias, options.stride, options.padding, options.dilation,
                   options.groups);
}

std::string Conv1d::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + one_str(kernel_size) + ", stride=" + one_str(options.stride);
  if (options.padding != 0) s += ", padding=" + one_str(options.padding);
  if (options.dilation != 1) s += ", dilation=" + one_str(options.dilation);
  if (options.groups != 1) s += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace ember::nn
