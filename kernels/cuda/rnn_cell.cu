// The fused LSTM and GRU cells after their two GEMMs (the cpu twin is
// kernels/cpu/rnn_cell.cpp, with the same math; tensor/backend_args.h's LstmCellForwardArgs and
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
// DTypes: f32, f64; bf16/f16 (issue 16) loaded into f32 (opmath_t), computed and summed in
//         f32, rounded once on the store.
#include "kernels/cuda/rnn_cell.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/runtime.h"
#include "tensor/error.h"
#include "tensor/half.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kCellThreads = 256;

template <typename A>
EMBER_DEVICE A sig(A x) {
  return A(1) / (A(1) + d_exp(-x));
}

// bf16/f16 (issue 16, halfnn2): every load widened to A = opmath_t<T> (f32), the math in A,
// each store rounded once; f32 and f64 are their own A.
template <typename T>
EMBER_DEVICE opmath_t<T> ld(const T* p, int64_t i) {
  return static_cast<opmath_t<T>>(p[i]);
}

template <typename T>
__global__ void lstm_forward_kernel(int64_t B, int64_t H, T* h, T* c, T* ws, const T* ig,
                                    const T* hg, const T* cp) {
  using A = opmath_t<T>;
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o4 = b * 4 * H + j;
    const A i = sig(ld(ig, o4) + ld(hg, o4));
    const A f = sig(ld(ig, o4 + H) + ld(hg, o4 + H));
    const A g = d_tanh(ld(ig, o4 + 2 * H) + ld(hg, o4 + 2 * H));
    const A o = sig(ld(ig, o4 + 3 * H) + ld(hg, o4 + 3 * H));
    const A cn = f * ld(cp, e) + i * g;
    ws[o4] = static_cast<T>(i);
    ws[o4 + H] = static_cast<T>(f);
    ws[o4 + 2 * H] = static_cast<T>(g);
    ws[o4 + 3 * H] = static_cast<T>(o);
    c[e] = static_cast<T>(cn);
    h[e] = static_cast<T>(o * d_tanh(cn));
  }
}

template <typename T>
__global__ void lstm_backward_kernel(int64_t B, int64_t H, T* dg, T* dcp, const T* gh, const T* gc,
                                     const T* cp, const T* c, const T* ws) {
  using A = opmath_t<T>;
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o4 = b * 4 * H + j;
    const A i = ld(ws, o4), f = ld(ws, o4 + H), g = ld(ws, o4 + 2 * H), o = ld(ws, o4 + 3 * H);
    const A tc = d_tanh(ld(c, e));
    const A dh = gh != nullptr ? ld(gh, e) : A(0);
    const A dc = (gc != nullptr ? ld(gc, e) : A(0)) + dh * o * (A(1) - tc * tc);
    dg[o4] = static_cast<T>(dc * g * i * (A(1) - i));
    dg[o4 + H] = static_cast<T>(dc * ld(cp, e) * f * (A(1) - f));
    dg[o4 + 2 * H] = static_cast<T>(dc * i * (A(1) - g * g));
    dg[o4 + 3 * H] = static_cast<T>(dh * tc * o * (A(1) - o));
    dcp[e] = static_cast<T>(dc * f);
  }
}

template <typename T>
__global__ void gru_forward_kernel(int64_t B, int64_t H, T* h, T* ws, const T* ig, const T* hg,
                                   const T* hp) {
  using A = opmath_t<T>;
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o3 = b * 3 * H + j, o4 = b * 4 * H + j;
    const A r = sig(ld(ig, o3) + ld(hg, o3));
    const A z = sig(ld(ig, o3 + H) + ld(hg, o3 + H));
    const A hn = ld(hg, o3 + 2 * H);
    const A n = d_tanh(ld(ig, o3 + 2 * H) + r * hn);
    ws[o4] = static_cast<T>(r);
    ws[o4 + H] = static_cast<T>(z);
    ws[o4 + 2 * H] = static_cast<T>(n);
    ws[o4 + 3 * H] = static_cast<T>(hn);
    h[e] = static_cast<T>((A(1) - z) * n + z * ld(hp, e));
  }
}

template <typename T>
__global__ void gru_backward_kernel(int64_t B, int64_t H, T* di, T* dh, T* dp, const T* gh,
                                    const T* hp, const T* ws) {
  using A = opmath_t<T>;
  for (int64_t e = global_thread(); e < B * H; e += grid_threads()) {
    const int64_t b = e / H, j = e % H, o3 = b * 3 * H + j, o4 = b * 4 * H + j;
    const A r = ld(ws, o4), z = ld(ws, o4 + H), n = ld(ws, o4 + 2 * H), hn = ld(ws, o4 + 3 * H);
    const A g = ld(gh, e);
    const A dan = g * (A(1) - z) * (A(1) - n * n);
    const A dar = dan * hn * r * (A(1) - r);
    const A daz = g * (ld(hp, e) - n) * z * (A(1) - z);
    di[o3] = static_cast<T>(dar);
    di[o3 + H] = static_cast<T>(daz);
    di[o3 + 2 * H] = static_cast<T>(dan);
    dh[o3] = static_cast<T>(dar);
    dh[o3 + H] = static_cast<T>(daz);
    dh[o3 + 2 * H] = static_cast<T>(dan * r);
    dp[e] = static_cast<T>(g * z);
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
    case DType::bf16: return f(bf16{});  // issue 16, halfnn2
    case DType::f16: return f(f16{});
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
