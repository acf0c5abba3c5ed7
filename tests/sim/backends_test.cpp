// ember::backends (tensor/backends.h): the typed options reach the kernels (the simulator's
// schedule and workers, the attention path, observed on sim), read back what was set, and
// take their initial values from the environment variables, once. The environment cases
// run in processes of their own, which ctest starts with the variables set
// (tests/sim/CMakeLists.txt); run without them, they skip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "sim_test_util.h"
#include "tensor/backends.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace ember::simtest {
namespace {

using ::testing::HasSubstr;

// Sets an option for a scope and restores the value before.
template <typename T>
class Scoped {
 public:
  Scoped(backends::Setting<T>& s, T value) : s_(s), before_(s.get()) { s_ = value; }
  ~Scoped() { s_ = before_; }
  Scoped(const Scoped&) = delete;
  Scoped& operator=(const Scoped&) = delete;

 private:
  backends::Setting<T>& s_;
  T before_;
};

// ticket[t] = the order in which thread t of the one block ran (no barrier: each thread
// runs to its end once resumed).
__global__ void take_tickets(unsigned* counter, unsigned* ticket) {
  ticket[threadIdx.x] = atomicAdd(counter, 1u);
}

std::vector<unsigned> ticket_order() {
  DeviceBuffer<unsigned> counter(std::vector<unsigned>{0u}), ticket(64);
  run("take_tickets", 1, 64, &take_tickets, counter.get(), ticket.get());
  return ticket.host();
}

TEST(Backends, SimScheduleSettingOrdersTheThreadsOfABlock) {
  std::vector<unsigned> in_order(64);
  std::iota(in_order.begin(), in_order.end(), 0u);
  {
    const Scoped schedule(backends::sim::schedule, backends::SimSchedule::sequential);
    EXPECT_EQ(ticket_order(), in_order);
  }
  const Scoped schedule(backends::sim::schedule, backends::SimSchedule::shuffled);
  const Scoped seed(backends::sim::seed, uint64_t{1234});
  const std::vector<unsigned> shuffled = ticket_order();
  EXPECT_NE(shuffled, in_order);
  EXPECT_TRUE(std::is_permutation(shuffled.begin(), shuffled.end(), in_order.begin()));
  EXPECT_EQ(ticket_order(), shuffled) << "one seed, one order: runs repeat";
  backends::sim::seed = 99;
  EXPECT_NE(ticket_order(), shuffled) << "another seed, another order";
}

TEST(Backends, SimWorkersSettingIsTheSchedulersThreadCount) {
  const Scoped workers(backends::sim::workers, 3);
  EXPECT_EQ(sim::workers(), 3);
  backends::sim::workers = 0;  // OpenMP's count
  EXPECT_GE(sim::workers(), 1);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.cpu().to(DType::f64).to_vector<double>();
  const std::vector<double> y = b.cpu().to(DType::f64).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// On sim the bf16 path's products are bf16 roundings (about 3 significant digits), the f32
// path's are f32: which path ran shows in the error against an f64 reference.
TEST(Backends, AttentionSettingChoosesTheSimKernels) {
  manual_seed(11);
  const Tensor q = randn({1, 2, 40, 64}, {.dtype = DType::f64});
  const Tensor k = randn({1, 2, 50, 64}, {.dtype = DType::f64});
  const Tensor v = randn({1, 2, 50, 64}, {.dtype = DType::f64});
  const Tensor want = scaled_dot_product_attention(q, k, v);  // cpu, f64
  auto on_sim = [&] {
    auto f32 = [](const Tensor& t) { return t.to(Device::sim(), DType::f32); };
    return scaled_dot_product_attention(f32(q), f32(k), f32(v));
  };
  {
    const Scoped path(backends::cuda::attention, backends::AttentionPath::f32);
    EXPECT_LT(max_abs_diff(on_sim(), want), 1e-5);
  }
  const Scoped path(backends::cuda::attention, backends::AttentionPath::bf16);
  const double bf16_error = max_abs_diff(on_sim(), want);
  EXPECT_GT(bf16_error, 1e-4) << "bf16 products should show in the result";
  EXPECT_LT(bf16_error, 3e-2);
}

// cuBLAS exists only on cuda: sim runs ember's GEMM whatever the option says.
TEST(Backends, CudaSettingsReadBackAndLeaveSimMatmulCorrect) {
  const Scoped matmul(backends::cuda::matmul, backends::GemmImpl::ember);
  EXPECT_EQ(backends::cuda::matmul.get(), backends::GemmImpl::ember);
  backends::cuda::matmul = backends::GemmImpl::cublas;
  EXPECT_EQ(backends::cuda::matmul.get(), backends::GemmImpl::cublas);
  manual_seed(5);
  const Tensor a = randn({30, 20}), b = randn({20, 10});
  const Tensor on_sim = a.to(Device::sim()).matmul(b.to(Device::sim()));
  EXPECT_TRUE(allclose(on_sim.cpu(), a.matmul(b), 1e-5, 1e-5));

  const Scoped conv(backends::cuda::conv, backends::ConvImpl::cudnn);
  EXPECT_EQ(backends::cuda::conv.get(), backends::ConvImpl::cudnn);
  const Scoped tf32(backends::cuda::conv_tf32, true);
  EXPECT_TRUE(backends::cuda::conv_tf32);
  const Scoped sync(backends::cuda::sync_launches, true);
  EXPECT_TRUE(backends::cuda::sync_launches);
  const Scoped stack(backends::sim::stack_kb, 32);
  EXPECT_EQ(backends::sim::stack_kb.get(), 32);
}

// The defaults, for each option whose variable this process does not set.
TEST(Backends, DefaultsWithoutTheEnvironment) {
  auto unset = [](const auto& s) { return std::getenv(s.env_name()) == nullptr; };
  if (unset(backends::cuda::matmul)) {
    EXPECT_EQ(backends::cuda::matmul.get(), backends::GemmImpl::cublas);
  }
  if (unset(backends::cuda::conv)) {
    EXPECT_EQ(backends::cuda::conv.get(), backends::ConvImpl::automatic);
  }
  // torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32 (issue 16)
  if (unset(backends::cudnn::allow_tf32)) {
    EXPECT_TRUE(backends::cudnn::allow_tf32);
  }
  if (unset(backends::cuda::matmul_allow_tf32)) {
    EXPECT_FALSE(backends::cuda::matmul_allow_tf32);
  }
  if (unset(backends::cuda::attention)) {
    EXPECT_EQ(backends::cuda::attention.get(), backends::AttentionPath::f32);
  }
  if (unset(backends::cuda::sync_launches)) {
    EXPECT_FALSE(backends::cuda::sync_launches);
  }
  if (unset(backends::cudnn::benchmark)) {
    EXPECT_FALSE(backends::cudnn::benchmark);
  }
  if (unset(backends::sim::schedule)) {
    EXPECT_EQ(backends::sim::schedule.get(), backends::SimSchedule::sequential);
    EXPECT_EQ(backends::sim::seed.get(), 0x5EEDu);
  }
  if (unset(backends::sim::workers)) {
    EXPECT_EQ(backends::sim::workers.get(), 0);
  }
  if (unset(backends::sim::stack_kb)) {
    EXPECT_EQ(backends::sim::stack_kb.get(), 0);
  }
}

// ctest runs this with EMBER_CUDA_GEMM=tiled EMBER_CONV=ember EMBER_CONV_TF32=0 EMBER_MATMUL_TF32=1
// EMBER_ATTENTION_BF16=1 EMBER_CUDA_SYNC=1 EMBER_CUDNN_BENCHMARK=1 EMBER_SIM_SCHEDULE=shuffled:77
// EMBER_SIM_WORKERS=3 EMBER_SIM_STACK_KB=128.
TEST(BackendsEnvironment, VariablesGiveTheInitialValuesOnce) {
  if (std::getenv("EMBER_SIM_STACK_KB") == nullptr)
    GTEST_SKIP() << "run by ctest (ember_backends_environment) with the variables set";
  EXPECT_EQ(backends::cuda::matmul.get(), backends::GemmImpl::ember);
  EXPECT_EQ(backends::cuda::conv.get(), backends::ConvImpl::ember);
  EXPECT_FALSE(backends::cudnn::allow_tf32);  // both against their defaults (issue 16)
  EXPECT_TRUE(backends::cuda::matmul_allow_tf32);
  EXPECT_EQ(backends::cuda::attention.get(), backends::AttentionPath::bf16);
  EXPECT_TRUE(backends::cuda::sync_launches);
  EXPECT_TRUE(backends::cudnn::benchmark);
  EXPECT_EQ(backends::sim::schedule.get(), backends::SimSchedule::shuffled);
  EXPECT_EQ(backends::sim::seed.get(), 77u);
  EXPECT_EQ(backends::sim::workers.get(), 3);
  EXPECT_EQ(backends::sim::stack_kb.get(), 128);
  EXPECT_EQ(sim::workers(), 3);
  // The simulator runs with them: shuffled threads on 128 KiB stacks.
  std::vector<unsigned> in_order(64);
  std::iota(in_order.begin(), in_order.end(), 0u);
  EXPECT_NE(ticket_order(), in_order);

  // Read once: a later change of the environment is not seen; a value set from C++ is.
  ::setenv("EMBER_SIM_WORKERS", "5", 1);
  EXPECT_EQ(backends::sim::workers.get(), 3);
  backends::sim::workers = 2;
  EXPECT_EQ(backends::sim::workers.get(), 2);
}

// ctest runs this with EMBER_CONV=winograd: a malformed value is an error naming the
// variable, at every use of the option (not only the first).
TEST(BackendsEnvironment, MalformedConvChoiceIsAValueError) {
  const char* conv = std::getenv("EMBER_CONV");
  if (conv == nullptr || std::string(conv) != "winograd")
    GTEST_SKIP() << "run by ctest (ember_backends_bad_environment) with EMBER_CONV=winograd";
  for (int i = 0; i < 2; ++i) {
    try {
      (void)backends::cuda::conv.get();
      ADD_FAILURE() << "EMBER_CONV=winograd was accepted";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), HasSubstr("EMBER_CONV must be 'cudnn' or 'ember', got 'winograd'"));
    }
  }
}

