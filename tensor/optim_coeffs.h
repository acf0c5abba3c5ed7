// The per-tensor scalars of the fused RMSprop/Adagrad/NAdam/RAdam steps that depend on a
// parameter's step count: computed once per tensor on the host in f64 (torch.optim does
// the same in Python floats), so every backend's kernel sees the same values.
#pragma once

#include <cstdint>

#include "tensor/backend.h"

namespace ember {

// Adagrad's decayed learning rate lr / (1 + (step - 1) lr_decay).
double adagrad_clr(const AdagradStepParams& p, int64_t step);

// NAdam's momentum coefficient mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)).
double nadam_mu(const NadamStepParams& p, int64_t step);

// One NAdam step: den = sqrt(v) * inv_bc2_sqrt + eps;
//   p -= grad_coef * g / den + avg_coef * m / den
// with grad_coef = lr (1 - mu_t) / (1 - mu_product) and avg_coef = lr mu_{t+1} /
// (1 - mu_product mu_{t+1}), mu_product = mu_1 ... mu_t.
struct NadamCoeffs {
  double inv_bc2_sqrt, grad_coef, avg_coef;
};
NadamCoeffs nadam_coeffs(const NadamStepParams& p, int64_t step, double mu_product);

// One RAdam step: p -= step_size * m * (rectified ? adaptive / (sqrt(v) + eps) : 1) with
// step_size = lr / (1 - beta1^t), and while rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
// > 5 (rho_inf = 2 / (1 - beta2) - 1) adaptive = r_t sqrt(1 - beta2^t), r_t =
// sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
struct RadamCoeffs {
  double step_size, adaptive;
  bool rectified;
};
RadamCoeffs radam_coeffs(const RadamStepParams& p, int64_t step);

}  // namespace ember
