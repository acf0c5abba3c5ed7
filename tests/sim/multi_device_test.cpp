// Several devices of one type (issue 17, multidev), tested on sim, which simulates two
// devices by default: per-device memory statistics, ops on sim:1, cross-device errors,
// invalid ordinals, copies between ordinals, the current device and DeviceGuard, and a
// module trained on sim:1. The same code paths serve cuda:N (kernels/cuda/runtime_cuda.cpp).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kernels/memory.h"
#include "nn/functional.h"
#include "nn/layers.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/sgd.h"
#include "tensor/device_guard.h"
#include "tensor/ops.h"

namespace ember::simtest {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

template <typename F>
std::string message_of(F f) {
  try {
    f();
  } catch (const DeviceError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected DeviceError";
  return "";
}

// Each test starts and ends with sim:0 current on this thread: the other suites of this
// binary allocate through the current device.
class MultiDevice : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::getenv("EMBER_SIM_DEVICES") != nullptr)
      GTEST_SKIP() << "EMBER_SIM_DEVICES is set; these tests assume the default of 2";
    set_device(Device::sim(0));
  }
  void TearDown() override { set_device(Device::sim(0)); }
};

std::vector<double> values(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).to(DType::f64).contiguous();
  const double* p = c.data_ptr<double>();
  return {p, p + c.numel()};
}

TEST_F(MultiDevice, CountsAndParsing) {
  EXPECT_EQ(device_count(DeviceType::sim), 2);
  EXPECT_EQ(device_count(DeviceType::cpu), 1);
  EXPECT_EQ(Device("sim:1"), Device::sim(1));
  EXPECT_EQ(Device("sim:0"), Device::sim());
  EXPECT_EQ(Device::sim(1).str(), "sim:1");
  EXPECT_EQ(Device::sim(0).str(), "sim");  // unchanged spelling of the first device
  EXPECT_EQ(Device(Device::sim(1).str()), Device::sim(1));
}

TEST_F(MultiDevice, MemoryStatsArePerDevice) {
  reset_peak_memory_stats(Device::sim(1));
  const MemoryStats before0 = memory_stats(Device::sim(0));
  const MemoryStats before1 = memory_stats(Device::sim(1));
  {
    Tensor x = empty({1000}, {.device = Device::sim(1)});
    set_device(Device::sim(0));  // creating x made sim:1 current (backend(Device) selects)
    const MemoryStats mid0 = memory_stats(Device::sim(0));
    const MemoryStats mid1 = memory_stats(Device::sim(1));
    EXPECT_EQ(mid1.allocated_bytes - before1.allocated_bytes, 4000);
    EXPECT_EQ(mid1.num_allocs - before1.num_allocs, 1);
    EXPECT_GE(mid1.peak_allocated_bytes, mid1.allocated_bytes);
    EXPECT_EQ(mid0.allocated_bytes, before0.allocated_bytes) << "sim:1's tensor counted on sim:0";
    EXPECT_EQ(mid0.num_allocs, before0.num_allocs);
    // Asking about sim:1 does not make it current; the DeviceType form is the current one's.
    EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
    EXPECT_EQ(memory_stats(DeviceType::sim).allocated_bytes, mid0.allocated_bytes);
  }
  EXPECT_EQ(memory_stats(Device::sim(1)).allocated_bytes, before1.allocated_bytes);
  EXPECT_EQ(memory_stats(Device::sim(0)).allocated_bytes, before0.allocated_bytes);
}

TEST_F(MultiDevice, OpsOnSim1MatchSim0AndCpu) {
  manual_seed(11);
  const Tensor a = randn({5, 7});
  const Tensor b = randn({7, 3});
  const Tensor a64 = a.to(DType::f64), b64 = b.to(DType::f64);
  const Tensor ref = softmax(matmul(a64, b64), 1) + exp(a64.sum({1}, true));
  for (Device d : {Device::sim(0), Device::sim(1)}) {
    SCOPED_TRACE(d.str());
    const Tensor ad = a.to(d), bd = b.to(d);
    EXPECT_EQ(ad.device(), d);
    const Tensor out = softmax(matmul(ad, bd), 1) + exp(ad.sum({1}, true));
    EXPECT_EQ(out.device(), d);
    EXPECT_EQ(out.device().index, d.index);
    const std::vector<double> got = values(out), want = values(ref);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
  }
  // The same kernels on either device: bit for bit.
  const Tensor on0 = matmul(a.to(Device::sim(0)), b.to(Device::sim(0)));
  const Tensor on1 = matmul(a.to(Device::sim(1)), b.to(Device::sim(1)));
  EXPECT_EQ(values(on0), values(on1));
}

