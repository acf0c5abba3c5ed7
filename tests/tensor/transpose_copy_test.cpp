// The cpu copy's tiled path for transposing layouts (kernels/cpu/elementwise.cpp,
// copy_transposed): permute + contiguous of random tensors whose sizes are not multiples
// of the tile, with leading batch dims and with casts, checked element by element
// against the strided source.
#include <gtest/gtest.h>

#include <vector>

#include "ember/ember.h"

namespace ember {
namespace {

// x (A, B, C) permuted by perm and made contiguous equals x read through the permutation.
void check_permuted_copy(const Shape& shape, const DimList& perm, DType out_dtype) {
  Tensor x = randn(shape);
  Tensor y = x.permute(perm).contiguous();
  y = y.to(out_dtype);  // a second copy, casting, of the already contiguous result
  // One copy from the strided view, casting when out_dtype is not f32.
  Tensor v = x.permute(perm);
  Tensor z = out_dtype == DType::f32 ? v.contiguous() : v.to(out_dtype);
  ASSERT_TRUE(z.is_contiguous());
  const std::vector<float> xs = x.to_vector<float>();
  const std::vector<double> ys = y.to(DType::f64).to_vector<double>();
  const std::vector<double> zs = z.to(DType::f64).to_vector<double>();
  const Shape ps = {shape[static_cast<size_t>(perm[0])], shape[static_cast<size_t>(perm[1])],
                    shape[static_cast<size_t>(perm[2])]};
  const int64_t xst[3] = {shape[1] * shape[2], shape[2], 1};
  size_t k = 0;
  for (int64_t i = 0; i < ps[0]; ++i)
    for (int64_t j = 0; j < ps[1]; ++j)
      for (int64_t l = 0; l < ps[2]; ++l, ++k) {
        const int64_t src = i * xst[perm[0]] + j * xst[perm[1]] + l * xst[perm[2]];
        const auto want = static_cast<double>(static_cast<float>(xs[static_cast<size_t>(src)]));
        ASSERT_EQ(ys[k], want) << "at " << i << "," << j << "," << l;
        ASSERT_EQ(zs[k], want) << "at " << i << "," << j << "," << l;
      }
}

TEST(TransposeCopy, LeadingDimsMovedLast) {  // what a sum over dims 0, 1 does
  check_permuted_copy({5, 67, 45}, {2, 0, 1}, DType::f32);
}
TEST(TransposeCopy, BatchedTransposeOfTheLastTwoDims) {
  check_permuted_copy({3, 71, 39}, {0, 2, 1}, DType::f32);
}
TEST(TransposeCopy, CastingTranspose) { check_permuted_copy({2, 100, 33}, {0, 2, 1}, DType::f64); }
TEST(TransposeCopy, LargeEnoughForThreads) {
  check_permuted_copy({4, 130, 97}, {2, 0, 1}, DType::f32);
}

}  // namespace
}  // namespace ember
