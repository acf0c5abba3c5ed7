#include "nn/activation.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ember::nn {

namespace {

// A double as Python's repr prints it: the shortest digits that read back the same, and
// ".0" on whole numbers (PyTorch's extra_repr shows alpha=1.0, not alpha=1).
std::string py_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  int digits = 1;  // the fewest significant digits that read back as v
  for (; digits < 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  const double mag = std::fabs(v);
  if (mag == 0.0 || (mag >= 1e-4 && mag < 1e16)) {  // Python's positional range
    const int exponent = static_cast<int>(std::floor(std::log10(mag == 0.0 ? 1.0 : mag)));
    const int decimals = digits - 1 - exponent;
    std::snprintf(buf, sizeof buf, "%.*f", decimals > 0 ? decimals : 0, v);
  } else {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

std::string LeakyReLU::extra_repr() const { return "negative_slope=" + py_float(negative_slope); }

std::string ELU::extra_repr() const { return "alpha=" + py_float(alpha); }

Softplus::Softplus(double b, double t) : beta(b), threshold(t) {
  if (beta == 0.0) fail<ValueError>("Softplus", "beta must be nonzero, got 0");
}
std::string Softplus::extra_repr() const {
  return "beta=" + py_float(beta) + ", threshold=" + py_float(threshold);
}

PReLU::PReLU(int64_t n, double init) : num_parameters(n) {
  if (n < 1) fail<ValueError>("PReLU", "num_parameters must be at least 1, got ", n);
  weight = register_parameter("weight", full({n}, init));
}
std::string PReLU::extra_repr() const { return "num_parameters=" + std::to_string(num_parameters); }

std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim); }

}  // namespace ember::nn
