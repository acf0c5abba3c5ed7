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

}  // namespace
}  // namespace ember
