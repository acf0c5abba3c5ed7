#include "registry/reference_norm.h"

#include <cmath>
#include <tuple>
#include <utility>

namespace ember::ref {

namespace {

size_t at(int64_t i) { return static_cast<size_t>(i); }

struct Ncs {
  int64_t N, C, S;
  size_t operator()(int64_t n, int64_t c, int64_t s) const { return at((n * C + c) * S + s); }
};
Ncs ncs(const RefTensor& x) {
  const int64_t N = x.shape[0], C = x.shape[1];
  return {N, C, N * C == 0 ? 0 : x.numel() / (N * C)};
}

double value_or(const RefTensor* t, int64_t i, double v) { return t ? t->data[at(i)] : v; }

// Mean and biased variance of the values at offsets f(0..count) of x.
template <typename F>
std::pair<double, double> moments(const RefTensor& x, int64_t count, F f) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < count; ++i) mean += x.data[f(i)];
  mean /= static_cast<double>(count);
  for (int64_t i = 0; i < count; ++i) var += std::pow(x.data[f(i)] - mean, 2);
  return {mean, var / static_cast<double>(count)};
}

}  // namespace

BatchNormResult batch_norm(const RefTensor& x, const RefTensor* weight, const RefTensor* bias,
                           const RefTensor* running_mean, const RefTensor* running_var,
                           bool training, double factor, double eps) {
  const Ncs d = ncs(x);
  const int64_t M = d.N * d.S;
  BatchNormResult r{filled(x.shape, 0.0), running_mean ? *running_mean : RefTensor{},
                    running_var ? *running_var : RefTensor{}};
  for (int64_t c = 0; c < d.C; ++c) {
    double mean, var;
    if (training) {
      std::tie(mean, var) = moments(x, M, [&](int64_t i) { return d(i / d.S, c, i % d.S); });
      if (running_mean) {
        r.running_mean.data[at(c)] = (1 - factor) * running_mean->data[at(c)] + factor * mean;
        r.running_var.data[at(c)] = (1 - factor) * running_var->data[at(c)] +
                                    factor * var * static_cast<double>(M) / (M - 1.0);
      }
    } else {
      mean = running_mean->data[at(c)];
      var = running_var->data[at(c)];
    }
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s)
        r.y.data[d(n, c, s)] =
            (x.data[d(n, c, s)] - mean) * inv * value_or(weight, c, 1.0) + value_or(bias, c, 0.0);
  }
  return r;
}

NormGrads batch_norm_backward(const RefTensor& x, const RefTensor* weight,
                              const RefTensor& grad_out, bool training,
                              const RefTensor* running_mean, const RefTensor* running_var,
                              double eps) {
  // dx = w inv (g - mean(g) - xhat mean(g xhat)) in training, w inv g in eval;
  // dweight = sum g xhat, dbias = sum g, over (N, S).
  const Ncs d = ncs(x);
  const auto M = static_cast<double>(d.N * d.S);
  NormGrads r{filled(x.shape, 0.0), filled({d.C}, 0.0), filled({d.C}, 0.0)};
  for (int64_t c = 0; c < d.C; ++c) {
    double mean, var;
    if (training) {
      std::tie(mean, var) =
          moments(x, d.N * d.S, [&](int64_t i) { return d(i / d.S, c, i % d.S); });
    } else {
      mean = running_mean->data[at(c)];
      var = running_var->data[at(c)];
    }
    const double inv = 1.0 / std::sqrt(var + eps), w = value_or(weight, c, 1.0);
    double sg = 0, sgx = 0;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s) {
        const double g = grad_out.data[d(n, c, s)];
        sg += g;
        sgx += g * (x.data[d(n, c, s)] - mean) * inv;
      }
    r.dweight.data[at(c)] = sgx;
    r.dbias.data[at(c)] = sg;
    for (int64_t n = 0; n < d.N; ++n)
      for (int64_t s = 0; s < d.S; ++s) {
        const double g = grad_out.data[d(n, c, s)];
        const double xhat = (x.data[d(n, c, s)] - mean) * inv;
        r.dx.data[d(n, c, s)] = training ? w * inv * (g - sg / M - xhat * sgx / M) : w * inv * g;
      }
  }
  return r;
}

