// Fused cross entropy: log-softmax and the negative log-likelihood of each row in one pass
// over the logits, and its gradient.
//
// Math:   lse = m + log(sum_c exp(z_c - m)), m = max_c z_c; with label smoothing eps and
//         class weights w (1 when absent), W = sum_c w_c:
//           loss = (1 - eps) w_t (lse - z_t) + eps / C (W lse - sum_c w_c z_c),
//           0 when t == ignore_index;
//           d loss / d z_c = (1 - eps) w_t (p_c - [c == t]) + eps / C (p_c W - w_c),
//           p_c = exp(z_c - lse), times grad_loss of the row.
//         Accumulated in T (f32 rows in f32, f64 in f64; the cpu backend sums in f64).
// Shapes: logits (R, C) contiguous, target (R) i64, weight (C) or none -> loss (R), lse (R);
//         backward: grad_loss (R), lse (R) -> grad_logits (R, C).
// Split:  C <= 1024: one row per warp (8 rows per block of 256 threads); else one row per
//         block of 512 threads, grid-stride over rows. Forward: two passes over the row
//         (max; sums of exp, w z and w), lanes reading with stride 32 (coalesced).
//         Backward: one pass writing each element (plus one for W with smoothing).
// Cost:   forward ~6*R*C FLOPs (exp counted as 1), bytes = R*C*sizeof(T) (+ C*sizeof(T)
//         per row for weights, from cache) + R*(8 + 2*sizeof(T)); backward ~8*R*C FLOPs,
//         bytes = 2*R*C*sizeof(T) + R*(8 + 2*sizeof(T)).
// Errors: a target outside [0, C) that is not ignore_index is recorded in the runtime's
//         error slot (kernels/cuda/index_flag.h), raised as IndexError naming cross_entropy
//         at the next synchronization the user causes.
// Pre:    C >= 1.
#include "kernels/cuda/cross_entropy.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/index_flag.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kWarpRowsMaxC = 1024;
constexpr int kWarpThreads = 256;
constexpr int kBlockThreads = 512;

struct Operands {
  const int64_t* target;
  rt::IndexErrorSlot* slot;
  int64_t C, ignore;
  double eps;
};

template <typename T, typename Group>
EMBER_DEVICE void forward_row(const Group& grp, const Operands& o, int64_t r, const T* z,
                              const T* w, T* loss, T* lse_out) {
  const int64_t C = o.C;
  const T* row = z + r * C;
  T m = row[0];
  for (int64_t c = grp.rank; c < C; c += grp.size) m = nan_max(m, row[c]);
  m = grp.allreduce(m, [](T a, T b) { return nan_max(a, b); });
  T s = 0, wz = 0, ws = 0;
  for (int64_t c = grp.rank; c < C; c += grp.size) {
    s += d_exp(row[c] - m);
    const T wc = w != nullptr ? w[c] : T(1);
    wz += wc * row[c];
    ws += wc;
  }
  auto add = [](T a, T b) { return a + b; };
  s = grp.allreduce(s, add);
  wz = grp.allreduce(wz, add);
  ws = grp.allreduce(ws, add);
  if (grp.rank != 0) return;
  const T lse = m + d_log(s);
  lse_out[r] = lse;
  const int64_t t = o.target[r];
  if (t == o.ignore || !check_index(t, C, o.slot, kCrossEntropy)) {
    loss[r] = T(0);
    return;
  }
  const T wt = w != nullptr ? w[t] : T(1);
  const T eps = static_cast<T>(o.eps);
  loss[r] = (T(1) - eps) * wt * (lse - row[t]) + eps / static_cast<T>(C) * (ws * lse - wz);
}

template <typename T, typename Group>
EMBER_DEVICE void backward_row(const Group& grp, const Operands& o, int64_t r, const T* z,
                               const T* w, const T* gl, const T* lse, T* gz) {
  const int64_t C = o.C;
  T* out = gz + r * C;
  const int64_t t = o.target[r];
  const bool valid = t != o.ignore && t >= 0 && t < C;  // the forward reported bad targets
  T W = 0;
  if (o.eps != 0.0) {
    for (int64_t c = grp.rank; c < C; c += grp.size) W += w != nullptr ? w[c] : T(1);
    W = grp.allreduce(W, [](T a, T b) { return a + b; });
  }
  if (!valid) {
    for (int64_t c = grp.rank; c < C; c += grp.size) out[c] = T(0);
    return;
  }
  const T* row = z + r * C;
  const T g = gl[r], l = lse[r];
  const T eps = static_cast<T>(o.eps);
  const T a = (T(1) - eps) * (w != nullptr ? w[t] : T(1)), b = eps / static_cast<T>(C);
  for (int64_t c = grp.rank; c < C; c += grp.size) {
    const T p = d_exp(row[c] - l);
    const T wc = w != nullptr ? w[c] : T(1);
    out[c] = g * (a * (p - (c == t ? T(1) : T(0))) + b * (p * W - wc));
  }
}

