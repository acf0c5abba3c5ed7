// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11)
// and the mapping from its output to ember's distributions. Header-only and free of
// host-only code, so the CPU backend and CUDA kernels compute identical numbers:
// element i of a random op with generator state (seed, offset) uses the counter
// (i_lo, i_hi, offset_lo, offset_hi) and the key (seed_lo, seed_hi).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define EMBER_HD __host__ __device__ __forceinline__
#else
#define EMBER_HD inline
#endif

namespace ember::philox {

struct U32x4 {
  uint32_t v[4];
};

EMBER_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

EMBER_HD U32x4 philox4x32_10(U32x4 ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(kM0, ctr.v[0], &hi0);
    uint32_t lo1 = mulhilo(kM1, ctr.v[2], &hi1);
    ctr = U32x4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// The four words for element `index` of a random op.
EMBER_HD U32x4 draw(uint64_t seed, uint64_t offset, uint64_t index) {
  U32x4 ctr{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}};
  return philox4x32_10(ctr, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// Uniform in [0, 1) with 24 bits (f32) or 53 bits (f64).
EMBER_HD float uniform_f32(U32x4 r) { return static_cast<float>(r.v[0] >> 8) * 0x1p-24f; }
EMBER_HD double uniform_f64(U32x4 r) {
  uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11);
  return static_cast<double>(bits) * 0x1p-53;
}

// Standard normal by Box-Muller on two 53-bit uniforms, computed in f64 for both dtypes.
EMBER_HD double normal_f64(U32x4 r) {
  uint64_t a = (static_cast<uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11);
  uint64_t b = (static_cast<uint64_t>(r.v[2]) << 21) ^ (r.v[3] >> 11);
  double u1 = (static_cast<double>(a) + 1.0) * 0x1p-53;  // (0, 1]: log stays finite
  double u2 = static_cast<double>(b) * 0x1p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
}

// An integer in [low, high); the 64-bit modulo bias is below 2^-32 for any range < 2^32.
EMBER_HD int64_t randint(U32x4 r, int64_t low, int64_t high) {
  uint64_t bits = (static_cast<uint64_t>(r.v[0]) << 32) | r.v[1];
  auto range = static_cast<uint64_t>(high - low);
  return low + static_cast<int64_t>(bits % range);
}

// Attention dropout: score (b, h, i, j), at linear index ((b H + h) Tq + i) Tk + j, is kept
// when its 32-bit word is at least dropout_threshold(p) = ceil(p 2^32) (never for p = 1).
// Four consecutive scores share one draw: word index % 4 of counter index / 4.
inline uint64_t dropout_threshold(double p) {
  return static_cast<uint64_t>(std::ceil(p * 4294967296.0));
}
EMBER_HD bool dropout_keep(uint64_t seed, uint64_t offset, uint64_t index, uint64_t threshold) {
  return draw(seed, offset, index >> 2).v[index & 3] >= threshold;
}

}  // namespace ember::philox
