// Plain-loop double references of 2-D pooling, transposed convolution and conv1d, with the
// same rules as reference.h: nothing here calls an ember op or shares ember's kernels'
// window code (kernels/pool_window.h); windows are spelled out as torch documents them.
#pragma once

#include <cstdint>

#include "registry/reference.h"
#include "tensor/backend.h"

namespace ember::ref {

// torch's output size of a fixed-window pooling (with its ceil_mode rule), or, for adaptive
// pooling, (out_h, out_w).
Shape pool2d_output_shape(const Shape& x_shape, const Pool2dParams& p, int64_t out_h = 0,
                          int64_t out_w = 0);
// x (N, C, H, W) or (C, H, W) -> values (..., P, Q); for max, *indices gets the flat
// h W + w of the first maximum in row-major window order (NaN wins, the last NaN seen).
RefTensor pool2d(const RefTensor& x, const Pool2dParams& p, int64_t out_h, int64_t out_w,
                 RefTensor* indices);
// The input gradient for x of shape x_shape from grad_out (..., P, Q) (max: at the
// reference's own argmax of x, which the caller passes).
RefTensor pool2d_backward(const RefTensor& x, const RefTensor& grad_out, const Pool2dParams& p);

// x (N, C, H, W), w (C, K/groups, R, S), bias (K) or nullptr -> (N, K, P, Q):
// y[n, k, h s - pad + r d, ...] += x[n, c, h, w] w[c, k', r, s].
RefTensor conv_transpose2d(const RefTensor& x, const RefTensor& w, const RefTensor* bias,
                           const Conv2dParams& p, int64_t output_padding_h,
                           int64_t output_padding_w);
// x (N, C, L), w (K, C/groups, k), bias (K) or nullptr -> (N, K, L_out).
RefTensor conv1d(const RefTensor& x, const RefTensor& w, const RefTensor* bias, int64_t stride,
                 int64_t padding, int64_t dilation, int64_t groups);

}  // namespace ember::ref
