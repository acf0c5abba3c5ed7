// Winograd F(4x4, 3x3) convolution of the cpu backend, used by kernels/cpu/conv2d.cpp for
// 3x3, stride-1, undilated convolutions with enough channels per group. Two layouts:
// kernels/cpu/conv2d_winograd.cpp vectorizes the transforms along a tile row (large
// images), kernels/cpu/conv2d_winograd_channels.cpp over channels (small images, whose
// tile rows are too short to fill a vector); winograd_forward and
// winograd_backward_weight pick one with winograd_by_channels.
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

// Whether the channel-vectorized layout serves s (conv2d_winograd_channels.cpp).
bool winograd_by_channels(const WinogradConv& s);

// out = conv(x, w) + bias (bias may be null). All pointers contiguous.
template <typename T>
void winograd_forward(const WinogradConv& s, const T* x, const T* w, const T* bias, T* out);

// gw (K, C/G, 3, 3) = the gradient of conv(x, w) for w, given gout (N, K, P, Q).
template <typename T>
void winograd_backward_weight(const WinogradConv& s, const T* gout, const T* x, T* gw);

// The two layouts, for any s (the choice above is a matter of speed only).
template <typename T>
void winograd_forward_rows(const WinogradConv& s, const T* x, const T* w, const T* bias, T* out);
template <typename T>
void winograd_backward_weight_rows(const WinogradConv& s, const T* gout, const T* x, T* gw);
template <typename T>
void winograd_forward_channels(const WinogradConv& s, const T* x, const T* w, const T* bias,
                               T* out);
template <typename T>
void winograd_backward_weight_channels(const WinogradConv& s, const T* gout, const T* x, T* gw);

#define EMBER_WINOGRAD_DECLARE(T, suffix)                                                   \
  extern template void winograd_forward##suffix<T>(const WinogradConv&, const T*, const T*, \
                                                   const T*, T*);                           \
  extern template void winograd_backward_weight##suffix<T>(const WinogradConv&, const T*,   \
                                                           const T*, T*);
EMBER_WINOGRAD_DECLARE(float, )
EMBER_WINOGRAD_DECLARE(double, )
EMBER_WINOGRAD_DECLARE(float, _rows)
EMBER_WINOGRAD_DECLARE(double, _rows)
EMBER_WINOGRAD_DECLARE(float, _channels)
EMBER_WINOGRAD_DECLARE(double, _channels)
#undef EMBER_WINOGRAD_DECLARE

}  // namespace ember::cpu
