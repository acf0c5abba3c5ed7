// The packed f32 GEMM (kernels/cpu/gemm_packed.cpp, issue 19) called directly: every edge of
// its tiles (rows around the AVX-512 and AVX2 row tiles, 14 and 6; columns around the
// 32- and 16-wide panels; depths around the 16- and 8-deep transposes and the 256-deep
// blocks, AVX2's one block up to 512 deep; columns past the column blocks, 512 wide or
// narrower for deep blocks; every row count and panel width of the packing transposes),
// the four layouts of a and b, operands and outputs with padded leading dims, other
// strides, accumulation, and rows split over threads that share one packed b, against a
// sum in double.
// Random inputs; outputs poisoned with NaN first (their padding too, which must stay NaN).
// This file needs only gemm_packed.h: ember_gemm_tests runs it on the library's build
// (-march=native: AVX-512 or AVX2), ember_gemm_avx2_tests on gemm_packed.cpp compiled for AVX2.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/cpu/gemm_packed.h"

namespace ember::cpu {
namespace {

struct Case {
  int64_t M, K, N;
  bool a_col, b_col;  // column-major a (M, K) / b (K, N)
  int64_t pad = 0;    // extra floats per leading dim of a, b and c
  bool accumulate = false;
  int64_t step = 1;     // > 1: the other stride of a and b is `step` (no unit stride)
  int threads = 1;      // > 1: gemm_packed_f32_rows_parallel on this many threads
  bool narrow = false;  // gemm_narrow_f32 (b row-major, N <= gemm_narrow_max_cols())
};

// Operand (rows, cols) inside `buf` in the case's layout.
GemmOperand make_operand(std::vector<float>& buf, int64_t rows, int64_t cols, bool col_major,
                         int64_t pad, int64_t step, std::mt19937& gen) {
  std::normal_distribution<float> normal;
  const int64_t ld = (col_major ? rows : cols) * step + pad;
  buf.assign(static_cast<size_t>(ld * (col_major ? cols : rows) + 1), 0.0f);
  for (float& x : buf) x = normal(gen);
  return col_major ? GemmOperand{buf.data(), step, ld} : GemmOperand{buf.data(), ld, step};
}

void check(const Case& c, std::mt19937& gen) {
  SCOPED_TRACE(testing::Message() << c.M << "x" << c.K << " @ " << c.K << "x" << c.N << " a_col="
                                  << c.a_col << " b_col=" << c.b_col << " pad=" << c.pad
                                  << " acc=" << c.accumulate << " step=" << c.step
                                  << " threads=" << c.threads << " narrow=" << c.narrow);
  std::vector<float> abuf, bbuf;
  const GemmOperand a = make_operand(abuf, c.M, c.K, c.a_col, c.pad, c.step, gen);
  const GemmOperand b = make_operand(bbuf, c.K, c.N, c.b_col, c.pad, c.step, gen);
  const int64_t ldc = c.N + c.pad;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> out(static_cast<size_t>(c.M * ldc), nan);
  std::uniform_real_distribution<float> uniform(-1, 1);
  if (c.accumulate)
    for (int64_t m = 0; m < c.M; ++m)
      for (int64_t n = 0; n < c.N; ++n) out[m * ldc + n] = uniform(gen);
  const std::vector<float> before = out;
  if (c.narrow) {
    ASSERT_TRUE(gemm_narrow_f32(out.data(), ldc, a, b, c.M, c.N, c.K, c.accumulate));
  } else if (c.threads > 1) {
    ASSERT_TRUE(gemm_packed_f32_rows_parallel(out.data(), ldc, a, b, c.M, c.N, c.K, c.threads));
  } else {
    gemm_packed_f32(out.data(), ldc, a, b, c.M, c.N, c.K, c.accumulate);
  }
  int64_t bad = 0;
  for (int64_t m = 0; m < c.M; ++m) {
    for (int64_t n = 0; n < ldc; ++n) {
      const float got = out[m * ldc + n];
      if (n >= c.N) {  // the output's padding is not written
        if (!std::isnan(got) && bad++ < 5)
          ADD_FAILURE() << "padding c[" << m << ", " << n << "] written";
        continue;
      }
      double sum = c.accumulate ? before[m * ldc + n] : 0.0, mag = std::abs(sum);
      for (int64_t k = 0; k < c.K; ++k) {
        const double p = double(a.p[m * a.rs + k * a.cs]) * double(b.p[k * b.rs + n * b.cs]);
        sum += p;
        mag += std::abs(p);
      }
      if (!(std::abs(got - sum) <= 1e-5 * mag + 1e-6) && bad++ < 5)
        ADD_FAILURE() << "c[" << m << ", " << n << "] = " << got << ", expected " << sum;
    }
  }
  EXPECT_EQ(bad, 0);
}

// Row and column counts around both builds' tiles (6 and 14 rows, 16 and 32 columns).
const std::vector<int64_t> kSizes = {1, 2, 5, 6, 7, 13, 14, 15, 17, 31, 33, 63, 64, 65, 130, 300};

TEST(GemmPacked, IsAvailable) { EXPECT_TRUE(gemm_packed_available()); }

TEST(GemmPacked, EdgeSizesInEveryLayoutMatchDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(1);
  const int64_t n = static_cast<int64_t>(kSizes.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      // Every (M, N) pair, with a depth that cycles through the sizes as well.
      const int64_t M = kSizes[i], N = kSizes[j], K = kSizes[(i + 3 * j) % n];
      for (int layout = 0; layout < 4; ++layout)
        check({M, K, N, (layout & 1) != 0, (layout & 2) != 0}, gen);
    }
  }
}

TEST(GemmPacked, DeepAndWideBlocksMatchDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(2);
  for (int layout = 0; layout < 4; ++layout) {
    const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
    check({29, 513, 40, a_col, b_col}, gen);    // three depth blocks, a partial transpose block
    check({20, 1100, 45, a_col, b_col}, gen);   // five depth blocks
    check({17, 300, 1100, a_col, b_col}, gen);  // column blocks of 384 (AVX2: 192), a tail
    check({64, 256, 64, a_col, b_col}, gen);    // exactly one block deep (AVX-512)
    check({64, 512, 300, a_col, b_col}, gen);   // one 512 block deep, three column blocks (AVX2)
    check({15, 1, 33, a_col, b_col}, gen);      // depth 1
  }
}

TEST(GemmPacked, PaddedLeadingDimsLeaveThePaddingAlone) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(3);
  for (int layout = 0; layout < 4; ++layout) {
    const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
    check({30, 70, 45, a_col, b_col, 3}, gen);
    check({14, 17, 32, a_col, b_col, 16}, gen);
    check({65, 260, 7, a_col, b_col, 1}, gen);
  }
}

