#include "nn/init.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"

namespace ember::nn::init {

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& w) {
  if (w.dim() < 2)
    fail<ShapeError>("calculate_fan_in_and_fan_out",
                     "needs a tensor with at least 2 dims, got shape ", str(w.sizes()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < w.dim(); ++d) receptive *= w.size(d);
  return {w.size(1) * receptive, w.size(0) * receptive};
}

double calculate_gain(std::string_view nonlinearity, double param) {
  if (nonlinearity == "linear" || nonlinearity == "sigmoid" || nonlinearity.starts_with("conv"))
    return 1.0;
  if (nonlinearity == "tanh") return 5.0 / 3.0;
  if (nonlinearity == "relu") return std::sqrt(2.0);
  if (nonlinearity == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nonlinearity == "selu") return 0.75;
  fail<ValueError>("calculate_gain", "unsupported nonlinearity '", nonlinearity, "'");
}

Tensor& uniform_(Tensor& t, double a, double b) {
  NoGradGuard no_grad;
  t.uniform_(a, b);
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std) {
  NoGradGuard no_grad;
  t.normal_(mean, std);
  return t;
}

Tensor& constant_(Tensor& t, double value) {
  NoGradGuard no_grad;
  t.fill_(value);
  return t;
}
Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& xavier_uniform_(Tensor& t, double gain) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return uniform_(t, -bound, bound);
}

Tensor& xavier_normal_(Tensor& t, double gain) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return normal_(t, 0.0, gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)));
}

namespace {
double kaiming_std(const Tensor& t, double a, FanMode mode, std::string_view nonlinearity) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  int64_t fan = mode == FanMode::fan_in ? fan_in : fan_out;
  if (fan == 0)
    fail<ValueError>("kaiming init", "cannot initialise a tensor with zero fan, shape ",
                     str(t.sizes()));
  return calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
}
}  // namespace

Tensor& kaiming_uniform_(Tensor& t, double a, FanMode mode, std::string_view nonlinearity) {
  double bound = std::sqrt(3.0) * kaiming_std(t, a, mode, nonlinearity);
  return uniform_(t, -bound, bound);
}

Tensor& kaiming_normal_(Tensor& t, double a, FanMode mode, std::string_view nonlinearity) {
  return normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity));
}

Tensor& trunc_normal_(Tensor& t, double mean, double std, double a, double b) {
  if (!(a < b)) fail<ValueError>("trunc_normal_", "needs a < b, got ", a, " and ", b);
  NoGradGuard no_grad;
  Tensor out = empty_like(t).to(Device::cpu(), DType::f64);
  out.normal_(mean, std);
  std::vector<double> v = out.to_vector<double>();
  for (int tries = 0; tries < 1000; ++tries) {
    std::vector<size_t> bad;
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i] < a || v[i] > b) bad.push_back(i);
    if (bad.empty()) break;
    Tensor redraw = randn({static_cast<int64_t>(bad.size())}, {.dtype = DType::f64});
    std::vector<double> r = redraw.to_vector<double>();
    for (size_t j = 0; j < bad.size(); ++j) v[bad[j]] = mean + std * r[j];
  }
  for (double& x : v) x = std::min(std::max(x, a), b);  // a far-out window: clamp the stragglers
  t.copy_(from_vector(v, t.sizes()));
  return t;
}

}  // namespace ember::nn::init
