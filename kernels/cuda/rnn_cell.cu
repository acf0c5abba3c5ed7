// The fused LSTM and GRU cells after their two GEMMs (the cpu twin is
// kernels/cpu/rnn_cell.cpp, with the same math; tensor/backend.h's LstmCellForwardArgs and
// GruCellForwardArgs state it).
//
// Math:   LSTM a = igates + hgates split i, f, g, o: c = s(f) c_prev + s(i) tanh(g),
//         h = s(o) tanh(c); GRU r = s(i_r + h_r), z = s(i_z + h_z), n = tanh(i_n + r h_n),
//         h = (1 - z) n + z h_prev; s = 1 / (1 + e^-x); the backwards as in
//         autograd/functions_rnn.cpp, from the saved activated gates.
// Shapes: gates (B, 4H) or (B, 3H), states (B, H), workspace (B, 4H); contiguous.
// Split:  one thread per unit (b, j) of the (B, H) state, grid-stride, 256 per block; the
//         gate blocks of a row sit H apart, so a warp reads 4 coalesced runs.
// Cost:   LSTM forward ~30 flops per unit, bytes (8H + H read, 6H written) per row;
//         backward ~25 flops, (8H read, 5H written); GRU forward ~25 flops, (7H, 5H);
//         backward ~20 flops, (6H, 7H).
// Pre:    B, H >= 1.
#include "kernels/cuda/rnn_cell.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/runtime.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kCellThreads = 256;

template <typename T>
EMBER_DEVICE T sig(T x) {
  return T(1) / (T(1) + d_exp(-x));
}

template <typename T>
__global__ void lstm_forward_kernel(int64_t B, int64_t H, T* h, T* c, T* ws, const T* ig,
                                    const T* hg, const T* cp) {
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o4 = b * 4 * H + j;
    const T i = sig(ig[o4] + hg[o4]);
    const T f = sig(ig[o4 + H] + hg[o4 + H]);
    const T g = d_tanh(ig[o4 + 2 * H] + hg[o4 + 2 * H]);
    const T o = sig(ig[o4 + 3 * H] + hg[o4 + 3 * H]);
    const T cn = f * cp[e] + i * g;
    ws[o4] = i;
    ws[o4 + H] = f;
    ws[o4 + 2 * H] = g;
    ws[o4 + 3 * H] = o;
    c[e] = cn;
    h[e] = o * d_tanh(cn);
  }
}

template <typename T>
__global__ void lstm_backward_kernel(int64_t B, int64_t H, T* dg, T* dcp, const T* gh, const T* gc,
                                     const T* cp, const T* c, const T* ws) {
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o4 = b * 4 * H + j;
    const T i = ws[o4], f = ws[o4 + H], g = ws[o4 + 2 * H], o = ws[o4 + 3 * H];
    const T tc = d_tanh(c[e]);
    const T dh = gh != nullptr ? gh[e] : T(0);
    const T dc = (gc != nullptr ? gc[e] : T(0)) + dh * o * (T(1) - tc * tc);
    dg[o4] = dc * g * i * (T(1) - i);
    dg[o4 + H] = dc * cp[e] * f * (T(1) - f);
    dg[o4 + 2 * H] = dc * i * (T(1) - g * g);
    dg[o4 + 3 * H] = dh * tc * o * (T(1) - o);
    dcp[e] = dc * f;
  }
}

template <typename T>
__global__ void gru_forward_kernel(int64_t B, int64_t H, T* h, T* ws, const T* ig, const T* hg,
                                   const T* hp) {
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o3 = b * 3 * H + j, o4 = b * 4 * H + j;
    const T r = sig(ig[o3] + hg[o3]);
    const T z = sig(ig[o3 + H] + hg[o3 + H]);
    const T hn = hg[o3 + 2 * H];
    const T n = d_tanh(ig[o3 + 2 * H] + r * hn);
    ws[o4] = r;
    ws[o4 + H] = z;
    ws[o4 + 2 * H] = n;
    ws[o4 + 3 * H] = hn;
    h[e] = (T(1) - z) * n + z * hp[e];
  }
}

template <typename T>
__global__ void gru_backward_kernel(int64_t B, int64_t H, T* di, T* dh, T* dp, const T* gh,
                                    const T* hp, const T* ws) {
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o3 = b * 3 * H + j, o4 = b * 4 * H + j;
    const T r = ws[o4], z = ws[o4 + H], n = ws[o4 + 2 * H], hn = ws[o4 + 3 * H];
    const T g = gh[e];
    const T dan = g * (T(1) - z) * (T(1) - n * n);
    const T dar = dan * hn * r * (T(1) - r);
    const T daz = g * (hp[e] - n) * z * (T(1) - z);
    di[o3] = dar;
    di[o3 + H] = daz;
    di[o3 + 2 * H] = dan;
    dh[o3] = dar;
    dh[o3 + H] = daz;
    dh[o3 + 2 * H] = dan * r;
    dp[e] = g * z;
  }
}

LaunchConfig config(const char* name, int64_t n) {
  return {name, dim3(grid_for(n, kCellThreads)), dim3(kCellThreads)};
}

template <typename F>
void for_dtype(const char* op, DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>(op, "no kernel for ", dtype);
  }
}

}  // namespace

void launch_lstm_cell_forward(DType dtype, int64_t b, int64_t h, void* h_out, void* c, void* ws,
                              const void* igates, const void* hgates, const void* c_prev) {
  for_dtype("lstm_cell", dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("lstm_cell_forward", b * h), &lstm_forward_kernel<T>, b, h,
           static_cast<T*>(h_out), static_cast<T*>(c), static_cast<T*>(ws),
           static_cast<const T*>(igates), static_cast<const T*>(hgates),
           static_cast<const T*>(c_prev));
  });
}

void launch_lstm_cell_backward(DType dtype, int64_t b, int64_t h, void* grad_gates,
                               void* grad_c_prev, const void* grad_h, const void* grad_c,
                               const void* c_prev, const void* c, const void* ws) {
  for_dtype("lstm_cell_backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("lstm_cell_backward", b * h), &lstm_backward_kernel<T>, b, h,
           static_cast<T*>(grad_gates), static_cast<T*>(grad_c_prev), static_cast<const T*>(grad_h),
           static_cast<const T*>(grad_c), static_cast<const T*>(c_prev), static_cast<const T*>(c),
           static_cast<const T*>(ws));
  });
}

void launch_gru_cell_forward(DType dtype, int64_t b, int64_t h, void* h_out, void* ws,
                             const void* igates, const void* hgates, const void* h_prev) {
  for_dtype("gru_cell", dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("gru_cell_forward", b * h), &gru_forward_kernel<T>, b, h, static_cast<T*>(h_out),
           static_cast<T*>(ws), static_cast<const T*>(igates), static_cast<const T*>(hgates),
           static_cast<const T*>(h_prev));
  });
}

void launch_gru_cell_backward(DType dtype, int64_t b, int64_t h, void* grad_igates,
                              void* grad_hgates, void* grad_h_prev, const void* grad_h,
                              const void* h_prev, const void* ws) {
  for_dtype("gru_cell_backward", dtype, [&](auto tag) {
    using T = decltype(tag);
    launch(config("gru_cell_backward", b * h), &gru_backward_kernel<T>, b, h,
           static_cast<T*>(grad_igates), static_cast<T*>(grad_hgates), static_cast<T*>(grad_h_prev),
           static_cast<const T*>(grad_h), static_cast<const T*>(h_prev), static_cast<const T*>(ws));
  });
}

}  // namespace ember::EMBER_VARIANT