TEST(GemmPacked, AccumulatesIntoTheOutput) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(4);
  for (int layout = 0; layout < 4; ++layout) {
    const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
    check({13, 300, 50, a_col, b_col, 2, true}, gen);   // two depth blocks (AVX-512), one (AVX2)
    check({13, 1030, 50, a_col, b_col, 2, true}, gen);  // five depth blocks
    check({20, 9, 33, a_col, b_col, 0, true}, gen);
  }
}

TEST(GemmPacked, NonUnitStridesMatchDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(5);
  for (int layout = 0; layout < 4; ++layout) {
    const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
    check({15, 40, 35, a_col, b_col, 1, false, 2}, gen);
    check({7, 18, 3, a_col, b_col, 0, true, 3}, gen);
  }
}

// The packing transposes (a row-major A panel, a column-major B panel: 8 x 8 blocks in
// registers on AVX2, 16 x 16 on AVX-512) and the column-major A copy, at every row count of
// an A panel of either build (1..14, and again after a full panel), every panel width up to
// 33 around both builds' 16 and 32, depths around the 8- and 16-deep blocks, contiguous and
// with padded leading dims.
TEST(GemmPacked, PackingEveryRowCountAndPanelWidthMatchesDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(7);
  const std::vector<int64_t> depths = {1, 7, 8, 9, 16, 19, 24, 33};
  for (int64_t M = 1; M <= 20; ++M) {
    for (int64_t N = 1; N <= 33; ++N) {
      const int64_t K = depths[(M + N) % depths.size()];
      for (int layout = 0; layout < 4; ++layout) {
        const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
        check({M, K, N, a_col, b_col, (M + N) % 3 == 0 ? 5 : 0}, gen);
      }
    }
  }
  for (int64_t M : {6, 13, 14, 29}) {
    for (int64_t K : {40, 47, 264, 271}) {
      for (int layout = 0; layout < 4; ++layout) {
        const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
        check({M, K, 27, a_col, b_col, 3}, gen);
        check({M, K, 48, a_col, b_col, 0, true}, gen);
      }
    }
  }
}

