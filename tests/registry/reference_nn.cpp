#include "registry/reference_nn.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "tensor/philox.h"

namespace ember::ref {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

size_t at(int64_t i) { return static_cast<size_t>(i); }

// Visits every (output pixel, weight tap) pair of a convolution that lands inside the
// input: f(x offset, w offset, out offset). The three primitives are this loop with a
// different accumulation.
template <typename F>
void conv_taps(const Shape& xs, const Shape& ws, const Conv2dParams& p, F&& f) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3];
  const int64_t K = ws[0], Cg = ws[1], R = ws[2], S = ws[3];
  const int64_t P = (H + 2 * p.pad_h - p.dilation_h * (R - 1) - 1) / p.stride_h + 1;
  const int64_t Q = (W + 2 * p.pad_w - p.dilation_w * (S - 1) - 1) / p.stride_w + 1;
  const int64_t Kg = K / p.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;
      for (int64_t oh = 0; oh < P; ++oh)
        for (int64_t ow = 0; ow < Q; ++ow) {
          const int64_t o = ((n * K + k) * P + oh) * Q + ow;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < R; ++r) {
              const int64_t h = oh * p.stride_h - p.pad_h + r * p.dilation_h;
              if (h < 0 || h >= H) continue;
              for (int64_t s = 0; s < S; ++s) {
                const int64_t w = ow * p.stride_w - p.pad_w + s * p.dilation_w;
                if (w < 0 || w >= W) continue;
                f(((n * C + c0 + c) * H + h) * W + w, ((k * Cg + c) * R + r) * S + s, o);
              }
            }
        }
    }
}

Shape conv_out_shape(const Shape& xs, const Shape& ws, const Conv2dParams& p) {
  return {xs[0], ws[0], (xs[2] + 2 * p.pad_h - p.dilation_h * (ws[2] - 1) - 1) / p.stride_h + 1,
          (xs[3] + 2 * p.pad_w - p.dilation_w * (ws[3] - 1) - 1) / p.stride_w + 1};
}
}  // namespace

// ---- convolution -----------------------------------------------------------------------

RefTensor conv2d(const RefTensor& x, const RefTensor& w, const RefTensor* bias,
                 const Conv2dParams& p) {
  RefTensor out = filled(conv_out_shape(x.shape, w.shape, p), 0.0);
  conv_taps(x.shape, w.shape, p, [&](int64_t xi, int64_t wi, int64_t oi) {
    out.data[at(oi)] += x.data[at(xi)] * w.data[at(wi)];
  });
  if (bias) {
    const int64_t K = out.shape[1], PQ = out.shape[2] * out.shape[3];
    for (int64_t i = 0; i < out.numel(); ++i) out.data[at(i)] += bias->data[at((i / PQ) % K)];
  }
  return out;
}

RefTensor conv2d_backward_input(const Shape& x_shape, const RefTensor& grad_out, const RefTensor& w,
                                const Conv2dParams& p) {
  RefTensor gx = filled(x_shape, 0.0);
  conv_taps(x_shape, w.shape, p, [&](int64_t xi, int64_t wi, int64_t oi) {
    gx.data[at(xi)] += grad_out.data[at(oi)] * w.data[at(wi)];
  });
  return gx;
}

RefTensor conv2d_backward_weight(const Shape& w_shape, const RefTensor& grad_out,
                                 const RefTensor& x, const Conv2dParams& p) {
  RefTensor gw = filled(w_shape, 0.0);
  conv_taps(x.shape, w_shape, p, [&](int64_t xi, int64_t wi, int64_t oi) {
    gw.data[at(wi)] += grad_out.data[at(oi)] * x.data[at(xi)];
  });
  return gw;
}

// ---- attention ---------------------------------------------------------------------------

