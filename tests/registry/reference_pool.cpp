#include "registry/reference_pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ember::ref {

namespace {

int64_t pooled(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d, bool ceil_mode) {
  const double span = static_cast<double>(in + 2 * pad - d * (k - 1) - 1) / static_cast<double>(s);
  auto out = static_cast<int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

// One output's window along one dim: the input rows it reads (in order) and its divisor
// extents.
struct Rows {
  std::vector<int64_t> rows;
  int64_t padded = 0;  // rows of the padded input (clipped to it): count_include_pad
};

Rows rows_of(int64_t i, int64_t in, int64_t out, int64_t k, int64_t s, int64_t pad, int64_t d,
             bool adaptive) {
  Rows r;
  if (adaptive) {
    const auto lo = static_cast<int64_t>(std::floor(static_cast<double>(i * in) / out));
    const auto hi = static_cast<int64_t>(std::ceil(static_cast<double>((i + 1) * in) / out));
    for (int64_t h = lo; h < hi; ++h) r.rows.push_back(h);
    r.padded = hi - lo;
    return r;
  }
  const int64_t start = i * s - pad;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t h = start + j * d;
    if (h >= 0 && h < in) r.rows.push_back(h);
  }
  r.padded = std::min(start + k, in + pad) - start;
  return r;
}

struct Plane {
  int64_t B, H, W;
};
Plane plane_of(const Shape& s) {
  const size_t n = s.size();
  return {n == 4 ? s[0] * s[1] : s[0], s[n - 2], s[n - 1]};
}

}  // namespace

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, int64_t out_h, int64_t out_w) {
  Shape o = x;
  const size_t n = x.size();
  const int64_t dh = p.mode == PoolMode::max ? p.dilation_h : 1;
  const int64_t dw = p.mode == PoolMode::max ? p.dilation_w : 1;
  o[n - 2] =
      p.adaptive ? out_h : pooled(x[n - 2], p.kernel_h, p.stride_h, p.pad_h, dh, p.ceil_mode);
  o[n - 1] =
      p.adaptive ? out_w : pooled(x[n - 1], p.kernel_w, p.stride_w, p.pad_w, dw, p.ceil_mode);
  return o;
}

RefTensor pool2d(const RefTensor& x, const Pool2dParams& p, int64_t out_h, int64_t out_w,
                 RefTensor* indices) {
  const Shape os = pool2d_output_shape(x.shape, p, out_h, out_w);
  const Plane g = plane_of(x.shape);
  const int64_t P = os[os.size() - 2], Q = os[os.size() - 1];
  const bool max = p.mode == PoolMode::max;
  const int64_t dh = max ? p.dilation_h : 1, dw = max ? p.dilation_w : 1;
  RefTensor y = filled(os, 0.0);
  if (indices) *indices = filled(os, 0.0);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t i = 0; i < P; ++i) {
      const Rows r = rows_of(i, g.H, P, p.kernel_h, p.stride_h, p.pad_h, dh, p.adaptive);
      for (int64_t j = 0; j < Q; ++j) {
        const Rows c = rows_of(j, g.W, Q, p.kernel_w, p.stride_w, p.pad_w, dw, p.adaptive);
        const int64_t o = (b * P + i) * Q + j;
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t at = r.rows.front() * g.W + c.rows.front();
        for (int64_t h : r.rows)
          for (int64_t w : c.rows) {
            const double v = x.data[static_cast<size_t>((b * g.H + h) * g.W + w)];
            sum += v;
            if (v > best || std::isnan(v)) best = v, at = h * g.W + w;
          }
        if (max) {
          y.data[static_cast<size_t>(o)] = best;
          if (indices) indices->data[static_cast<size_t>(o)] = static_cast<double>(at);
        } else {
          const auto n = static_cast<double>(r.rows.size() * c.rows.size());
          const double div = p.divisor_override > 0 ? static_cast<double>(p.divisor_override)
                             : p.count_include_pad  ? static_cast<double>(r.padded * c.padded)
                                                    : n;
          y.data[static_cast<size_t>(o)] = sum / div;
        }
      }
    }
  return y;
}

