// The multi-tensor optimizer kernels (kernels/cuda/optim.cu) against the cpu backend:
// Adam/AdamW and SGD steps over groups of many sizes (1 element up to several chunks,
// sizes that are not multiples of the vector width, misaligned tensors that take the
// scalar path), and the multi-tensor norm behind clip_grad_norm_. On sim every test runs
// in the sequential and the shuffled schedule; on cuda (skipped without a GPU) once.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda_required.h"
#include "kernels/sim/scheduler.h"
#include "nn/layers.h"
#include "optim/adam.h"
#include "optim/clip.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::simtest {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kSentinel = 12345.0;

// Sizes around the pack width (4 floats, 2 doubles) and the chunk (65536 elements).
const std::vector<int64_t> kSizes = {1, 2, 3, 4, 5, 7, 64, 127, 1000, 4097, 65536, 65536 + 5};

class OptimDevice : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam().is_cuda()) EMBER_SKIP_WITHOUT_CUDA();
  }
  Device dev() const { return GetParam(); }
  // f() once per schedule on sim (sequential, then shuffled), once on cuda.
  template <typename F>
  void each_schedule(F f) const {
    if (dev().type != DeviceType::sim) return f();
    for (sim::Schedule s : {sim::Schedule::sequential, sim::Schedule::shuffled}) {
      SCOPED_TRACE(s == sim::Schedule::shuffled ? "shuffled schedule" : "sequential schedule");
      sim::ScheduleGuard guard(s);
      f();
    }
  }
};

std::string device_name(const ::testing::TestParamInfo<Device>& p) { return p.param.is_cuda() ? "cuda" : "sim"; }

// A contiguous tensor of n elements inside a buffer of n + 2 on `dev`, between two
// sentinels; misaligned (storage offset 1) when asked, aligned otherwise (offset 0
// and the sentinels both at the end).
struct Slot {
  Tensor buffer, view;
  bool misaligned;
  Slot(const Tensor& values, Device dev, bool misaligned_) : misaligned(misaligned_) {
    const int64_t n = values.numel();
    Tensor host = full({n + 2}, kSentinel, {.dtype = values.dtype()});
    const int64_t at = misaligned ? 1 : 0;
    host.slice(0, at, at + n).copy_(values);
    buffer = host.to(dev);
    view = buffer.slice(0, at, at + n);
  }
  // The sentinels are untouched: no kernel wrote outside the tensor.
  void expect_sentinels(const std::string& what) const {
    std::vector<double> b = buffer.cpu().to(DType::f64).to_vector<double>();
    const int64_t n = view.numel();
    const std::vector<size_t> spots =
        misaligned ? std::vector<size_t>{0, static_cast<size_t>(n + 1)}
                   : std::vector<size_t>{static_cast<size_t>(n), static_cast<size_t>(n + 1)};
    for (size_t s : spots) EXPECT_EQ(b[s], kSentinel) << what << ": element outside the tensor was written";
  }
};

// Equal to the cpu's value within `ulps` units in the last place of the larger of the
// two magnitudes and `scale` (the size of an update, for values near zero).
void expect_ulps(const Tensor& device_result, const Tensor& cpu_result, double ulps, double scale,
                 const std::string& what) {
  const double eps = device_result.dtype() == DType::f32 ? 1.1920929e-7 : 2.220446049250313e-16;
  std::vector<double> x = device_result.cpu().to(DType::f64).to_vector<double>();
  std::vector<double> y = cpu_result.to(DType::f64).to_vector<double>();
  ASSERT_EQ(x.size(), y.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < x.size() && bad < 5; ++i) {
    const double tol = ulps * eps * std::max({std::fabs(x[i]), std::fabs(y[i]), scale});
    if (!(std::fabs(x[i] - y[i]) <= tol))
      ADD_FAILURE() << what << " element " << i << " of " << x.size() << ": " << x[i] << " on device, " << y[i]
                    << " on cpu (" << ++bad << ")";
  }
}

struct AdamCase {
  const char* name;
  AdamStepParams p;
};

const std::vector<AdamCase> kAdamCases = {
    {"adam", {.lr = 1e-3}},
    {"adam_l2_amsgrad", {.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1, .amsgrad = true}},
    {"adamw_maximize", {.lr = 3e-3, .weight_decay = 1e-2, .decoupled_weight_decay = true, .maximize = true}},
    {"adamw_amsgrad", {.lr = 1e-3, .weight_decay = 0.05, .decoupled_weight_decay = true, .amsgrad = true}},
};

