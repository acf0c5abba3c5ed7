// Bilinear resizing on the cpu device (the same math as kernels/cuda/upsample.cu).
//
// Math:   per dim, src(o) = scale * o (align_corners) or max(scale * (o + 0.5) - 0.5, 0);
//         i0 = floor(src), i1 = min(i0 + 1, in - 1), l = src - i0, all in A (f32 for f32,
//         f64 for f64). forward y[p, q] = (1-lh) ((1-lw) x[h0,w0] + lw x[h0,w1])
//                                         + lh ((1-lw) x[h1,w0] + lw x[h1,w1]).
//         backward gx[h, w] = sum over (p, q) of g[p, q] wh(p, h) ww(q, w), where
//         wh(p, h) = [h0(p) = h] (1-lh(p)) + [h1(p) = h] lh(p) (likewise ww), separably:
//         along W into a (B, P, W) buffer, then along H; both passes gather (a thread
//         writes only its own rows), in increasing index order, so sums are reproducible.
// Shapes: x, gx (B, H, W); y, g (B, P, Q); contiguous.
// Split:  OpenMP over the B * rows of the written tensor. The per-dim source tables (and
//         their transposes for the backward) are computed once per call.
// Cost:   forward 11 flops per output, bytes = (B*H*W + B*P*Q) * sizeof(T); backward
//         about 4 flops per output (W pass) and per B*P*W element (H pass), plus a
//         B*P*W buffer in A.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/half_operands_nn.h"  // issue 16, halfnn2

namespace ember::cpu {

namespace {

// One dim's source neighbours and upper weight for every output index.
template <typename A>
struct Taps {
  std::vector<int64_t> i0, i1;
  std::vector<A> l;
};

template <typename A>
Taps<A> taps(int64_t in, int64_t out, double scale_d, bool align) {
  Taps<A> t{std::vector<int64_t>(out), std::vector<int64_t>(out), std::vector<A>(out)};
  const A scale = static_cast<A>(scale_d);
  for (int64_t o = 0; o < out; ++o) {
    A src = align ? scale * static_cast<A>(o)
                  : std::max(scale * (static_cast<A>(o) + A(0.5)) - A(0.5), A(0));
    int64_t i = std::min(static_cast<int64_t>(src), in - 1);
    t.i0[o] = i;
    t.i1[o] = i < in - 1 ? i + 1 : i;
    t.l[o] = src - static_cast<A>(i);
  }
  return t;
}

// For each input index, the output indices that read it, in increasing order, with their
// weights: the transpose of the taps, so the backward is a gather.
template <typename A>
struct Readers {
  std::vector<int64_t> start;  // (in + 1)
  std::vector<int64_t> out;
  std::vector<A> w;
};

template <typename A>
Readers<A> readers(const Taps<A>& t, int64_t in) {
  const int64_t n = static_cast<int64_t>(t.i0.size());
  Readers<A> r{std::vector<int64_t>(in + 1, 0), {}, {}};
  std::vector<std::vector<std::pair<int64_t, A>>> lists(in);
  for (int64_t o = 0; o < n; ++o) {
    if (t.i0[o] == t.i1[o]) {
      lists[t.i0[o]].push_back({o, A(1)});  // both taps on one element: (1-l) + l
    } else {
      lists[t.i0[o]].push_back({o, A(1) - t.l[o]});
      lists[t.i1[o]].push_back({o, t.l[o]});
    }
  }
  for (int64_t i = 0; i < in; ++i) {
    r.start[i] = static_cast<int64_t>(r.out.size());
    for (auto [o, w] : lists[i]) {
      r.out.push_back(o);
      r.w.push_back(w);
    }
  }
  r.start[in] = static_cast<int64_t>(r.out.size());
  return r;
}

template <typename T, typename A>
void forward(int64_t B, int64_t H, int64_t W, int64_t P, int64_t Q, const T* x, T* y,
             const UpsampleBilinearParams& p) {
  const Taps<A> th = taps<A>(H, P, p.scale_h, p.align_corners);
  const Taps<A> tw = taps<A>(W, Q, p.scale_w, p.align_corners);
  const bool parallel = B * P * Q >= kParallelGrain && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bp = 0; bp < B * P; ++bp) {
    const int64_t b = bp / P, r = bp % P;
    const T* r0 = x + (b * H + th.i0[r]) * W;
    const T* r1 = x + (b * H + th.i1[r]) * W;
    const A lh = th.l[r];
    T* dst = y + bp * Q;
    for (int64_t q = 0; q < Q; ++q) {
      const A lw = tw.l[q];
      const int64_t w0 = tw.i0[q], w1 = tw.i1[q];
      const A top = (A(1) - lw) * static_cast<A>(r0[w0]) + lw * static_cast<A>(r0[w1]);
      const A bot = (A(1) - lw) * static_cast<A>(r1[w0]) + lw * static_cast<A>(r1[w1]);
      dst[q] = static_cast<T>((A(1) - lh) * top + lh * bot);
    }
  }
}

// Separable: first along W, tmp (B, P, W) = sum over q of g[., ., q] ww(q, w), then along
// H, gx[., h, :] += wh(p, h) tmp[., p, :] over contiguous rows (vectorizes).
template <typename T, typename A>
void backward(int64_t B, int64_t H, int64_t W, int64_t P, int64_t Q, const T* g, T* gx,
              const UpsampleBilinearParams& p) {
  const Readers<A> rh = readers(taps<A>(H, P, p.scale_h, p.align_corners), H);
  const Readers<A> rw = readers(taps<A>(W, Q, p.scale_w, p.align_corners), W);
  std::vector<A> tmp(static_cast<size_t>(B * P * W));  // (B, P, W)
  const bool parallel = B * P * Q >= kParallelGrain && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bp = 0; bp < B * P; ++bp) {
    const T* row = g + bp * Q;
    A* t = tmp.data() + bp * W;
    for (int64_t w = 0; w < W; ++w) {
      A s = 0;
      for (int64_t j = rw.start[w]; j < rw.start[w + 1]; ++j)
        s += rw.w[j] * static_cast<A>(row[rw.out[j]]);
      t[w] = s;
    }
  }
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    std::vector<A> acc(static_cast<size_t>(W), A(0));
    for (int64_t i = rh.start[h]; i < rh.start[h + 1]; ++i) {
      const A wh = rh.w[i];
      const A* t = tmp.data() + (b * P + rh.out[i]) * W;
      for (int64_t w = 0; w < W; ++w) acc[w] += wh * t[w];
    }
    T* dst = gx + bh * W;
    for (int64_t w = 0; w < W; ++w) dst[w] = static_cast<T>(acc[w]);
  }
}

}  // namespace