AttentionResult attention(const RefTensor& q, const RefTensor& k, const RefTensor& v,
                          const RefTensor* mask, const AttentionParams& p,
                          const RefTensor* grad_out) {
  const int64_t B = q.shape[0], H = q.shape[1], Tq = q.shape[2], D = q.shape[3];
  const int64_t Tk = k.shape[2], Dv = v.shape[3];
  AttentionResult r{filled({B, H, Tq, Dv}, 0.0), filled({B, H, Tq}, 0.0), {}, {}, {}};
  if (grad_out) {
    r.dq = filled(q.shape, 0.0);
    r.dk = filled(k.shape, 0.0);
    r.dv = filled(v.shape, 0.0);
  }
  const uint64_t threshold = philox::dropout_threshold(p.dropout_p);
  const double keep_scale = p.dropout_p < 1.0 ? 1.0 / (1.0 - p.dropout_p) : 0.0;
  std::vector<double> s(at(Tk)), prob(at(Tk)), z(at(Tk)), dp(at(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t qi = ((b * H + h) * Tq + i) * D, oi = ((b * H + h) * Tq + i) * Dv;
        double mx = -kInf;
        for (int64_t j = 0; j < Tk; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < D; ++d)
            acc += q.data[at(qi + d)] * k.data[at(((b * H + h) * Tk + j) * D + d)];
          acc *= p.scale;
          if (mask) acc += bget(*mask, {b, h, i, j});
          if (p.causal && j > i) acc = -kInf;
          s[at(j)] = acc;
          mx = std::max(mx, acc);
          const uint64_t lin = static_cast<uint64_t>(((b * H + h) * Tq + i) * Tk + j);
          z[at(j)] =
              p.dropout_p > 0
                  ? (philox::dropout_keep(p.seed, p.offset, lin, threshold) ? keep_scale : 0.0)
                  : 1.0;
        }
        const int64_t li = (b * H + h) * Tq + i;
        if (mx == -kInf) {  // no finite score: softmax of the row is NaN
          r.lse.data[at(li)] = -kInf;
          for (int64_t d = 0; d < Dv; ++d) r.out.data[at(oi + d)] = kNaN;
          continue;
        }
        double sum = 0;
        for (int64_t j = 0; j < Tk; ++j) sum += std::exp(s[at(j)] - mx);
        const double lse = mx + std::log(sum);
        r.lse.data[at(li)] = lse;
        for (int64_t j = 0; j < Tk; ++j) {
          prob[at(j)] = std::exp(s[at(j)] - lse);
          for (int64_t d = 0; d < Dv; ++d)
            r.out.data[at(oi + d)] +=
                prob[at(j)] * z[at(j)] * v.data[at(((b * H + h) * Tk + j) * Dv + d)];
        }
        if (!grad_out) continue;
        // dv_j += P_ij Z_ij g_i; dP_ij = Z_ij g_i . v_j; dS = P (dP - sum_j P dP);
        // dq_i = scale sum_j dS_ij k_j; dk_j += scale dS_ij q_i.
        double delta = 0;
        for (int64_t j = 0; j < Tk; ++j) {
          const int64_t vj = ((b * H + h) * Tk + j) * Dv;
          double gv = 0;
          for (int64_t d = 0; d < Dv; ++d) {
            gv += grad_out->data[at(oi + d)] * v.data[at(vj + d)];
            r.dv.data[at(vj + d)] += prob[at(j)] * z[at(j)] * grad_out->data[at(oi + d)];
          }
          dp[at(j)] = z[at(j)] * gv;
          delta += prob[at(j)] * dp[at(j)];
        }
        for (int64_t j = 0; j < Tk; ++j) {
          const double ds = prob[at(j)] * (dp[at(j)] - delta) * p.scale;
          const int64_t kj = ((b * H + h) * Tk + j) * D;
          for (int64_t d = 0; d < D; ++d) {
            r.dq.data[at(qi + d)] += ds * k.data[at(kj + d)];
            r.dk.data[at(kj + d)] += ds * q.data[at(qi + d)];
          }
        }
      }
  return r;
}

// ---- cross entropy ------------------------------------------------------------------------

