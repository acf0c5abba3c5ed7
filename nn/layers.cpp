#include "nn/layers.h"

#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "nn/conv.h"
#include "nn/init.h"

namespace ember::nn {

Conv2dPadding::Conv2dPadding(std::string_view name) : Pair2(0) {
  if (name == "same") {
    mode = Mode::same;
  } else if (name == "valid") {
    mode = Mode::valid;
  } else {
    fail<ValueError>("Conv2d", "padding must be sizes, 'same' or 'valid', got '", std::string(name),
                     "'");
  }
}

namespace {
std::string fmt_double(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
const char* py_bool(bool b) { return b ? "True" : "False"; }

// PyTorch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) on the weight, which is
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
void default_init(Tensor& weight, Tensor& bias) {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(weight);
    double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}
}  // namespace

Linear::Linear(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  if (in < 0 || out < 0)
    fail<ValueError>("Linear", "features must be >= 0, got ", in, " and ", out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Linear::reset_parameters() { default_init(weight, bias); }

Tensor Linear::forward(const Tensor& x) { return F::linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) +
         ", out_features=" + std::to_string(out_features) + ", bias=" + py_bool(bias.defined());
}

Conv2d::Conv2d(int64_t in, int64_t out, Pair2 k, Conv2dOptions o)
    : in_channels(in), out_channels(out), kernel_size(k), options(o) {
  if (o.groups <= 0 || in % o.groups != 0 || out % o.groups != 0)
    fail<ValueError>("Conv2d", "in_channels ", in, " and out_channels ", out,
                     " must be divisible by groups ", o.groups);
  if (k.h <= 0 || k.w <= 0)
    fail<ValueError>("Conv2d", "kernel_size must be positive, got (", k.h, ", ", k.w, ")");
  detail::check_conv2d_padding(o);
  weight = register_parameter("weight", empty({out, in / o.groups, k.h, k.w}));
  if (o.bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Conv2d::reset_parameters() { default_init(weight, bias); }

Conv2dParams Conv2d::params() const {
  return {.stride_h = options.stride.h,
          .stride_w = options.stride.w,
          .pad_h = options.padding.h,
          .pad_w = options.padding.w,
          .dilation_h = options.dilation.h,
          .dilation_w = options.dilation.w,
          .groups = options.groups};
}

Tensor Conv2d::forward(const Tensor& x) {
  return detail::conv2d_padded(x, weight, bias, options, kernel_size);
}

std::string Conv2d::extra_repr() const {
  auto pair = [](Pair2 p) { return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")"; };
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + pair(kernel_size) + ", stride=" + pair(options.stride);
  if (options.padding.mode != Conv2dPadding::Mode::sizes)
    s += std::string(", padding=") +
         (options.padding.mode == Conv2dPadding::Mode::same ? "same" : "valid");
  else if (options.padding.h != 0 || options.padding.w != 0)
    s += ", padding=" + pair(options.padding);
  if (options.dilation.h != 1 || options.dilation.w != 1)
    s += ", dilation=" + pair(options.dilation);
  if (options.groups != 1) s += ", groups=" + std::to_string(options.groups);
  if (!bias.defined()) s += ", bias=False";
  if (options.padding_mode != "zeros") s += ", padding_mode=" + options.padding_mode;
  return s;
}

Embedding::Embedding(int64_t num, int64_t dim, std::optional<int64_t> pad)
    : num_embeddings(num), embedding_dim(dim), padding_idx(pad) {
  if (pad && (*pad < -num || *pad >= num))
    fail<IndexError>("Embedding", "padding_idx ", *pad, " is out of range for ", num,
                     " embeddings");
  if (pad && *pad < 0) padding_idx = *pad + num;
  weight = register_parameter("weight", empty({num, dim}));
  init::normal_(weight);
  if (padding_idx) {
    NoGradGuard no_grad;
    weight.narrow(0, *padding_idx, 1).zero_();
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  return F::embedding(indices, weight, padding_idx);
}

std::string Embedding::extra_repr() const {
  std::string s = std::to_string(num_embeddings) + ", " + std::to_string(embedding_dim);
  if (padding_idx) s += ", padding_idx=" + std::to_string(*padding_idx);
  return s;
}

LayerNorm::LayerNorm(Shape shape, double e, bool affine, bool with_bias)
    : normalized_shape(std::move(shape)), eps(e) {
  if (affine) {
    weight = register_parameter("weight", ones(normalized_shape));
    if (with_bias) bias = register_parameter("bias", zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  return F::layer_norm(x, normalized_shape, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  std::string s = "(";
  for (size_t i = 0; i < normalized_shape.size(); ++i)
    s += std::to_string(normalized_shape[i]) + ",";
  if (normalized_shape.size() > 1) s.pop_back();
  return s + "), eps=" + fmt_double(eps) + ", elementwise_affine=" + py_bool(weight.defined());
}

Dropout::Dropout(double prob) : p(prob) {
  if (!(p >= 0.0 && p <= 1.0))
    fail<ValueError>("Dropout", "probability must be in [0, 1], got ", p);
}

std::string Dropout::extra_repr() const { return "p=" + fmt_double(p) + ", inplace=False"; }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

}  // namespace ember::nn