void CpuBackend::upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                           const UpsampleBilinearParams& p) {
  const FlushDenormals flush;
  if (is_half(x.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::upsample_bilinear_forward(*this, out, x, p);
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), P = out.size(1), Q = out.size(2);
  switch (x.dtype()) {
    case DType::f32:
      return forward<float, float>(B, H, W, P, Q, static_cast<const float*>(x.raw_data()),
                                   static_cast<float*>(out.raw_data()), p);
    case DType::f64:
      return forward<double, double>(B, H, W, P, Q, static_cast<const double*>(x.raw_data()),
                                     static_cast<double*>(out.raw_data()), p);
    default: fail<DTypeError>("upsample_bilinear", "no cpu kernel for ", x.dtype());
  }
}

void CpuBackend::upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                            const UpsampleBilinearParams& p) {
  const FlushDenormals flush;
  if (is_half(grad_x.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::upsample_bilinear_backward(*this, grad_x, grad_out, p);
  const int64_t B = grad_x.size(0), H = grad_x.size(1), W = grad_x.size(2);
  const int64_t P = grad_out.size(1), Q = grad_out.size(2);
  switch (grad_x.dtype()) {
    case DType::f32:
      return backward<float, float>(B, H, W, P, Q, static_cast<const float*>(grad_out.raw_data()),
                                    static_cast<float*>(grad_x.raw_data()), p);
    case DType::f64:
      return backward<double, double>(B, H, W, P, Q,
                                      static_cast<const double*>(grad_out.raw_data()),
                                      static_cast<double*>(grad_x.raw_data()), p);
    default: fail<DTypeError>("upsample_bilinear", "no cpu kernel for ", grad_x.dtype());
  }
}

}  // namespace ember::cpu