std::pair<RefTensor, RefTensor> cross_entropy_rows(const RefTensor& logits, const RefTensor& target,
                                                   const RefTensor* weight,
                                                   const CrossEntropyParams& p) {
  const int64_t R = logits.shape[0], C = logits.shape[1];
  RefTensor loss = filled({R}, 0.0), lse = filled({R}, 0.0);
  const double eps = p.label_smoothing;
  for (int64_t r = 0; r < R; ++r) {
    const double* z = &logits.data[at(r * C)];
    double mx = -kInf;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, z[c]);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(z[c] - mx);
    const double l = mx + std::log(sum);
    lse.data[at(r)] = l;
    const auto t = static_cast<int64_t>(target.data[at(r)]);
    if (t == p.ignore_index) continue;
    auto w = [&](int64_t c) { return weight ? weight->data[at(c)] : 1.0; };
    double smooth = 0;
    for (int64_t c = 0; c < C; ++c) smooth += w(c) * (l - z[c]);
    loss.data[at(r)] = (1 - eps) * w(t) * (l - z[t]) + eps / static_cast<double>(C) * smooth;
  }
  return {loss, lse};
}

RefTensor cross_entropy_rows_backward(const RefTensor& grad_loss, const RefTensor& logits,
                                      const RefTensor& target, const RefTensor* weight,
                                      const CrossEntropyParams& p) {
  const int64_t R = logits.shape[0], C = logits.shape[1];
  const RefTensor lse = cross_entropy_rows(logits, target, weight, p).second;
  RefTensor g = filled(logits.shape, 0.0);
  const double eps = p.label_smoothing;
  for (int64_t r = 0; r < R; ++r) {
    const auto t = static_cast<int64_t>(target.data[at(r)]);
    if (t == p.ignore_index) continue;
    auto w = [&](int64_t c) { return weight ? weight->data[at(c)] : 1.0; };
    double wsum = 0;
    for (int64_t c = 0; c < C; ++c) wsum += w(c);
    for (int64_t c = 0; c < C; ++c) {
      const double sm = std::exp(logits.data[at(r * C + c)] - lse.data[at(r)]);
      const double d = (1 - eps) * w(t) * (sm - (c == t ? 1.0 : 0.0)) +
                       eps / static_cast<double>(C) * (sm * wsum - w(c));
      g.data[at(r * C + c)] = grad_loss.data[at(r)] * d;
    }
  }
  return g;
}

RefTensor cross_entropy(const RefTensor& input, const RefTensor& target, bool soft_target,
                        const RefTensor* weight, int64_t ignore_index, double label_smoothing,
                        int reduction) {
  // (C) -> (1, C); (N, C, d...) -> rows (N d..., C) in (n, d...) order.
  const int64_t cdim = input.dim() == 1 ? 0 : 1;
  const int64_t C = input.shape[at(cdim)];
  const int64_t N = input.dim() == 1 ? 1 : input.shape[0];
  const int64_t inner = input.numel() / std::max<int64_t>(N * C, 1);
  const int64_t rows = N * inner;
  RefTensor z = filled({rows, C}, 0.0), soft = filled({rows, C}, 0.0), t = filled({rows}, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t d = 0; d < inner; ++d) {
        const int64_t src = (n * C + c) * inner + d, row = n * inner + d;
        z.data[at(row * C + c)] = input.data[at(src)];
        if (soft_target) soft.data[at(row * C + c)] = target.data[at(src)];
      }
  for (int64_t row = 0; row < rows && !soft_target; ++row) t.data[at(row)] = target.data[at(row)];
  Shape loss_shape = input.shape;
  loss_shape.erase(loss_shape.begin() + cdim);
  RefTensor loss = filled({rows}, 0.0);
  double denom = 0;
  auto w = [&](int64_t c) { return weight ? weight->data[at(c)] : 1.0; };
  if (soft_target) {
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -kInf, sum = 0;
      for (int64_t c = 0; c < C; ++c) mx = std::max(mx, z.data[at(r * C + c)]);
      for (int64_t c = 0; c < C; ++c) sum += std::exp(z.data[at(r * C + c)] - mx);
      const double lse = mx + std::log(sum);
      double acc = 0;
      for (int64_t c = 0; c < C; ++c) {
        const double pc = soft.data[at(r * C + c)] * (1 - label_smoothing) +
                          label_smoothing / static_cast<double>(C);
        acc -= w(c) * pc * (z.data[at(r * C + c)] - lse);
      }
      loss.data[at(r)] = acc;
    }
    denom = static_cast<double>(rows);
  } else {
    loss = cross_entropy_rows(z, t, weight, {ignore_index, label_smoothing}).first;
    for (int64_t r = 0; r < rows; ++r) {
      const auto tr = static_cast<int64_t>(t.data[at(r)]);
      if (tr != ignore_index) denom += w(tr);
    }
  }
  if (reduction == 0) return reshape(loss, loss_shape);
  double total = 0;
  for (double x : loss.data) total += x;
  return filled({}, reduction == 2 ? total : total / denom);
}

