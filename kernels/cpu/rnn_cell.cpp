// The fused LSTM and GRU cells on the cpu device (the math is in tensor/backend_args.h's
// LstmCellForwardArgs and GruCellForwardArgs, and kernels/cuda/rnn_cell.cu).
//
// Split:  rows (the batch) over OpenMP threads when the step is large enough; each row's
//         H units in one `omp simd` loop over the gate blocks, which sit H apart.
// Math:   in T (f32 or f64), as the GEMMs that feed the gates; sigmoid = 1 / (1 + e^-x).
// Cost:   LSTM forward ~30 FLOPs per unit (3 exp, 2 tanh), reads 9H, writes 6H values per
//         row; backward ~25 FLOPs, reads 8H, writes 5H. GRU forward reads 7H, writes 5H;
//         backward reads 6H, writes 7H.
#include <omp.h>

#include <cmath>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/denormals.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/norm_sums.h"
#include "kernels/half_operands_nn.h"  // issue 16, halfnn2

namespace ember::cpu {

namespace {

using norm::in;
using norm::out;

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

bool parallel_rows(int64_t B, int64_t H) {
  return B > 1 && B * H * 4 >= kParallelGrain && !omp_in_parallel();
}

template <typename T>
void lstm_forward(const LstmCellForwardArgs& a) {
  const int64_t B = a.c_prev.size(0), H = a.c_prev.size(1);
  const T *ig = in<T>(a.igates), *hg = in<T>(a.hgates);  // (B, 4H)
  const T* cp = in<T>(a.c_prev);                         // (B, H)
  T *h = out<T>(a.h), *c = out<T>(a.c), *ws = out<T>(a.workspace);
#pragma omp parallel for schedule(static) if (parallel_rows(B, H))
  for (int64_t b = 0; b < B; ++b) {
    const T *x = ig + b * 4 * H, *y = hg + b * 4 * H, *cr = cp + b * H;
    T *w = ws + b * 4 * H, *hr = h + b * H, *crow = c + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(x[j] + y[j]);
      const T f = sigmoid(x[H + j] + y[H + j]);
      const T g = std::tanh(x[2 * H + j] + y[2 * H + j]);
      const T o = sigmoid(x[3 * H + j] + y[3 * H + j]);
      const T cn = f * cr[j] + i * g;
      w[j] = i;
      w[H + j] = f;
      w[2 * H + j] = g;
      w[3 * H + j] = o;
      crow[j] = cn;
      hr[j] = o * std::tanh(cn);
    }
  }
}

template <typename T>
void lstm_backward(const LstmCellBackwardArgs& a) {
  const int64_t B = a.c_prev.size(0), H = a.c_prev.size(1);
  const T *gh = in<T>(a.grad_h), *gc = in<T>(a.grad_c);  // (B, H) or null (zero)
  const T *cp = in<T>(a.c_prev), *c = in<T>(a.c);        // (B, H)
  const T* ws = in<T>(a.workspace);                      // (B, 4H)
  T *dg = out<T>(a.grad_gates), *dcp = out<T>(a.grad_c_prev);
#pragma omp parallel for schedule(static) if (parallel_rows(B, H))
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 4 * H;
    const int64_t r = b * H;
    T* d = dg + b * 4 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T i = w[j], f = w[H + j], g = w[2 * H + j], o = w[3 * H + j];
      const T tc = std::tanh(c[r + j]);
      const T dh = gh != nullptr ? gh[r + j] : T(0);
      const T dc = (gc != nullptr ? gc[r + j] : T(0)) + dh * o * (T(1) - tc * tc);
      d[j] = dc * g * i * (T(1) - i);
      d[H + j] = dc * cp[r + j] * f * (T(1) - f);
      d[2 * H + j] = dc * i * (T(1) - g * g);
      d[3 * H + j] = dh * tc * o * (T(1) - o);
      dcp[r + j] = dc * f;
    }
  }
}