RefTensor group_norm(const RefTensor& x, int64_t groups, const RefTensor* weight,
                     const RefTensor* bias, double eps) {
  const Ncs d = ncs(x);
  const int64_t Cg = d.C / groups, K = Cg * d.S;
  RefTensor y = filled(x.shape, 0.0);
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      auto off = [&](int64_t i) { return d(n, g * Cg + i / d.S, i % d.S); };
      auto [mean, var] = moments(x, K, off);
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t i = 0; i < K; ++i) {
        const int64_t c = g * Cg + i / d.S;
        y.data[off(i)] =
            (x.data[off(i)] - mean) * inv * value_or(weight, c, 1.0) + value_or(bias, c, 0.0);
      }
    }
  return y;
}

NormGrads group_norm_backward(const RefTensor& x, int64_t groups, const RefTensor* weight,
                              const RefTensor& grad_out, double eps) {
  // Per (n, group), gw = g w: dx = inv (gw - mean(gw) - xhat mean(gw xhat));
  // dweight = sum_{n,s} g xhat, dbias = sum_{n,s} g.
  const Ncs d = ncs(x);
  const int64_t Cg = d.C / groups, K = Cg * d.S;
  NormGrads r{filled(x.shape, 0.0), filled({d.C}, 0.0), filled({d.C}, 0.0)};
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      auto off = [&](int64_t i) { return d(n, g * Cg + i / d.S, i % d.S); };
      auto [mean, var] = moments(x, K, off);
      const double inv = 1.0 / std::sqrt(var + eps);
      double mgw = 0, mgwx = 0;
      for (int64_t i = 0; i < K; ++i) {
        const int64_t c = g * Cg + i / d.S;
        const double go = grad_out.data[off(i)], xhat = (x.data[off(i)] - mean) * inv;
        const double gw = go * value_or(weight, c, 1.0);
        mgw += gw / static_cast<double>(K);
        mgwx += gw * xhat / static_cast<double>(K);
        r.dweight.data[at(c)] += go * xhat;
        r.dbias.data[at(c)] += go;
      }
      for (int64_t i = 0; i < K; ++i) {
        const int64_t c = g * Cg + i / d.S;
        const double xhat = (x.data[off(i)] - mean) * inv;
        const double gw = grad_out.data[off(i)] * value_or(weight, c, 1.0);
        r.dx.data[off(i)] = inv * (gw - mgw - xhat * mgwx);
      }
    }
  return r;
}

BatchNormResult instance_norm(const RefTensor& x, const RefTensor* weight, const RefTensor* bias,
                              const RefTensor& running_mean, const RefTensor& running_var,
                              double momentum, double eps) {
  const Ncs d = ncs(x);
  BatchNormResult r{filled(x.shape, 0.0), running_mean, running_var};
  for (int64_t c = 0; c < d.C; ++c) {
    double mean_sum = 0, var_sum = 0;
    for (int64_t n = 0; n < d.N; ++n) {
      auto off = [&](int64_t s) { return d(n, c, s); };
      auto [mean, var] = moments(x, d.S, off);
      mean_sum += mean;
      var_sum += var * static_cast<double>(d.S) / (d.S - 1.0);
      const double inv = 1.0 / std::sqrt(var + eps);
      for (int64_t s = 0; s < d.S; ++s)
        r.y.data[off(s)] =
            (x.data[off(s)] - mean) * inv * value_or(weight, c, 1.0) + value_or(bias, c, 0.0);
    }
    const auto N = static_cast<double>(d.N);
    r.running_mean.data[at(c)] =
        (1 - momentum) * running_mean.data[at(c)] + momentum * mean_sum / N;
    r.running_var.data[at(c)] = (1 - momentum) * running_var.data[at(c)] + momentum * var_sum / N;
  }
  return r;
}

}  // namespace ember::ref