// Threads sharing one packed b: uneven row blocks, several depth and column blocks.
TEST(GemmPacked, RowsOnThreadsSharingPackedBMatchDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(6);
  for (int threads : {2, 3}) {
    for (int layout = 0; layout < 4; ++layout) {
      const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
      check({100, 300, 1100, a_col, b_col, 3, false, 1, threads}, gen);
      check({89, 17, 33, a_col, b_col, 0, false, 1, threads}, gen);
      // Five depth blocks; 90 rows are at least two row tiles per thread in both builds.
      check({90, 1030, 300, a_col, b_col, 1, false, 1, threads}, gen);
    }
  }
  // Too few row tiles for the threads: the caller splits instead, nothing is written.
  std::vector<float> a(64, 1.0f), b(64, 1.0f), out(64, -1.0f);
  EXPECT_FALSE(
      gemm_packed_f32_rows_parallel(out.data(), 8, {a.data(), 8, 1}, {b.data(), 8, 1}, 8, 8, 8, 2));
  for (float x : out) EXPECT_EQ(x, -1.0f);
}

// The narrow GEMM: b row-major and read in place, every width up to the widest (16-lane
// vectors on AVX-512, 8 on AVX2, up to 4 of them; a masked last vector), row counts around
// every tile height (24 / NV rows on AVX-512, 12 / NV on AVX2, split into equal tiles),
// a in both layouts, padded leading dims, accumulation, long depths.
TEST(GemmNarrow, EveryWidthAndRowCountMatchesDouble) {
  ASSERT_TRUE(gemm_packed_available());
  const int64_t widest = gemm_narrow_max_cols();
  ASSERT_GE(widest, 32);
  std::mt19937 gen(8);
  const std::vector<int64_t> rows = {1, 2, 3, 5, 6, 7, 8, 11, 12, 13, 16, 23, 24, 25, 32, 49, 100};
  for (int64_t N = 1; N <= widest; ++N) {
    for (size_t i = 0; i < rows.size(); ++i) {
      const int64_t M = rows[i], K = 1 + (N * 7 + M * 3) % 40;
      const bool a_col = (N + i) % 2 == 0;
      const int64_t pad = (N + i) % 3 == 0 ? 5 : 0;
      check({M, K, N, a_col, false, pad, (N + i) % 4 == 1, 1, 1, true}, gen);
    }
  }
}

TEST(GemmNarrow, LongDepthsStridesAndAccumulationMatchDouble) {
  ASSERT_TRUE(gemm_packed_available());
  std::mt19937 gen(9);
  const int64_t widest = gemm_narrow_max_cols();  // 64 on AVX-512, 32 on AVX2
  for (bool a_col : {false, true}) {
    check({16, 3000, 16, a_col, false, 0, true, 1, 1, true}, gen);  // a Winograd weight gradient
    check({64, 500, widest, a_col, false, 2, false, 1, 1, true}, gen);
    check({300, 16, 16, a_col, false, 0, false, 1, 1, true}, gen);  // a Winograd forward
    check({37, 45, widest - 5, a_col, false, 1, true, 1, 1, true}, gen);
  }
}

TEST(GemmNarrow, DeclinesWhatItDoesNotServe) {
  std::vector<float> a(64 * 100, 1.0f), b(100 * 100, 1.0f), out(64 * 100, -1.0f);
  const int64_t widest = gemm_narrow_max_cols();
  // Too wide, and b not row-major: nothing is written.
  EXPECT_FALSE(gemm_narrow_f32(out.data(), 100, {a.data(), 100, 1}, {b.data(), 100, 1}, 8,
                               widest + 1, 8, false));
  EXPECT_FALSE(
      gemm_narrow_f32(out.data(), 100, {a.data(), 100, 1}, {b.data(), 1, 100}, 8, 16, 8, false));
  for (float x : out) EXPECT_EQ(x, -1.0f);
}

}  // namespace
}  // namespace ember::cpu
