#include "tensor/optim_coeffs.h"

#include <cmath>

namespace ember {

double adagrad_clr(const AdagradStepParams& p, int64_t step) {
  return p.lr / (1.0 + static_cast<double>(step - 1) * p.lr_decay);
}

double nadam_mu(const NadamStepParams& p, int64_t step) {
  return p.beta1 * (1.0 - 0.5 * std::pow(0.96, static_cast<double>(step) * p.momentum_decay));
}

NadamCoeffs nadam_coeffs(const NadamStepParams& p, int64_t step, double mu_product) {
  const double mu = nadam_mu(p, step), mu_next = nadam_mu(p, step + 1);
  const double bc2 = 1.0 - std::pow(p.beta2, static_cast<double>(step));
  return {1.0 / std::sqrt(bc2), p.lr * (1.0 - mu) / (1.0 - mu_product),
          p.lr * mu_next / (1.0 - mu_product * mu_next)};
}

RadamCoeffs radam_coeffs(const RadamStepParams& p, int64_t step) {
  const auto t = static_cast<double>(step);
  const double beta2_t = std::pow(p.beta2, t);
  const double bc1 = 1.0 - std::pow(p.beta1, t), bc2 = 1.0 - beta2_t;
  const double rho_inf = 2.0 / (1.0 - p.beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * beta2_t / bc2;
  RadamCoeffs c{p.lr / bc1, 0.0, rho_t > 5.0};
  if (c.rectified) {
    const double rect = std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                  ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t));
    c.adaptive = rect * std::sqrt(bc2);
  }
  return c;
}

}  // namespace ember
