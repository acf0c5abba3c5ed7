// Winograd F(4x4, 3x3) convolution of the cpu backend (kernels/cpu/conv2d_winograd.cpp),
// used by kernels/cpu/conv2d.cpp for 3x3, stride-1, undilated convolutions with enough
// channels per group.
#pragma once

#include <cstdint>

namespace ember::cpu {

// A 3x3, stride-1, undilated convolution: x (N, C, H, W), w (K, C/G, 3, 3), zero padding
// (ph, pw), out (N, K, P, Q) with P = H + 2 ph - 2 and Q = W + 2 pw - 2.
struct WinogradConv {
  int64_t N, C, H, W;
  int64_t K, G;
  int64_t ph, pw;
  int64_t P() const { return H + 2 * ph - 2; }
  int64_t Q() const { return W + 2 * pw - 2; }
};

// out = conv(x, w) + bias (bias may be null). All pointers contiguous.
template <typename T>
void winograd_forward(const WinogradConv& s, const T* x, const T* w, const T* bias, T* out);

// gw (K, C/G, 3, 3) = the gradient of conv(x, w) for w, given gout (N, K, P, Q).
template <typename T>
void winograd_backward_weight(const WinogradConv& s, const T* gout, const T* x, T* gw);

extern template void winograd_forward<float>(const WinogradConv&, const float*, const float*,
                                             const float*, float*);
extern template void winograd_forward<double>(const WinogradConv&, const double*, const double*,
                                              const double*, double*);
extern template void winograd_backward_weight<float>(const WinogradConv&, const float*,
                                                     const float*, float*);
extern template void winograd_backward_weight<double>(const WinogradConv&, const double*,
                                                      const double*, double*);

}  // namespace ember::cpu
