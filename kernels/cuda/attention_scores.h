// What the two versions of fused attention share: the SIMT kernels of attention.cu and the
// tensor-core kernels of attention_wmma.cu. The score of a query and a key with the mask, the
// causal limit and dropout (the math of attention.cu's opening comment), the keys a block of
// queries attends to, the compile-time head dims, and the launchers' shared-memory check.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"
#include "tensor/philox.h"

namespace ember::EMBER_VARIANT {

// The score of query i and key j of head bh, and its dropout (MT: the mask's element type,
// bf16/f16 read into T = f32 for 16-bit attention).
template <typename T, typename MT = T>
struct Scores {
  const AttentionArgs& a;
  const MT* mask;  // the (Tq, Tk) slice of head bh, or null
  int64_t bh;
  // Inside both sequences and not causally masked.
  EMBER_DEVICE bool live(int64_t i, int64_t j) const {
    return i < a.Tq && j < a.Tk && !(a.causal && j > i);
  }
  EMBER_DEVICE T score(T qk, int64_t i, int64_t j) const {
    const T s = qk * static_cast<T>(a.scale);
    return mask != nullptr ? s + static_cast<T>(mask[i * a.ms2 + j]) : s;
  }
  // x o Z_ij: 0 when dropped (even for x NaN), x / (1 - p) when kept, x without dropout.
  EMBER_DEVICE T drop(T x, int64_t i, int64_t j) const {
    if (!a.dropout) return x;
    const auto idx = static_cast<uint64_t>((bh * a.Tq + i) * a.Tk + j);
    return philox::dropout_keep(a.seed, a.offset, idx, a.threshold)
               ? x * static_cast<T>(a.keep_scale)
               : T(0);
  }
};

// The keys [0, end) that queries [i0, i0 + rows) attend to.
EMBER_DEVICE int64_t key_end(const AttentionArgs& a, int64_t i0, int64_t rows) {
  return a.causal ? (a.Tk < i0 + rows ? a.Tk : i0 + rows) : a.Tk;
}

template <typename T>
EMBER_DEVICE const T* mask_of(const T* mask, const AttentionArgs& a, int64_t bh) {
  return mask != nullptr ? mask + (bh / a.H) * a.ms0 + (bh % a.H) * a.ms1 : nullptr;
}

// The compile-time head dim for (D, Dv), 0 for the general path.
inline int head_dim_of(const AttentionArgs& a) {
  if (a.D != a.Dv) return 0;
  return a.D == 32 || a.D == 64 || a.D == 128 ? a.D : 0;
}

// On cuda the block's shared memory must fit the device (checked here: a clear error rather
// than the launch's).
inline void check_shared(const char* kernel, const AttentionArgs& a, size_t bytes) {
#if EMBER_VARIANT_IS_CUDA
  if (bytes > rt::props().shared_per_block_optin)
    fail<ValueError>("scaled_dot_product_attention", kernel, " needs ", bytes,
                     " bytes of shared memory for head dims ", a.D, " and ", a.Dv,
                     "; the device offers ", rt::props().shared_per_block_optin);
#else
  (void)kernel, (void)a, (void)bytes;
#endif
}

}  // namespace ember::EMBER_VARIANT
