// Multinomial sampling (torch.multinomial) from rows of non-negative weights.
//
// Math:   sample s of row r takes u = uniform_f64(philox(seed, offset, r S + s)); with
//         replacement the first c whose running f64 sum of weights exceeds u * total, without
//         replacement the same over the weights not drawn yet (kernels/multinomial_draw.h,
//         shared with the cpu backend, so every device draws the same categories).
// Shapes: probs (R, C) f32/f64/bf16/f16, workspace (R, C) f64, out (R, S) i64, contiguous.
// Split:  with replacement: v1 one thread per row writes the row's running sums (serial, in
//            the cpu's order, so the sums are bit for bit the cpu's), then one thread per
//            sample binary-searches them (grid-stride over R S).
//         without replacement: one thread per row makes its S draws in sequence, each a
//            pass over the C remaining weights.
// Cost:   with R C adds + R S log2(C) compares; without R S C; bytes R C (sizeof(T) + 16)
//         + 8 R S.
// Pre:    the op checked the weights (finite, >= 0, positive sums, enough positive ones).
#include "kernels/cuda/multinomial.h"

#include <cstdint>

#include "kernels/cuda/device_utils.h"
#include "kernels/multinomial_draw.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void running_sums_kernel(int64_t R, int64_t C, const T* probs, double* cdf) {
  for (int64_t r = global_thread(); r < R; r += grid_threads()) {
    double acc = 0.0;
    for (int64_t c = 0; c < C; ++c) cdf[r * C + c] = acc += static_cast<double>(probs[r * C + c]);
  }
}

__global__ void draw_kernel(int64_t R, int64_t C, int64_t S, uint64_t seed, uint64_t offset,
                            const double* cdf, int64_t* out) {
  for (int64_t e = global_thread(); e < R * S; e += grid_threads()) {
    const int64_t r = e / S, s = e % S;
    out[e] =
        sampling::draw_from_cdf(cdf + r * C, C, sampling::sample_uniform(seed, offset, r, S, s));
  }
}

template <typename T>
__global__ void sequential_kernel(int64_t R, int64_t C, int64_t S, uint64_t seed, uint64_t offset,
                                  const T* probs, double* work, int64_t* out) {
  for (int64_t r = global_thread(); r < R; r += grid_threads()) {
    double* w = work + r * C;
    for (int64_t c = 0; c < C; ++c) w[c] = static_cast<double>(probs[r * C + c]);
    for (int64_t s = 0; s < S; ++s)
      out[r * S + s] =
          sampling::draw_remaining(w, C, sampling::sample_uniform(seed, offset, r, S, s));
  }
}

template <typename T>
void launch_typed(const MultinomialShape& s, int64_t* out, const void* in, double* work) {
  const auto* probs = static_cast<const T*>(in);
  const dim3 row_grid(grid_for(s.rows, kThreads));
  if (s.replacement) {
    launch(LaunchConfig{"multinomial_sums", row_grid, dim3(kThreads)}, &running_sums_kernel<T>,
           s.rows, s.cats, probs, work);
    launch(LaunchConfig{"multinomial_draw", dim3(grid_for(s.rows * s.samples, kThreads)),
                        dim3(kThreads)},
           &draw_kernel, s.rows, s.cats, s.samples, s.seed, s.offset,
           static_cast<const double*>(work), out);
    return;
  }
  launch(LaunchConfig{"multinomial_sequential", row_grid, dim3(kThreads)}, &sequential_kernel<T>,
         s.rows, s.cats, s.samples, s.seed, s.offset, probs, work, out);
}

}  // namespace

void launch_multinomial(DType dtype, const MultinomialShape& s, int64_t* out, const void* probs,
                        double* workspace) {
  switch (dtype) {
    case DType::f32: return launch_typed<float>(s, out, probs, workspace);
    case DType::f64: return launch_typed<double>(s, out, probs, workspace);
    case DType::bf16: return launch_typed<bf16>(s, out, probs, workspace);  // issue 16
    case DType::f16: return launch_typed<f16>(s, out, probs, workspace);
    case DType::i64:
    case DType::b8: break;
    default: break;  // the dtypes of issue 16 have no kernel here
  }
  fail<InternalError>("multinomial", "no kernel for ", dtype);
}

}  // namespace ember::EMBER_VARIANT
