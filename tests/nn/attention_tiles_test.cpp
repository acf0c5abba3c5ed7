// The f32 tiles of the cpu attention (kernels/cpu/attention_f32.cpp, issue 19): NaN goes
// where the f64 (Eigen) path sends it, causal masking hides a NaN key from earlier
// queries, and the forward does not depend on how query blocks are split over threads.
// The numbers themselves are checked against f64 by the registry's tiles_* cases.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include <ember/ember.h>

namespace ember {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// q, k, v (1, 2, T, 32) f32: D a multiple of 8, no mask, no dropout: the tiles' shape.
struct Inputs {
  Tensor q, k, v;
};
Inputs inputs(int64_t T) {
  manual_seed(7);
  return {randn({1, 2, T, 32}), randn({1, 2, T, 32}), randn({1, 2, T, 32})};
}

// Which of head 0's rows of out (1, 2, T, 32) hold a NaN.
std::vector<bool> nan_rows(const Tensor& out) {
  const std::vector<float> o = out.to_vector<float>();
  const int64_t T = out.size(2);
  std::vector<bool> rows(static_cast<size_t>(T), false);
  for (int64_t r = 0; r < T; ++r)
    for (int64_t c = 0; c < 32; ++c)
      if (std::isnan(o[r * 32 + c])) rows[static_cast<size_t>(r)] = true;
  return rows;
}

TEST(AttentionTiles, NaNQueryRowStaysInItsRow) {
  Inputs in = inputs(40);
  in.q.data_ptr<float>()[5 * 32 + 3] = kNaN;  // head 0, query 5
  for (bool causal : {false, true}) {
    const Tensor out = scaled_dot_product_attention(in.q, in.k, in.v, Tensor(), 0.0, causal);
    const Tensor ref = scaled_dot_product_attention(in.q.to(DType::f64), in.k.to(DType::f64),
                                                    in.v.to(DType::f64), Tensor(), 0.0, causal);
    const std::vector<bool> got = nan_rows(out);
    for (int64_t r = 0; r < 40; ++r) EXPECT_EQ(got[static_cast<size_t>(r)], r == 5) << r;
    EXPECT_EQ(got, nan_rows(ref.to(DType::f32)));
  }
}

TEST(AttentionTiles, CausalHidesNaNKeyFromEarlierQueries) {
  Inputs in = inputs(100);                     // two query blocks of 64
  in.k.data_ptr<float>()[70 * 32 + 1] = kNaN;  // head 0, key 70
  const Tensor out = scaled_dot_product_attention(in.q, in.k, in.v, Tensor(), 0.0, true);
  const std::vector<bool> got = nan_rows(out);
  for (int64_t r = 0; r < 100; ++r) EXPECT_EQ(got[static_cast<size_t>(r)], r >= 70) << r;
  // Head 1 never sees the NaN.
  const std::vector<float> o = out.to_vector<float>();
  for (size_t e = 100 * 32; e < o.size(); ++e) ASSERT_TRUE(std::isfinite(o[e])) << e;
}

TEST(AttentionTiles, ForwardIndependentOfThreadSplit) {
  // One (b, h) of 300 queries: with several threads its query blocks are split into
  // tasks; every row must come out bit for bit as on one thread.
  manual_seed(3);
  const Tensor q = randn({1, 1, 300, 64}), k = randn({1, 1, 300, 64}), v = randn({1, 1, 300, 64});
  const int threads = omp_get_max_threads();
  for (bool causal : {false, true}) {
    omp_set_num_threads(1);
    const std::vector<float> one =
        scaled_dot_product_attention(q, k, v, Tensor(), 0.0, causal).to_vector<float>();
    omp_set_num_threads(4);
    const std::vector<float> four =
        scaled_dot_product_attention(q, k, v, Tensor(), 0.0, causal).to_vector<float>();
    omp_set_num_threads(threads);
    ASSERT_EQ(one.size(), four.size());
    for (size_t e = 0; e < one.size(); ++e) {
      ASSERT_TRUE(std::isfinite(one[e])) << e;
      ASSERT_EQ(one[e], four[e]) << e;
    }
  }
}

}  // namespace
}  // namespace ember