RefTensor pool2d_backward(const RefTensor& x, const RefTensor& grad_out, const Pool2dParams& p) {
  const Plane g = plane_of(x.shape);
  const int64_t P = grad_out.shape[grad_out.shape.size() - 2];
  const int64_t Q = grad_out.shape[grad_out.shape.size() - 1];
  RefTensor idx;
  if (p.mode == PoolMode::max) pool2d(x, p, P, Q, &idx);
  const bool max = p.mode == PoolMode::max;
  RefTensor gx = filled(x.shape, 0.0);
  for (int64_t b = 0; b < g.B; ++b)
    for (int64_t i = 0; i < P; ++i) {
      const Rows r = rows_of(i, g.H, P, p.kernel_h, p.stride_h, p.pad_h, 1, p.adaptive);
      for (int64_t j = 0; j < Q; ++j) {
        const int64_t o = (b * P + i) * Q + j;
        const double go = grad_out.data[static_cast<size_t>(o)];
        if (max) {
          const auto at = static_cast<int64_t>(idx.data[static_cast<size_t>(o)]);
          gx.data[static_cast<size_t>(b * g.H * g.W + at)] += go;
          continue;
        }
        const Rows c = rows_of(j, g.W, Q, p.kernel_w, p.stride_w, p.pad_w, 1, p.adaptive);
        const auto n = static_cast<double>(r.rows.size() * c.rows.size());
        const double div = p.divisor_override > 0 ? static_cast<double>(p.divisor_override)
                           : p.count_include_pad  ? static_cast<double>(r.padded * c.padded)
                                                  : n;
        for (int64_t h : r.rows)
          for (int64_t w : c.rows)
            gx.data[static_cast<size_t>((b * g.H + h) * g.W + w)] += go / div;
      }
    }
  return gx;
}

RefTensor conv_transpose2d(const RefTensor& x, const RefTensor& w, const RefTensor* bias,
                           const Conv2dParams& p, int64_t oph, int64_t opw) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t Kg = w.shape[1], R = w.shape[2], S = w.shape[3], G = p.groups;
  const int64_t K = Kg * G, Cg = C / G;
  const int64_t P = (H - 1) * p.stride_h - 2 * p.pad_h + p.dilation_h * (R - 1) + oph + 1;
  const int64_t Q = (W - 1) * p.stride_w - 2 * p.pad_w + p.dilation_w * (S - 1) + opw + 1;
  RefTensor y = filled({N, K, P, Q}, 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t v = 0; v < W; ++v) {
          const double xv = x[{n, c, h, v}];
          const int64_t grp = c / Cg;
          for (int64_t kk = 0; kk < Kg; ++kk)
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s) {
                const int64_t oh = h * p.stride_h - p.pad_h + r * p.dilation_h;
                const int64_t ow = v * p.stride_w - p.pad_w + s * p.dilation_w;
                if (oh < 0 || oh >= P || ow < 0 || ow >= Q) continue;
                y[{n, grp * Kg + kk, oh, ow}] += xv * w[{c, kk, r, s}];
              }
        }
  if (bias)
    for (int64_t e = 0; e < y.numel(); ++e)
      y.data[static_cast<size_t>(e)] += bias->data[static_cast<size_t>((e / (P * Q)) % K)];
  return y;
}

RefTensor conv1d(const RefTensor& x, const RefTensor& w, const RefTensor* bias, int64_t stride,
                 int64_t padding, int64_t dilation, int64_t groups) {
  const int64_t N = x.shape[0], C = x.shape[1], L = x.shape[2];
  const int64_t K = w.shape[0], Cg = w.shape[1], k = w.shape[2], Kg = K / groups;
  const int64_t Lo = (L + 2 * padding - dilation * (k - 1) - 1) / stride + 1;
  RefTensor y = filled({N, K, Lo}, 0.0);
  (void)C;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < K; ++o)
      for (int64_t t = 0; t < Lo; ++t) {
        double s = bias ? bias->data[static_cast<size_t>(o)] : 0.0;
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t l = t * stride - padding + j * dilation;
            if (l >= 0 && l < L) s += x[{n, (o / Kg) * Cg + c, l}] * w[{o, c, j}];
          }
        y[{n, o, t}] = s;
      }
  return y;
}

}  // namespace ember::ref