// ---- normalization and embedding ---------------------------------------------------------

RefTensor layer_norm(const RefTensor& x, int64_t norm_dims, const RefTensor* weight,
                     const RefTensor* bias, double eps) {
  int64_t M = 1;
  for (int64_t d = x.dim() - norm_dims; d < x.dim(); ++d) M *= x.shape[at(d)];
  RefTensor y = filled(x.shape, 0.0);
  for (int64_t row = 0; row * M < x.numel(); ++row) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < M; ++i) mean += x.data[at(row * M + i)];
    mean /= static_cast<double>(M);
    for (int64_t i = 0; i < M; ++i) var += std::pow(x.data[at(row * M + i)] - mean, 2);
    var /= static_cast<double>(M);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < M; ++i) {
      double v = (x.data[at(row * M + i)] - mean) * inv;
      if (weight) v *= weight->data[at(i)];
      if (bias) v += bias->data[at(i)];
      y.data[at(row * M + i)] = v;
    }
  }
  return y;
}

LayerNormGrads layer_norm_backward(const RefTensor& x, int64_t norm_dims, const RefTensor* weight,
                                   const RefTensor& grad_out, double eps) {
  // dx = r (gw - mean(gw) - xhat mean(gw xhat)) with gw = g w, xhat = (x - mean) r,
  // r = 1 / sqrt(var + eps); dweight = sum over rows of g xhat, dbias = sum of g.
  int64_t M = 1;
  for (int64_t d = x.dim() - norm_dims; d < x.dim(); ++d) M *= x.shape[at(d)];
  const Shape normalized(x.shape.end() - norm_dims, x.shape.end());
  LayerNormGrads r{filled(x.shape, 0.0), filled(normalized, 0.0), filled(normalized, 0.0)};
  std::vector<double> xhat(at(M)), gw(at(M));
  for (int64_t row = 0; row * M < x.numel(); ++row) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < M; ++i) mean += x.data[at(row * M + i)];
    mean /= static_cast<double>(M);
    for (int64_t i = 0; i < M; ++i) var += std::pow(x.data[at(row * M + i)] - mean, 2);
    var /= static_cast<double>(M);
    const double inv = 1.0 / std::sqrt(var + eps);
    double mean_gw = 0, mean_gwx = 0;
    for (int64_t i = 0; i < M; ++i) {
      const double g = grad_out.data[at(row * M + i)];
      xhat[at(i)] = (x.data[at(row * M + i)] - mean) * inv;
      gw[at(i)] = g * (weight ? weight->data[at(i)] : 1.0);
      mean_gw += gw[at(i)] / static_cast<double>(M);
      mean_gwx += gw[at(i)] * xhat[at(i)] / static_cast<double>(M);
      r.dweight.data[at(i)] += g * xhat[at(i)];
      r.dbias.data[at(i)] += g;
    }
    for (int64_t i = 0; i < M; ++i)
      r.dx.data[at(row * M + i)] = inv * (gw[at(i)] - mean_gw - xhat[at(i)] * mean_gwx);
  }
  return r;
}

