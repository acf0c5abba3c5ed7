// The f32 fast path of the cpu fused attention (issue 19): register-blocked AVX2/FMA tiles
// in place of attention.cpp's Eigen GEMMs, which spent most of their time packing the
// small (64 x 32) operands of the GPT step. Used for f32 without mask and without dropout
// when D and Dv are multiples of 8 (the padded lanes of a tile are keys, never features);
// attention.cpp keeps every other case.
#pragma once

#include <cstdint>

namespace ember::cpu::attn_f32 {

// Whether this build has the tiles (AVX2 and FMA) and they take this shape.
bool supported(int64_t D, int64_t Dv, bool masked, bool dropout);

// One (batch, head) and query rows [ia, ib): q (Tq, D), k (Tk, D), v (Tk, Dv) of that
// head; writes out rows and lse of those queries. `causal` masks key j > query i. K^T is
// packed once per call, so a call should take many query rows.
void forward_rows(const float* q, const float* k, const float* v, float* out, float* lse,
                  int64_t Tk, int64_t D, int64_t Dv, int64_t ia, int64_t ib, float scale,
                  bool causal);

// The backward of one (batch, head) over keys [ka, kb): dk, dv rows [ka, kb) written (not
// added), the keys' contribution to dq (Tq, D) added. Pointers are that head's.
void backward_range(const float* q, const float* k, const float* v, const float* out,
                    const float* lse, const float* dout, float* dq, float* dk, float* dv,
                    int64_t Tq, int64_t D, int64_t Dv, int64_t ka, int64_t kb, float scale,
                    bool causal);

}  // namespace ember::cpu::attn_f32