// One group: every size of kSizes (every other one misaligned), each with its own step
// count, run for three steps on the device and on the cpu.
void check_adam(Device dev, DType dtype, const AdamCase& c) {
  manual_seed(11);
  struct Param {
    Tensor p, g, m, v, vmax;  // cpu
    Slot dp, dg, dm, dv, dvmax;
    int64_t step;
  };
  std::vector<Param> params;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    const int64_t n = kSizes[i];
    const bool mis = i % 2 == 1;
    auto r = [&](double scale) { return (randn({n}) * scale).to(dtype); };
    Tensor p = r(1.0), g = r(0.5), m = r(0.1), s = r(0.01), v = s * s + 1e-6, vmax = v * 1.5;
    params.push_back({p, g, m, v, vmax, Slot(p, dev, mis), Slot(g, dev, mis), Slot(m, dev, mis),
                      Slot(v, dev, mis), Slot(vmax, dev, !mis), static_cast<int64_t>(1 + 3 * i)});
  }
  for (int round = 0; round < 3; ++round) {
    std::vector<AdamTensors> host, device;
    for (Param& q : params) {
      host.push_back({&q.p, &q.g, &q.m, &q.v, c.p.amsgrad ? &q.vmax : nullptr, q.step});
      device.push_back({&q.dp.view, &q.dg.view, &q.dm.view, &q.dv.view, c.p.amsgrad ? &q.dvmax.view : nullptr, q.step});
      ++q.step;
    }
    raw::adam_step(host, c.p);
    raw::adam_step(device, c.p);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& q = params[i];
    const std::string what = std::string(c.name) + " " + std::string(to_string(dtype)) + " n=" + std::to_string(kSizes[i]);
    expect_ulps(q.dp.view, q.p, 8, 10 * c.p.lr, what + " param");
    expect_ulps(q.dm.view, q.m, 8, 1e-3, what + " exp_avg");
    expect_ulps(q.dv.view, q.v, 8, 1e-6, what + " exp_avg_sq");
    if (c.p.amsgrad) expect_ulps(q.dvmax.view, q.vmax, 8, 1e-6, what + " max_exp_avg_sq");
    EXPECT_EQ(q.dg.view.cpu().to(DType::f64).to_vector<double>(), q.g.to(DType::f64).to_vector<double>())
        << what << ": the gradient changed";
    for (const Slot* s : {&q.dp, &q.dg, &q.dm, &q.dv, &q.dvmax}) s->expect_sentinels(what);
  }
}

TEST_P(OptimDevice, AdamStepMatchesCpuForManySizes) {
  each_schedule([&] {
    for (const AdamCase& c : kAdamCases) {
      check_adam(dev(), DType::f32, c);
      check_adam(dev(), DType::f64, c);
    }
  });
}

struct SgdCase {
  const char* name;
  SgdStepParams p;
};

const std::vector<SgdCase> kSgdCases = {
    {"plain", {.lr = 0.1}},
    {"momentum_dampening_wd", {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2}},
    {"nesterov_maximize", {.lr = 0.01, .momentum = 0.8, .nesterov = true, .maximize = true}},
};

void check_sgd(Device dev, DType dtype, const SgdCase& c) {
  manual_seed(12);
  struct Param {
    Tensor p, g, buf;
    Slot dp, dg, dbuf;
  };
  std::vector<Param> params;
  for (size_t i = 0; i < kSizes.size(); ++i) {
    const int64_t n = kSizes[i];
    const bool mis = i % 3 == 1;
    Tensor p = randn({n}).to(dtype), g = randn({n}).to(dtype), buf = zeros({n}, {.dtype = dtype});
    params.push_back({p, g, buf, Slot(p, dev, mis), Slot(g, dev, mis), Slot(buf, dev, mis)});
  }
  for (int round = 0; round < 3; ++round) {
    std::vector<SgdTensors> host, device;
    for (Param& q : params) {
      const bool momentum = c.p.momentum != 0.0;
      host.push_back({&q.p, &q.g, momentum ? &q.buf : nullptr, round == 0});
      device.push_back({&q.dp.view, &q.dg.view, momentum ? &q.dbuf.view : nullptr, round == 0});
    }
    raw::sgd_step(host, c.p);
    raw::sgd_step(device, c.p);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& q = params[i];
    const std::string what = std::string(c.name) + " " + std::string(to_string(dtype)) + " n=" + std::to_string(kSizes[i]);
    expect_ulps(q.dp.view, q.p, 4, c.p.lr, what + " param");
    if (c.p.momentum != 0.0) expect_ulps(q.dbuf.view, q.buf, 4, 1.0, what + " momentum_buffer");
    for (const Slot* s : {&q.dp, &q.dg, &q.dbuf}) s->expect_sentinels(what);
  }
}

TEST_P(OptimDevice, SgdStepMatchesCpuForManySizes) {
  each_schedule([&] {
    for (const SgdCase& c : kSgdCases) {
      check_sgd(dev(), DType::f32, c);
      check_sgd(dev(), DType::f64, c);
    }
  });
}