template <typename T>
void gru_forward(const GruCellForwardArgs& a) {
  const int64_t B = a.h_prev.size(0), H = a.h_prev.size(1);
  const T *ig = in<T>(a.igates), *hg = in<T>(a.hgates);  // (B, 3H)
  const T* hp = in<T>(a.h_prev);                         // (B, H)
  T *h = out<T>(a.h), *ws = out<T>(a.workspace);         // (B, H), (B, 4H)
#pragma omp parallel for schedule(static) if (parallel_rows(B, H))
  for (int64_t b = 0; b < B; ++b) {
    const T *x = ig + b * 3 * H, *y = hg + b * 3 * H, *pr = hp + b * H;
    T *w = ws + b * 4 * H, *hr = h + b * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T r = sigmoid(x[j] + y[j]);
      const T z = sigmoid(x[H + j] + y[H + j]);
      const T hn = y[2 * H + j];
      const T n = std::tanh(x[2 * H + j] + r * hn);
      w[j] = r;
      w[H + j] = z;
      w[2 * H + j] = n;
      w[3 * H + j] = hn;
      hr[j] = (T(1) - z) * n + z * pr[j];
    }
  }
}

template <typename T>
void gru_backward(const GruCellBackwardArgs& a) {
  const int64_t B = a.h_prev.size(0), H = a.h_prev.size(1);
  const T *gh = in<T>(a.grad_h), *hp = in<T>(a.h_prev);  // (B, H)
  const T* ws = in<T>(a.workspace);                      // (B, 4H)
  T *di = out<T>(a.grad_igates), *dh = out<T>(a.grad_hgates), *dp = out<T>(a.grad_h_prev);
#pragma omp parallel for schedule(static) if (parallel_rows(B, H))
  for (int64_t b = 0; b < B; ++b) {
    const T* w = ws + b * 4 * H;
    const int64_t row = b * H;
    T *dir = di + b * 3 * H, *dhr = dh + b * 3 * H;
#pragma omp simd
    for (int64_t j = 0; j < H; ++j) {
      const T r = w[j], z = w[H + j], n = w[2 * H + j], hn = w[3 * H + j];
      const T g = gh[row + j];
      const T dan = g * (T(1) - z) * (T(1) - n * n);  // d (i_n + r h_n)
      const T dar = dan * hn * r * (T(1) - r);
      const T daz = g * (hp[row + j] - n) * z * (T(1) - z);
      dir[j] = dar;
      dir[H + j] = daz;
      dir[2 * H + j] = dan;
      dhr[j] = dar;
      dhr[H + j] = daz;
      dhr[2 * H + j] = dan * r;
      dp[row + j] = g * z;
    }
  }
}

}  // namespace

void CpuBackend::lstm_cell_forward(const LstmCellForwardArgs& a) {
  const FlushDenormals flush;
  if (is_half(a.c_prev.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::lstm_cell_forward(*this, a);
  norm::for_dtype("lstm_cell", a.c_prev.dtype(), [&](auto tag) { lstm_forward<decltype(tag)>(a); });
}
void CpuBackend::lstm_cell_backward(const LstmCellBackwardArgs& a) {
  const FlushDenormals flush;
  if (is_half(a.c_prev.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::lstm_cell_backward(*this, a);
  norm::for_dtype("lstm_cell_backward", a.c_prev.dtype(),
                  [&](auto tag) { lstm_backward<decltype(tag)>(a); });
}
void CpuBackend::gru_cell_forward(const GruCellForwardArgs& a) {
  const FlushDenormals flush;
  if (is_half(a.h_prev.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::gru_cell_forward(*this, a);
  norm::for_dtype("gru_cell", a.h_prev.dtype(), [&](auto tag) { gru_forward<decltype(tag)>(a); });
}
void CpuBackend::gru_cell_backward(const GruCellBackwardArgs& a) {
  const FlushDenormals flush;
  if (is_half(a.h_prev.dtype()))  // issue 16, halfnn2: f32 inside, one rounding
    return half_ops::gru_cell_backward(*this, a);
  norm::for_dtype("gru_cell_backward", a.h_prev.dtype(),
                  [&](auto tag) { gru_backward<decltype(tag)>(a); });
}

}  // namespace ember::cpu