TEST_F(MultiDevice, OpsAllocateOnTheTensorsDevice) {
  const Tensor x = randn({256}, {.device = Device::sim(1)});
  const MemoryStats before0 = memory_stats(Device::sim(0));
  const MemoryStats before1 = memory_stats(Device::sim(1));
  set_device(Device::sim(0));
  const Tensor y = exp(x);  // sim:0 current: the output still lands on sim:1
  EXPECT_EQ(y.device(), Device::sim(1));
  EXPECT_EQ(memory_stats(Device::sim(1)).allocated_bytes - before1.allocated_bytes, 1024);
  EXPECT_EQ(memory_stats(Device::sim(0)).num_allocs, before0.num_allocs);
}

TEST_F(MultiDevice, OpOnTwoDevicesFailsNamingBoth) {
  const Tensor a = randn({2, 3}, {.device = Device::sim(0)});
  const Tensor b = randn({2, 3}, {.device = Device::sim(1)});
  EXPECT_THAT(
      message_of([&] { (void)add(a, b); }),
      AllOf(HasSubstr("add"), HasSubstr("expected all tensors to be on the same device"),
            HasSubstr("found at least two devices"), HasSubstr("sim:0"), HasSubstr("sim:1")));
  EXPECT_THAT(message_of([&] { (void)matmul(a, b.t()); }),
              AllOf(HasSubstr("matmul"), HasSubstr("sim:0"), HasSubstr("sim:1")));
  EXPECT_THAT(message_of([&] { (void)add(b, a.to(Device::cpu())); }),
              AllOf(HasSubstr("sim:1"), HasSubstr("cpu")));
}

TEST_F(MultiDevice, InvalidOrdinalFailsNamingTheCount) {
  EXPECT_THAT(
      message_of([] { (void)zeros({2}, {.device = Device::sim(5)}); }),
      AllOf(HasSubstr("sim:5"), HasSubstr("invalid device ordinal"), HasSubstr("2 device")));
  EXPECT_THAT(message_of([] { (void)ones({2}).to(Device("sim:2")); }),
              AllOf(HasSubstr("sim:2"), HasSubstr("2 device")));
  EXPECT_THAT(message_of([] { set_device(Device::sim(3)); }), HasSubstr("sim:3"));
  EXPECT_THAT(message_of([] { (void)memory_stats(Device::sim(4)); }), HasSubstr("sim:4"));
  EXPECT_THAT(message_of([] { (void)zeros({2}, {.device = Device(DeviceType::cpu, 1)}); }),
              HasSubstr("cpu"));
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0)) << "a failed selection changed it";
}

TEST_F(MultiDevice, CopiesBetweenOrdinalsKeepValues) {
  manual_seed(3);
  const Tensor x = randn({4, 6});
  const Tensor on0 = x.to(Device::sim(0));
  const Tensor on1 = on0.to(Device::sim(1));
  EXPECT_EQ(on1.device(), Device::sim(1));
  EXPECT_EQ(values(on1), values(x));
  EXPECT_EQ(values(on1.to(Device::sim(0))), values(x));
  // A strided source, and copy_ into a strided destination on the other device.
  const Tensor xt = on0.t();
  EXPECT_EQ(values(xt.to(Device::sim(1))), values(x.t()));
  Tensor dst = full({6, 4}, 7.0, {.device = Device::sim(1)}).t();
  dst.copy_(on0);
  EXPECT_EQ(dst.device(), Device::sim(1));
  EXPECT_EQ(values(dst), values(x));
}

