// Optimizers on bf16/f16 parameters (issue 16): the state is f32 (tensor/optim_state_dtype.h),
// the update is f32 math rounded once into the parameter, and a state dict keeps the f32
// state through a round trip. The numbers of every fused step against an f64 reference are
// the registry's (tests/registry/cases_optim*.cpp); here: the optimizer layer's wiring.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "tensor/raw.h"

namespace ember::optim {
namespace {

using Factory = std::function<std::shared_ptr<Optimizer>(const Tensor&)>;

struct Named {
  std::string name;
  Factory make;
};

std::vector<Named> factories() {
  return {
      {"Adam", [](const Tensor& p) { return Adam::make({p}, {.lr = 0.05, .amsgrad = true}); }},
      {"AdamW", [](const Tensor& p) { return AdamW::make({p}, {.lr = 0.05}); }},
      {"SGD", [](const Tensor& p) { return SGD::make({p}, {.lr = 0.1, .momentum = 0.9}); }},
      {"RMSprop",
       [](const Tensor& p) {
         return RMSprop::make({p}, {.lr = 0.01, .momentum = 0.5, .centered = true});
       }},
      {"Adagrad", [](const Tensor& p) { return Adagrad::make({p}, {.lr = 0.1}); }},
      {"NAdam", [](const Tensor& p) { return NAdam::make({p}, {.lr = 0.05}); }},
      {"RAdam", [](const Tensor& p) { return RAdam::make({p}, {.lr = 0.05}); }},
  };
}

Tensor half_param(DType dt, uint64_t seed) {
  manual_seed(seed);
  return randn({37}, {.dtype = dt}).requires_grad_(true);
}

void set_grad(const Tensor& p, int step) {
  manual_seed(1000 + static_cast<uint64_t>(step));
  p.set_grad(randn({37}, {.dtype = p.dtype()}) * 0.5);
}

// A parameter's values as doubles.
std::vector<double> values(const Tensor& t) {
  Tensor d = t.detach().to(DType::f64).contiguous();
  const auto* x = static_cast<const double*>(d.raw_data());
  return {x, x + d.numel()};
}

TEST(HalfParams, EveryOptimizerKeepsF32StateAndTheParameterDtype) {
  for (DType dt : {DType::bf16, DType::f16}) {
    for (const Named& f : factories()) {
      SCOPED_TRACE(f.name + " " + std::string(to_string(dt)));
      Tensor p = half_param(dt, 1);
      const std::vector<double> before = values(p);
      auto opt = f.make(p);
      for (int step = 0; step < 2; ++step) {
        set_grad(p, step);
        opt->step();
      }
      EXPECT_EQ(p.dtype(), dt);
      EXPECT_NE(values(p), before);  // the updates are many ulps: the parameter moved
      const ParamState& st = opt->state(p);
      EXPECT_EQ(st.step, 2);
      ASSERT_FALSE(st.buffers.items().empty());
      for (const auto& item : st.buffers.items())
        if (item.second.dim() != 0) {  // NAdam's mu_product is an f64 scalar
          EXPECT_EQ(item.second.dtype(), DType::f32) << item.first;
          EXPECT_EQ(item.second.sizes(), p.sizes()) << item.first;
        }
    }
  }
}

// One Adam step by hand in f64 (torch.optim.Adam's formula), from the bf16 values: the
// parameter is that result rounded once (within one rounding of f32 noise: 1 ulp), and
// exp_avg_sq keeps squares far below bf16's resolution of the other values.
TEST(HalfParams, AdamStepIsF32MathRoundedOnce) {
  Tensor p = half_param(DType::bf16, 2);
  const std::vector<double> w = values(p);
  set_grad(p, 0);
  const std::vector<double> g = values(p.grad());
  const double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  Adam::make({p}, {.lr = lr, .betas = std::pair{b1, b2}, .eps = eps})->step();
  const std::vector<double> got = values(p);
  for (size_t i = 0; i < w.size(); ++i) {
    const double m = (1 - b1) * g[i], v = (1 - b2) * g[i] * g[i];
    const double want = w[i] - lr * (m / (1 - b1)) / (std::sqrt(v / (1 - b2)) + eps);
    const double rounded = static_cast<double>(static_cast<float>(bf16(static_cast<float>(want))));
    const double ulp = std::ldexp(1.0, std::ilogb(rounded) - 7);
    EXPECT_NEAR(got[i], rounded, ulp) << i;
  }
}

// The state dict holds the f32 state; an optimizer restored from it continues exactly as
// the original (bit-equal parameters), and a state dict with 16-bit state (as torch writes
// for a bf16 model) is widened to f32 on load.
TEST(HalfParams, StateDictRoundTripKeepsF32State) {
  for (const Named& f : factories()) {
    SCOPED_TRACE(f.name);
    Tensor p = half_param(DType::bf16, 3);
    auto o1 = f.make(p);
    for (int step = 0; step < 3; ++step) {
      set_grad(p, step);
      o1->step();
    }
    nn::StateDict sd = o1->state_dict();
    bool any = false;
    for (const auto& item : sd.items())
      if (item.first.find("state.0.") == 0 && item.second.dim() == 1) {
        EXPECT_EQ(item.second.dtype(), DType::f32) << item.first;
        any = true;
      }
    EXPECT_TRUE(any);
    Tensor q = p.detach().clone().requires_grad_(true);
    auto o2 = f.make(q);
    o2->load_state_dict(sd);
    for (const auto& item : o2->state(q).buffers.items())
      if (item.second.dim() != 0) {
        EXPECT_EQ(item.second.dtype(), DType::f32) << item.first;
      }
    for (int step = 3; step < 6; ++step) {
      set_grad(p, step);
      o1->step();
      set_grad(q, step);
      o2->step();
    }
    EXPECT_EQ(values(p), values(q));

    nn::StateDict narrow;
    for (const auto& item : sd.items())
      narrow.insert(item.first, item.first.find("state.0.") == 0 && item.second.dim() == 1
                                    ? item.second.to(DType::bf16)
                                    : item.second);
    auto o3 = f.make(q);
    o3->load_state_dict(narrow);
    for (const auto& item : o3->state(q).buffers.items())
      if (item.second.dim() != 0) {
        EXPECT_EQ(item.second.dtype(), DType::f32) << item.first;
      }
  }
}

TEST(HalfParams, RawStepsCheckStateAndGradientDtypes) {
  Tensor p = randn({5}, {.dtype = DType::bf16});
  Tensor g = randn({5}, {.dtype = DType::bf16});
  Tensor m16 = zeros({5}, {.dtype = DType::bf16}), v16 = zeros({5}, {.dtype = DType::bf16});
  Tensor m = zeros({5}), v = zeros({5});
  EXPECT_THAT(
      [&] {
        raw::adam_step({{&p, &g, &m16, &v16, nullptr, 1}}, {});
      },
      testing::ThrowsMessage<ShapeError>(testing::HasSubstr("state dtype f32")));
  Tensor g32 = randn({5});
  EXPECT_THAT(
      [&] {
        raw::adam_step({{&p, &g32, &m, &v, nullptr, 1}}, {});
      },
      testing::ThrowsMessage<DTypeError>(testing::HasSubstr("gradient of dtype f32")));
  EXPECT_THAT(
      [&] {
        raw::sgd_step({{&p, &g32, nullptr, true}}, {});
      },
      testing::ThrowsMessage<DTypeError>(testing::HasSubstr("does not match")));
  EXPECT_THAT(
      [&] {
        raw::radam_step({{&p, &g, &m16, &v, 1}}, {});
      },
      testing::ThrowsMessage<ShapeError>(testing::HasSubstr("exp_avg")));
}

}  // namespace
}  // namespace ember::optim
