// CUDA's built-in vector types for host compilation: float4, int2, dim3, ... with the
// alignment CUDA gives them, so vector loads in kernels have the same preconditions.
#pragma once

#include <cstdint>

#define EMBER_SIM_VEC1(T, N, A) \
  struct alignas(A) N##1 {      \
    T x;                        \
  };
#define EMBER_SIM_VEC2(T, N, A) \
  struct alignas(A) N##2 {      \
    T x, y;                     \
  };
#define EMBER_SIM_VEC3(T, N) \
  struct N##3 {              \
    T x, y, z;               \
  };
#define EMBER_SIM_VEC4(T, N, A) \
  struct alignas(A) N##4 {      \
    T x, y, z, w;               \
  };
#define EMBER_SIM_MAKE1(T, N) \
  inline N##1 make_##N##1(T x) { return {x}; }
#define EMBER_SIM_MAKE2(T, N) \
  inline N##2 make_##N##2(T x, T y) { return {x, y}; }
#define EMBER_SIM_MAKE3(T, N) \
  inline N##3 make_##N##3(T x, T y, T z) { return {x, y, z}; }
#define EMBER_SIM_MAKE4(T, N) \
  inline N##4 make_##N##4(T x, T y, T z, T w) { return {x, y, z, w}; }
// One family: N1..N4 with their make_ functions; A2/A4 are CUDA's alignments.
// Kept by hand: clang-format 14 lays this body out differently on each run.
// clang-format off
#define EMBER_SIM_VECTOR_FAMILY(T, N, A1, A2, A4)                           \
  EMBER_SIM_VEC1(T, N, A1) EMBER_SIM_VEC2(T, N, A2) EMBER_SIM_VEC3(T, N)    \
  EMBER_SIM_VEC4(T, N, A4) EMBER_SIM_MAKE1(T, N) EMBER_SIM_MAKE2(T, N)      \
  EMBER_SIM_MAKE3(T, N) EMBER_SIM_MAKE4(T, N)
// clang-format on

EMBER_SIM_VECTOR_FAMILY(signed char, char, 1, 2, 4)
EMBER_SIM_VECTOR_FAMILY(unsigned char, uchar, 1, 2, 4)
EMBER_SIM_VECTOR_FAMILY(short, short, 2, 4, 8)
EMBER_SIM_VECTOR_FAMILY(unsigned short, ushort, 2, 4, 8)
EMBER_SIM_VECTOR_FAMILY(int, int, 4, 8, 16)
EMBER_SIM_VECTOR_FAMILY(unsigned int, uint, 4, 8, 16)
EMBER_SIM_VECTOR_FAMILY(float, float, 4, 8, 16)
EMBER_SIM_VECTOR_FAMILY(long long, longlong, 8, 16, 16)
EMBER_SIM_VECTOR_FAMILY(unsigned long long, ulonglong, 8, 16, 16)
EMBER_SIM_VECTOR_FAMILY(double, double, 8, 16, 16)

#undef EMBER_SIM_VECTOR_FAMILY
#undef EMBER_SIM_VEC1
#undef EMBER_SIM_VEC2
#undef EMBER_SIM_VEC3
#undef EMBER_SIM_VEC4
#undef EMBER_SIM_MAKE1
#undef EMBER_SIM_MAKE2
#undef EMBER_SIM_MAKE3
#undef EMBER_SIM_MAKE4

// Launch dimensions: unspecified components are 1, as in CUDA.
struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
      : x(vx), y(vy), z(vz) {}                            // NOLINT
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}     // NOLINT: implicit as in CUDA
  constexpr operator uint3() const { return {x, y, z}; }  // NOLINT
};