TEST_P(OptimDevice, AGroupMixingF32AndF64IsUpdatedLikeTheCpu) {
  manual_seed(13);
  Tensor a = randn({1001}), b = randn({37}, {.dtype = DType::f64});
  Tensor ga = randn({1001}), gb = randn({37}, {.dtype = DType::f64});
  std::vector<Tensor> cpu = {a.clone(), ga, zeros_like(a), zeros_like(a), b.clone(), gb, zeros_like(b), zeros_like(b)};
  std::vector<Tensor> d;
  for (const Tensor& t : cpu) d.push_back(t.to(dev()));
  const AdamStepParams p{.lr = 1e-2};
  raw::adam_step({{&cpu[0], &cpu[1], &cpu[2], &cpu[3], nullptr, 1}, {&cpu[4], &cpu[5], &cpu[6], &cpu[7], nullptr, 4}}, p);
  raw::adam_step({{&d[0], &d[1], &d[2], &d[3], nullptr, 1}, {&d[4], &d[5], &d[6], &d[7], nullptr, 4}}, p);
  expect_ulps(d[0], cpu[0], 8, 0.1, "f32 param");
  expect_ulps(d[4], cpu[4], 8, 0.1, "f64 param");
  EXPECT_EQ(d[4].dtype(), DType::f64);
}

TEST_P(OptimDevice, MultiTensorNormMatchesCpu) {
  each_schedule([&] {
    manual_seed(14);
    std::vector<Tensor> cpu;
    for (size_t i = 0; i < kSizes.size(); ++i)
      cpu.push_back((randn({kSizes[i]}) * (1.0 + static_cast<double>(i))).to(i % 2 ? DType::f64 : DType::f32));
    std::vector<Tensor> d;
    for (size_t i = 0; i < cpu.size(); ++i) {
      Slot s(cpu[i], dev(), i % 3 == 2);  // some misaligned
      d.push_back(s.view);
    }
    for (double q : {1.0, 2.0, 3.5, std::numeric_limits<double>::infinity()}) {
      const double want = raw::multi_tensor_norm(cpu, q), got = raw::multi_tensor_norm(d, q);
      EXPECT_GT(want, 0.0);
      EXPECT_NEAR(got, want, 1e-12 * want) << "norm_type " << q;
    }
    // The inf norm is the largest magnitude, which one planted element sets.
    Tensor spike = zeros({9}, {.dtype = DType::f32});
    spike.data_ptr<float>()[7] = -1e6f;
    std::vector<Tensor> with_spike = d;
    with_spike.push_back(spike.to(dev()));
    EXPECT_EQ(raw::multi_tensor_norm(with_spike, std::numeric_limits<double>::infinity()), 1e6);
    // NaN anywhere gives NaN for every order.
    Tensor nan = randn({70000});
    nan.data_ptr<float>()[66000] = static_cast<float>(kNaN);
    std::vector<Tensor> with_nan = d;
    with_nan.push_back(nan.to(dev()));
    for (double q : {1.0, 2.0, 3.5, std::numeric_limits<double>::infinity()})
      EXPECT_TRUE(std::isnan(raw::multi_tensor_norm(with_nan, q))) << "norm_type " << q;
  });
  EXPECT_EQ(raw::multi_tensor_norm({}, 2.0), 0.0);
  EXPECT_THROW(raw::multi_tensor_norm({randn({3}).to(dev())}, 0.0), ValueError);
  EXPECT_THROW(raw::multi_tensor_norm({arange(3).to(dev())}, 2.0), DTypeError);
}

// The optimizer and clipping APIs on the device follow the cpu run step for step.
TEST_P(OptimDevice, AdamWithClippingTrainsLikeTheCpu) {
  manual_seed(15);
  auto cpu_model = std::make_shared<nn::Linear>(13, 7);
  auto dev_model = std::make_shared<nn::Linear>(13, 7);
  dev_model->load_state_dict(cpu_model->state_dict());
  dev_model->to(dev());
  const optim::AdamOptions options{.lr = 1e-2, .weight_decay = 1e-3, .amsgrad = true};
  auto cpu_opt = optim::Adam::make(cpu_model->parameters(), options);
  auto dev_opt = optim::Adam::make(dev_model->parameters(), options);
  for (int step = 0; step < 4; ++step) {
    Tensor x = randn({5, 13}), y = randn({5, 7});
    cpu_opt->zero_grad();
    dev_opt->zero_grad();
    ((*cpu_model)(x) - y).pow(2.0).sum().backward();
    ((*dev_model)(x.to(dev())) - y.to(dev())).pow(2.0).sum().backward();
    const double n_cpu = optim::clip_grad_norm_(cpu_model->parameters(), 0.5);
    const double n_dev = optim::clip_grad_norm_(dev_model->parameters(), 0.5);
    EXPECT_NEAR(n_dev, n_cpu, 1e-5 * n_cpu) << "step " << step;
    cpu_opt->step();
    dev_opt->step();
  }
  expect_ulps(dev_model->weight.detach(), cpu_model->weight.detach(), 64, 1e-2, "weight after 4 steps");
}

INSTANTIATE_TEST_SUITE_P(Devices, OptimDevice, ::testing::Values(Device::sim(), Device::cuda()), device_name);

}  // namespace
}  // namespace ember::simtest
