// The cpu matmul's split of one large product over threads (kernels/cpu/matmul.cpp, issue
// 19): K-split (small output, long K, partial outputs summed), N-split (column blocks,
// some of them empty when there are more threads than 16-column blocks) and M-split,
// for every layout of the operands (row-major, and column-major as .t() gives), against
// a double-precision reference. Random inputs; the output block handed out by the host
// cache is poisoned with NaN first.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "ember/ember.h"
#include "omp_threads.h"

namespace ember {
namespace {

using testing_threads::Threads;

// a (M, K) @ b (K, N), with a built as (K, M).t() when a_t and b as (N, K).t() when b_t,
// compared with a sum in double, elementwise within 1e-5 (f32; 1e-12 for f64) of
// sum_k |a_mk b_kn|.
template <typename T = float>
void check_product(int64_t M, int64_t K, int64_t N, bool a_t, bool b_t) {
  SCOPED_TRACE(testing::Message() << M << "x" << K << " @ " << K << "x" << N << " a_t=" << a_t
                                  << " b_t=" << b_t);
  TensorOptions o;
  o.dtype = std::is_same_v<T, double> ? DType::f64 : DType::f32;
  const double tol = std::is_same_v<T, double> ? 1e-12 : 1e-5;
  const Tensor a = a_t ? randn({K, M}, o).t() : randn({M, K}, o);
  const Tensor b = b_t ? randn({N, K}, o).t() : randn({K, N}, o);
  { Tensor poison = full({M, N}, std::nan(""), o); }  // its block is reused for the output
  const Tensor out = a.matmul(b);
  ASSERT_EQ(out.sizes(), (Shape{M, N}));
  const Tensor ac = a.contiguous(), bc = b.contiguous(), oc = out.contiguous();
  const T* pa = ac.data_ptr<T>();
  const T* pb = bc.data_ptr<T>();
  const T* po = oc.data_ptr<T>();
  int64_t bad = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double sum = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(pa[m * K + k]) * double(pb[k * N + n]);
        sum += p;
        mag += std::abs(p);
      }
      const double got = po[m * N + n];
      if (!(std::abs(got - sum) <= tol * mag + tol / 10) && bad++ < 5)
        ADD_FAILURE() << "out[" << m << ", " << n << "] = " << got << ", expected " << sum;
    }
  }
  EXPECT_EQ(bad, 0);
}

void check_all_layouts(int64_t M, int64_t K, int64_t N) {
  for (bool a_t : {false, true})
    for (bool b_t : {false, true}) check_product(M, K, N, a_t, b_t);
}

TEST(GemmSplit, KSplitOfALongDepthMatchesDouble) {
  manual_seed(1);
  for (int threads : {2, 3}) {
    Threads guard(threads);
    check_all_layouts(7, 5003, 23);  // tails of every tile and of K's vectors
    check_all_layouts(32, 3001, 128);
  }
}

TEST(GemmSplit, F64SplitsOnEigenMatchDouble) {
  manual_seed(4);
  Threads guard(3);
  for (bool a_t : {false, true}) {
    for (bool b_t : {false, true}) {
      check_product<double>(7, 5003, 23, a_t, b_t);  // K-split
      check_product<double>(13, 400, 52, a_t, b_t);  // N-split, an empty block
      check_product<double>(301, 64, 40, a_t, b_t);  // M-split
    }
  }
}

TEST(GemmSplit, NSplitWithUnevenAndEmptyBlocksMatchesDouble) {
  manual_seed(2);
  for (int threads : {2, 3}) {
    Threads guard(threads);
    check_all_layouts(13, 400, 52);    // 3 threads: blocks of 32, 20 and 0 columns
    check_all_layouts(30, 128, 1001);  // the seed step's input gradient, narrower
    check_all_layouts(128, 32, 777);   // its weight gradient, narrower
    check_all_layouts(99, 8, 21520);   // an 8.5 MB output: streaming stores, tails
  }
}