RefTensor embedding(const RefTensor& indices, const RefTensor& weight) {
  const int64_t dim = weight.shape[1];
  Shape shape = indices.shape;
  shape.push_back(dim);
  RefTensor out = filled(shape, 0.0);
  for (int64_t i = 0; i < indices.numel(); ++i) {
    const auto row = static_cast<int64_t>(indices.data[at(i)]);
    for (int64_t d = 0; d < dim; ++d) out.data[at(i * dim + d)] = weight.data[at(row * dim + d)];
  }
  return out;
}

RefTensor embedding_backward(const RefTensor& indices, const RefTensor& grad_out, int64_t num,
                             std::optional<int64_t> padding_idx) {
  const int64_t dim = grad_out.shape.back();
  const int64_t pad = padding_idx ? (*padding_idx < 0 ? *padding_idx + num : *padding_idx) : -1;
  RefTensor gw = filled({num, dim}, 0.0);
  for (int64_t i = 0; i < indices.numel(); ++i) {
    const auto row = static_cast<int64_t>(indices.data[at(i)]);
    if (row == pad) continue;
    for (int64_t d = 0; d < dim; ++d) gw.data[at(row * dim + d)] += grad_out.data[at(i * dim + d)];
  }
  return gw;
}

// ---- optimizer steps ----------------------------------------------------------------------

void adam_step(std::vector<double>& param, const std::vector<double>& grad,
               std::vector<double>& exp_avg, std::vector<double>& exp_avg_sq,
               std::vector<double>* max_exp_avg_sq, int64_t step, const AdamStepParams& p) {
  const double bc1 = 1 - std::pow(p.beta1, static_cast<double>(step));
  const double bc2 = 1 - std::pow(p.beta2, static_cast<double>(step));
  for (size_t i = 0; i < param.size(); ++i) {
    double g = p.maximize ? -grad[i] : grad[i];
    if (p.decoupled_weight_decay) {
      param[i] *= 1 - p.lr * p.weight_decay;
    } else {
      g += p.weight_decay * param[i];
    }
    exp_avg[i] = p.beta1 * exp_avg[i] + (1 - p.beta1) * g;
    exp_avg_sq[i] = p.beta2 * exp_avg_sq[i] + (1 - p.beta2) * g * g;
    double v = exp_avg_sq[i];
    if (max_exp_avg_sq) {
      (*max_exp_avg_sq)[i] = std::max((*max_exp_avg_sq)[i], v);
      v = (*max_exp_avg_sq)[i];
    }
    param[i] -= p.lr / bc1 * exp_avg[i] / (std::sqrt(v) / std::sqrt(bc2) + p.eps);
  }
}

void sgd_step(std::vector<double>& param, const std::vector<double>& grad, std::vector<double>* buf,
              bool first_step, const SgdStepParams& p) {
  for (size_t i = 0; i < param.size(); ++i) {
    double d = (p.maximize ? -grad[i] : grad[i]) + p.weight_decay * param[i];
    if (buf) {
      double& b = (*buf)[i];
      b = first_step ? d : p.momentum * b + (1 - p.dampening) * d;
      d = p.nesterov ? d + p.momentum * b : b;
    }
    param[i] -= p.lr * d;
  }
}

double multi_norm(const std::vector<RefTensor>& xs, double norm_type) {
  const bool inf = std::isinf(norm_type);
  double total = 0;
  for (const RefTensor& x : xs)
    for (double e : x.data) {
      if (std::isnan(e)) return kNaN;
      total = inf ? std::max(total, std::fabs(e)) : total + std::pow(std::fabs(e), norm_type);
    }
  return total;
}

}  // namespace ember::ref