// Rows r = first, first + step, ... handled by groups of `grp` threads.
template <typename T>
__global__ void forward_warp_rows(Operands o, int64_t R, const T* z, const T* w, T* loss, T* lse) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    forward_row(grp, o, r, z, w, loss, lse);
}

template <typename T>
__global__ void forward_block_rows(Operands o, int64_t R, const T* z, const T* w, T* loss, T* lse) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) forward_row(grp, o, r, z, w, loss, lse);
}

template <typename T>
__global__ void backward_warp_rows(Operands o, int64_t R, const T* z, const T* w, const T* gl,
                                   const T* lse, T* gz) {
  const int warps = static_cast<int>(blockDim.x / 32);
  const WarpGroup grp{static_cast<int>(threadIdx.x % 32)};
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * warps + threadIdx.x / 32; r < R;
       r += static_cast<int64_t>(gridDim.x) * warps)
    backward_row(grp, o, r, z, w, gl, lse, gz);
}

template <typename T>
__global__ void backward_block_rows(Operands o, int64_t R, const T* z, const T* w, const T* gl,
                                    const T* lse, T* gz) {
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  for (int64_t r = blockIdx.x; r < R; r += gridDim.x) backward_row(grp, o, r, z, w, gl, lse, gz);
}

LaunchConfig config(const char* warp_name, const char* block_name, int64_t R, int64_t C) {
  if (C <= kWarpRowsMaxC)
    return {warp_name, dim3(grid_for(R, kWarpThreads / 32)), dim3(kWarpThreads)};
  return {block_name, dim3(grid_for(R, 1)), dim3(kBlockThreads)};
}

template <typename F>
void for_dtype(DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    default: fail<InternalError>("cross_entropy", "no kernel for ", dtype);
  }
}

}  // namespace

void launch_cross_entropy_forward(DType dtype, const CrossEntropyShape& s, void* loss, void* lse,
                                  const void* logits, const int64_t* target, const void* weight) {
  const Operands o{target, rt::index_error_slot(), s.classes, s.ignore_index, s.label_smoothing};
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* z = static_cast<const T*>(logits);
    const auto* w = static_cast<const T*>(weight);
    const LaunchConfig cfg = config("cross_entropy_forward_warp_rows",
                                    "cross_entropy_forward_block_rows", s.rows, s.classes);
    if (s.classes <= kWarpRowsMaxC) {
      launch(cfg, &forward_warp_rows<T>, o, s.rows, z, w, static_cast<T*>(loss),
             static_cast<T*>(lse));
    } else {
      launch(cfg, &forward_block_rows<T>, o, s.rows, z, w, static_cast<T*>(loss),
             static_cast<T*>(lse));
    }
  });
}

void launch_cross_entropy_backward(DType dtype, const CrossEntropyShape& s, void* grad_logits,
                                   const void* grad_loss, const void* logits, const void* lse,
                                   const int64_t* target, const void* weight) {
  const Operands o{target, nullptr, s.classes, s.ignore_index, s.label_smoothing};
  for_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    const auto* z = static_cast<const T*>(logits);
    const auto* w = static_cast<const T*>(weight);
    const auto* gl = static_cast<const T*>(grad_loss);
    const auto* l = static_cast<const T*>(lse);
    auto* gz = static_cast<T*>(grad_logits);
    const LaunchConfig cfg = config("cross_entropy_backward_warp_rows",
                                    "cross_entropy_backward_block_rows", s.rows, s.classes);
    if (s.classes <= kWarpRowsMaxC) {
      launch(cfg, &backward_warp_rows<T>, o, s.rows, z, w, gl, l, gz);
    } else {
      launch(cfg, &backward_block_rows<T>, o, s.rows, z, w, gl, l, gz);
    }
  });
}

}  // namespace ember::EMBER_VARIANT