TEST_F(MultiDevice, GuardSetsAndRestoresTheCurrentDevice) {
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
  {
    const DeviceGuard g(Device::sim(1));
    EXPECT_EQ(current_device(DeviceType::sim), Device::sim(1));
    EXPECT_EQ(g.original_device(), Device::sim(0));
    {
      const DeviceGuard inner(Device::sim(0));
      EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
    }
    EXPECT_EQ(current_device(DeviceType::sim), Device::sim(1));
    // The runtime's current device is where raw memory goes.
    EXPECT_EQ(memory_stats(DeviceType::sim).num_allocs, memory_stats(Device::sim(1)).num_allocs);
  }
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
  // Also when the scope is left by an exception.
  try {
    const DeviceGuard g(Device::sim(1));
    EXPECT_EQ(current_device(DeviceType::sim), Device::sim(1));
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
  // A guard on the cpu changes nothing; an invalid ordinal throws before changing anything.
  { const DeviceGuard g(Device::cpu()); }
  EXPECT_THROW(DeviceGuard(Device::sim(9)), DeviceError);
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(0));
}

TEST_F(MultiDevice, CurrentDeviceIsPerThread) {
  set_device(Device::sim(1));
  Device seen;
  std::thread t([&] { seen = current_device(DeviceType::sim); });
  t.join();
  EXPECT_EQ(seen, Device::sim(0));
  EXPECT_EQ(current_device(DeviceType::sim), Device::sim(1));
}

// A module moved to sim:1 trains a step there, with the same result as on the cpu.
TEST_F(MultiDevice, ModuleOnSim1TrainsAStep) {
  auto run = [](Device d) {
    manual_seed(5);
    auto lin = nn::Linear::make(4, 3);
    lin->to(d.str().c_str());  // the spelling users write: "sim:1"
    const Tensor x = randn({8, 4}).to(d);
    const Tensor target = randn({8, 3}).to(d);
    auto opt = optim::SGD::make(lin->parameters(), {.lr = 0.1});
    lin->zero_grad();
    Tensor loss = nn::functional::mse_loss(lin->forward(x), target);
    loss.backward();
    opt->step();
    EXPECT_EQ(lin->weight.device(), d);
    EXPECT_EQ(lin->weight.grad().device(), d);
    return values(lin->weight);
  };
  const std::vector<double> cpu = run(Device::cpu());
  const std::vector<double> sim1 = run(Device::sim(1));
  ASSERT_EQ(cpu.size(), sim1.size());
  manual_seed(5);
  const std::vector<double> init = values(nn::Linear::make(4, 3)->weight);
  bool moved = false;
  for (size_t i = 0; i < cpu.size(); ++i) {
    EXPECT_NEAR(sim1[i], cpu[i], 1e-5) << i;
    moved = moved || sim1[i] != init[i];
  }
  EXPECT_TRUE(moved) << "the step changed no weight";
}

// One optimizer over parameters on sim:0 and sim:1: the fused steps and the gradient norm
// group them by device and run each group there (raw::Dispatch's guard). Adam's first step
// moves each weight by lr g / (|g| + eps) (bias-corrected m / sqrt(v) with m = g, v = g^2).
TEST_F(MultiDevice, OptimizerAndClippingSpanTwoDevices) {
  manual_seed(9);
  const Tensor w0 = randn({5}), w1 = randn({7}), g0 = randn({5}), g1 = randn({7});
  auto param = [](const Tensor& w, const Tensor& g, Device d) {
    Tensor p = w.to(d);
    p.requires_grad_(true);
    p.set_grad(g.to(d));
    return p;
  };
  Tensor p0 = param(w0, g0, Device::sim(0)), p1 = param(w1, g1, Device::sim(1));
  // The 2-norm over both devices, before anything changes.
  double sq = 0;
  for (const Tensor& g : {g0, g1})
    for (double v : values(g)) sq += v * v;
  const double norm = optim::clip_grad_norm_({p0, p1}, 1e9);
  EXPECT_NEAR(norm, std::sqrt(sq), 1e-5 * std::sqrt(sq));
  const double lr = 0.01, eps = 1e-8;
  auto opt = optim::Adam::make({p0, p1}, {.lr = lr, .eps = eps});
  opt->step();
  EXPECT_EQ(p0.device(), Device::sim(0));
  EXPECT_EQ(p1.device(), Device::sim(1));
  const std::pair<const Tensor*, std::pair<Tensor, Tensor>> cases[] = {{&p0, {w0, g0}},
                                                                       {&p1, {w1, g1}}};
  for (const auto& c : cases) {
    const std::vector<double> got = values(*c.first), w = values(c.second.first),
                              g = values(c.second.second);
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], w[i] - lr * g[i] / (std::abs(g[i]) + eps), 1e-6) << i;
  }
}

}  // namespace
}  // namespace ember::simtest