// The TF32 switches (issue 16): typed, read back, and conv_tf32 is cudnn::allow_tf32 under
// its former name.
TEST(Backends, Tf32SwitchesAreTypedSettings) {
  {
    const Scoped conv(backends::cudnn::allow_tf32, false);
    EXPECT_FALSE(backends::cudnn::allow_tf32);
    EXPECT_FALSE(backends::cuda::conv_tf32);
    backends::cuda::conv_tf32 = true;
    EXPECT_TRUE(backends::cudnn::allow_tf32.get());
    EXPECT_EQ(&backends::cuda::conv_tf32, &backends::cudnn::allow_tf32);
  }
  const Scoped matmul(backends::cuda::matmul_allow_tf32, true);
  EXPECT_TRUE(backends::cuda::matmul_allow_tf32.get());
  EXPECT_STREQ(backends::cuda::matmul_allow_tf32.env_name(), "EMBER_MATMUL_TF32");
  EXPECT_STREQ(backends::cudnn::allow_tf32.env_name(), "EMBER_CONV_TF32");
  // sim runs ember's FMA GEMM whatever the switch says: f32-exact against the cpu.
  manual_seed(9);
  const Tensor a = randn({33, 17}), b = randn({17, 9});
  EXPECT_TRUE(
      allclose(a.to(Device::sim()).matmul(b.to(Device::sim())).cpu(), a.matmul(b), 1e-5, 1e-5));
}

}  // namespace
}  // namespace ember::simtest