TEST(GemmSplit, MSplitOfATallProductMatchesDouble) {
  manual_seed(3);
  for (int threads : {2, 3}) {
    Threads guard(threads);
    check_all_layouts(301, 64, 40);
  }
}

// out = a @ b for (B, M, K) @ (B, K, N) operands of any layout (a batch may be broadcast,
// stride 0), against a sum in double per batch.
void check_batched(const Tensor& a, const Tensor& b) {
  SCOPED_TRACE(testing::Message() << str(a.sizes()) << " strides " << str(a.strides()) << " @ "
                                  << str(b.sizes()) << " strides " << str(b.strides()));
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  { Tensor poison = full({B, M, N}, std::nan("")); }  // its block is reused for the output
  const Tensor out = a.matmul(b);
  ASSERT_EQ(out.sizes(), (Shape{B, M, N}));
  const Tensor ac = a.contiguous(), bc = b.contiguous(), oc = out.contiguous();
  const float* pa = ac.data_ptr<float>();
  const float* pb = bc.data_ptr<float>();
  const float* po = oc.data_ptr<float>();
  int64_t bad = 0;
  for (int64_t i = 0; i < B; ++i) {
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double sum = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(pa[(i * M + m) * K + k]) * double(pb[(i * K + k) * N + n]);
          sum += p;
          mag += std::abs(p);
        }
        const double got = po[(i * M + m) * N + n];
        if (!(std::abs(got - sum) <= 1e-5 * mag + 1e-6) && bad++ < 5)
          ADD_FAILURE() << "out[" << i << ", " << m << ", " << n << "] = " << got << ", expected "
                        << sum;
      }
    }
  }
  EXPECT_EQ(bad, 0);
}

// A (B, rows, cols) f32 operand: column-major matrices when `col`, and with `pad` extra
// floats per leading dim (a slice of a wider tensor) when pad > 0.
Tensor operand(int64_t B, int64_t rows, int64_t cols, bool col, int64_t pad) {
  if (col) return randn({B, cols, rows + pad}).slice(2, 0, rows).transpose(1, 2);
  return randn({B, rows, cols + pad}).slice(2, 0, cols);
}

// The f32 products of every size around the packed GEMM's tiles (14 x 32 with AVX-512,
// 6 x 16 with AVX2) through matmul: single products (on 2 threads large ones are split),
// batches, a broadcast batch, padded leading dims, every layout, on 1 and 2 threads.
TEST(GemmPackedMatmul, EdgeSizesBatchesAndStridesMatchDouble) {
  manual_seed(5);
  const std::vector<int64_t> sizes = {1, 2, 5, 6, 7, 13, 14, 15, 17, 63, 64, 65, 130, 300};
  const int64_t n = static_cast<int64_t>(sizes.size());
  for (int threads : {1, 2}) {
    Threads guard(threads);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t M = sizes[i], N = sizes[(i * 5 + 3) % n], K = sizes[(i * 3 + 7) % n];
      for (int layout = 0; layout < 4; ++layout) {
        const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
        check_batched(operand(1, M, K, a_col, 0), operand(1, K, N, b_col, 0));
        check_batched(operand(3, M, K, a_col, 2), operand(3, K, N, b_col, 5));
        check_batched(operand(1, M, K, a_col, 0).expand({4, M, K}), operand(4, K, N, b_col, 1));
      }
    }
    // Large enough to be split over threads (M-split, N-split), with padded operands.
    for (int layout = 0; layout < 4; ++layout) {
      const bool a_col = (layout & 1) != 0, b_col = (layout & 2) != 0;
      check_batched(operand(1, 300, 130, a_col, 3), operand(1, 130, 65, b_col, 1));
      check_batched(operand(1, 17, 64, a_col, 0), operand(1, 64, 1100, b_col, 2));
    }
  }
}

}  // namespace
}  // namespace ember
