// The f64 reference of what NAdam and RAdam share with Adam (torch's algorithms), for the
// registry's step cases and the optimizer trajectory tests alike.
#pragma once

namespace ember::cases {

struct AdamLikeRef {
  double lr, beta1, beta2, weight_decay;
  bool decoupled, maximize;
};

// One element: the gradient negated for maximize and given L2 weight decay, or the weight
// shrunk first (decoupled); then the moments, the first a lerp toward g as torch computes
// it, the second a moving average of g^2. Returns g.
inline double adam_like_moments(const AdamLikeRef& r, double& w, double grad, double& m,
                                double& v) {
  double g = r.maximize ? -grad : grad;
  if (r.decoupled) {
    w *= 1 - r.lr * r.weight_decay;
  } else {
    g += r.weight_decay * w;
  }
  m += (1 - r.beta1) * (g - m);
  v = r.beta2 * v + (1 - r.beta2) * g * g;
  return g;
}

}  // namespace ember::cases
