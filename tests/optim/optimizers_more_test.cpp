// RMSprop, Adagrad, NAdam and RAdam against plain-loop f64 implementations of
// torch.optim's algorithms written here (20 steps of a quadratic loss); their defaults,
// state names, option errors, parameter groups and state-dict round trips.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include <ember/ember.h>

#include "tests/registry/reference_optim.h"

namespace ember::optim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using Vec = std::vector<double>;
const Vec kTarget = {0.5, -1.0, 2.0, 0.0, 3.0};
const Vec kWeight = {1.0, 2.0, 0.5, 3.0, 1.5};
constexpr int kSteps = 20;

// loss = sum(w (p - t)^2); its gradient is 2 w (p - t).
Tensor loss_of(const Tensor& p) {
  Tensor d = p - from_vector(kTarget);
  return (from_vector(kWeight) * d * d).sum();
}
Vec grad_of(const Vec& p) {
  Vec g(p.size());
  for (size_t i = 0; i < p.size(); ++i) g[i] = 2 * kWeight[i] * (p[i] - kTarget[i]);
  return g;
}

// The largest |a - b| (in f64, on the cpu).
double max_abs_diff(const Tensor& a, const Tensor& b) {
  return amax(abs(a.detach().to(Device::cpu(), DType::f64) -
                  b.detach().to(Device::cpu(), DType::f64)))
      .item<double>();
}

Tensor start_param() { return from_vector<double>({1.0, 2.0, -1.0, 0.5, 0.0}).requires_grad_(); }

// One reference update of all elements at step t (1 on the first), in place.
using RefStep = std::function<void(Vec& p, const Vec& g, int t)>;

// kSteps steps of `opt` on p against `ref`; the parameter after each step must agree.
void expect_trajectory(Optimizer& opt, const Tensor& p, const RefStep& ref, double tol = 1e-12) {
  Vec want = p.to_vector<double>();
  for (int t = 1; t <= kSteps; ++t) {
    opt.zero_grad();
    loss_of(p).backward();
    opt.step();
    ref(want, grad_of(want), t);
    const Vec got = p.to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tol) << opt.name() << ": element " << i << " after step " << t;
  }
}

// ---- RMSprop -------------------------------------------------------------------------------

struct RmspropCfg {
  double lr, alpha, eps, wd, momentum;
  bool centered, maximize;
};

class RmspropTrajectory : public ::testing::TestWithParam<RmspropCfg> {};

TEST_P(RmspropTrajectory, MatchesTorchAlgorithm) {
  const RmspropCfg c = GetParam();
  Tensor p = start_param();
  auto opt = RMSprop::make({p}, {.lr = c.lr,
                                 .alpha = c.alpha,
                                 .eps = c.eps,
                                 .weight_decay = c.wd,
                                 .momentum = c.momentum,
                                 .centered = c.centered,
                                 .maximize = c.maximize});
  Vec sq(5, 0.0), ga(5, 0.0), buf(5, 0.0);
  expect_trajectory(*opt, p, [&](Vec& w, const Vec& grad, int) {
    for (size_t i = 0; i < w.size(); ++i) {
      double g = c.maximize ? -grad[i] : grad[i];
      g += c.wd * w[i];
      sq[i] = c.alpha * sq[i] + (1 - c.alpha) * g * g;
      double avg = sq[i];
      if (c.centered) {
        ga[i] = ga[i] + (1 - c.alpha) * (g - ga[i]);
        avg -= ga[i] * ga[i];
      }
      const double den = std::sqrt(avg) + c.eps;
      if (c.momentum > 0) {
        buf[i] = c.momentum * buf[i] + g / den;
        w[i] -= c.lr * buf[i];
      } else {
        w[i] -= c.lr * g / den;
      }
    }
  });
  const ParamState& st = opt->state(p);
  EXPECT_EQ(st.step, kSteps);
  EXPECT_EQ(st.buffers.contains("momentum_buffer"), c.momentum > 0);
  EXPECT_EQ(st.buffers.contains("grad_avg"), c.centered);
  EXPECT_LT(max_abs_diff(st.buffers.at("square_avg"), from_vector(sq)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Options, RmspropTrajectory,
                         ::testing::Values(RmspropCfg{1e-2, 0.99, 1e-8, 0, 0, false, false},
                                           RmspropCfg{5e-3, 0.9, 1e-6, 0.1, 0, false, true},
                                           RmspropCfg{1e-2, 0.95, 1e-8, 0, 0, true, false},
                                           RmspropCfg{1e-3, 0.99, 1e-8, 0, 0.9, false, false},
                                           RmspropCfg{2e-3, 0.9, 1e-8, 0.01, 0.8, true, false}));

// ---- Adagrad -------------------------------------------------------------------------------

struct AdagradCfg {
  double lr, lr_decay, wd, init, eps;
  bool maximize;
};

class AdagradTrajectory : public ::testing::TestWithParam<AdagradCfg> {};

TEST_P(AdagradTrajectory, MatchesTorchAlgorithm) {
  const AdagradCfg c = GetParam();
  Tensor p = start_param();
  auto opt = Adagrad::make({p}, {.lr = c.lr,
                                 .lr_decay = c.lr_decay,
                                 .weight_decay = c.wd,
                                 .initial_accumulator_value = c.init,
                                 .eps = c.eps,
                                 .maximize = c.maximize});
  // torch creates the state with the optimizer: sum = initial_accumulator_value, step 0.
  EXPECT_EQ(opt->state(p).step, 0);
  EXPECT_EQ(opt->state(p).buffers.at("sum").to_vector<double>(), Vec(5, c.init));
  Vec sum(5, c.init);
  expect_trajectory(*opt, p, [&](Vec& w, const Vec& grad, int t) {
    const double clr = c.lr / (1 + (t - 1) * c.lr_decay);
    for (size_t i = 0; i < w.size(); ++i) {
      double g = c.maximize ? -grad[i] : grad[i];
      g += c.wd * w[i];
      sum[i] += g * g;
      w[i] -= clr * g / (std::sqrt(sum[i]) + c.eps);
    }
  });
  EXPECT_LT(max_abs_diff(opt->state(p).buffers.at("sum"), from_vector(sum)), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Options, AdagradTrajectory,
                         ::testing::Values(AdagradCfg{1e-2, 0, 0, 0, 1e-10, false},
                                           AdagradCfg{0.1, 0.05, 0.01, 0.5, 1e-10, false},
                                           AdagradCfg{0.05, 0, 0, 0.1, 1e-6, true}));

// ---- NAdam and RAdam ------------------------------------------------------------------------

// Their shared reference (tests/registry/reference_optim.h) from a test's options.
template <typename Cfg>
double adam_like_moments(const Cfg& c, double& w, double grad, double& m, double& v) {
  return cases::adam_like_moments({c.lr, c.b1, c.b2, c.wd, c.decoupled, c.maximize}, w, grad, m, v);
}

struct NadamCfg {
  double lr, b1, b2, eps, wd, momentum_decay;
  bool decoupled, maximize;
};

class NadamTrajectory : public ::testing::TestWithParam<NadamCfg> {};

TEST_P(NadamTrajectory, MatchesTorchAlgorithm) {
  const NadamCfg c = GetParam();
  Tensor p = start_param();
  auto opt = NAdam::make({p}, {.lr = c.lr,
                               .betas = std::pair{c.b1, c.b2},
                               .eps = c.eps,
                               .weight_decay = c.wd,
                               .momentum_decay = c.momentum_decay,
                               .decoupled_weight_decay = c.decoupled,
                               .maximize = c.maximize});
  Vec m(5, 0.0), v(5, 0.0);
  double mu_product = 1.0;
  auto mu_at = [&](int t) { return c.b1 * (1 - 0.5 * std::pow(0.96, t * c.momentum_decay)); };
  expect_trajectory(*opt, p, [&](Vec& w, const Vec& grad, int t) {
    const double bc2 = 1 - std::pow(c.b2, t);
    const double mu = mu_at(t), mu_next = mu_at(t + 1);
    mu_product *= mu;
    const double mu_product_next = mu_product * mu_next;
    for (size_t i = 0; i < w.size(); ++i) {
      const double g = adam_like_moments(c, w[i], grad[i], m[i], v[i]);
      const double den = std::sqrt(v[i] / bc2) + c.eps;
      w[i] -= c.lr * (1 - mu) / (1 - mu_product) * g / den;
      w[i] -= c.lr * mu_next / (1 - mu_product_next) * m[i] / den;
    }
  });
  // mu_product = mu_1 ... mu_20, a host f64 scalar.
  const Tensor& mp = opt->state(p).buffers.at("mu_product");
  EXPECT_EQ(mp.dim(), 0);
  EXPECT_EQ(mp.dtype(), DType::f64);
  EXPECT_NEAR(mp.item<double>(), mu_product, 1e-15);
  EXPECT_LT(max_abs_diff(opt->state(p).buffers.at("exp_avg_sq"), from_vector(v)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Options, NadamTrajectory,
                         ::testing::Values(NadamCfg{2e-3, 0.9, 0.999, 1e-8, 0, 4e-3, false, false},
                                           NadamCfg{1e-2, 0.8, 0.99, 1e-6, 0.1, 4e-3, false, false},
                                           NadamCfg{1e-2, 0.9, 0.999, 1e-8, 0.1, 4e-3, true, false},
                                           NadamCfg{5e-3, 0.9, 0.99, 1e-8, 0, 0.5, false, true}));

struct RadamCfg {
  double lr, b1, b2, eps, wd;
  bool decoupled, maximize;
};

class RadamTrajectory : public ::testing::TestWithParam<RadamCfg> {};

TEST_P(RadamTrajectory, MatchesTorchAlgorithm) {
  const RadamCfg c = GetParam();
  Tensor p = start_param();
  auto opt = RAdam::make({p}, {.lr = c.lr,
                               .betas = std::pair{c.b1, c.b2},
                               .eps = c.eps,
                               .weight_decay = c.wd,
                               .decoupled_weight_decay = c.decoupled,
                               .maximize = c.maximize});
  Vec m(5, 0.0), v(5, 0.0);
  int plain = 0, rectified = 0;
  expect_trajectory(*opt, p, [&](Vec& w, const Vec& grad, int t) {
    const double bc1 = 1 - std::pow(c.b1, t), bc2 = 1 - std::pow(c.b2, t);
    const double rho_inf = 2 / (1 - c.b2) - 1;
    const double rho_t = rho_inf - 2 * t * std::pow(c.b2, t) / bc2;
    ++(rho_t > 5 ? rectified : plain);
    for (size_t i = 0; i < w.size(); ++i) {
      adam_like_moments(c, w[i], grad[i], m[i], v[i]);
      const double corrected = m[i] / bc1;
      if (rho_t > 5) {
        const double rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                      ((rho_inf - 4) * (rho_inf - 2) * rho_t));
        const double adaptive = std::sqrt(bc2) / (std::sqrt(v[i]) + c.eps);
        w[i] -= corrected * c.lr * adaptive * rect;
      } else {
        w[i] -= corrected * c.lr;
      }
    }
  });
  // The first steps are unrectified (rho_t <= 5), the later ones rectified.
  EXPECT_GT(plain, 0);
  EXPECT_GT(rectified, 0);
}

INSTANTIATE_TEST_SUITE_P(Options, RadamTrajectory,
                         ::testing::Values(RadamCfg{1e-3, 0.9, 0.999, 1e-8, 0, false, false},
                                           RadamCfg{1e-2, 0.8, 0.99, 1e-6, 0.1, false, false},
                                           RadamCfg{1e-2, 0.9, 0.999, 1e-8, 0.1, true, false},
                                           RadamCfg{5e-3, 0.9, 0.98, 1e-8, 0, false, true}));

// ---- defaults, errors, groups, state dicts ----------------------------------------------

TEST(MoreOptimizers, DefaultsAreTorchs) {
  Tensor p = start_param();
  const Options rms = RMSprop::make({p})->defaults();
  EXPECT_EQ(rms, (Options{{"lr", 1e-2},
                          {"alpha", 0.99},
                          {"eps", 1e-8},
                          {"weight_decay", 0},
                          {"momentum", 0},
                          {"centered", 0},
                          {"maximize", 0}}));
  EXPECT_EQ(Adagrad::make({p})->defaults(), (Options{{"lr", 1e-2},
                                                     {"lr_decay", 0},
                                                     {"weight_decay", 0},
                                                     {"initial_accumulator_value", 0},
                                                     {"eps", 1e-10},
                                                     {"maximize", 0}}));
  EXPECT_EQ(NAdam::make({p})->defaults(), (Options{{"lr", 2e-3},
                                                   {"beta1", 0.9},
                                                   {"beta2", 0.999},
                                                   {"eps", 1e-8},
                                                   {"weight_decay", 0},
                                                   {"momentum_decay", 4e-3},
                                                   {"decoupled_weight_decay", 0},
                                                   {"maximize", 0}}));
  EXPECT_EQ(RAdam::make({p})->defaults(), (Options{{"lr", 1e-3},
                                                   {"beta1", 0.9},
                                                   {"beta2", 0.999},
                                                   {"eps", 1e-8},
                                                   {"weight_decay", 0},
                                                   {"decoupled_weight_decay", 0},
                                                   {"maximize", 0}}));
}

// The error names the optimizer and the bad value.
template <typename F>
void expect_error(F make, const std::string& optimizer, const std::string& what) {
  EXPECT_THAT(make, ThrowsMessage<ValueError>(AllOf(HasSubstr(optimizer), HasSubstr(what))));
}

TEST(MoreOptimizers, BadOptionsNameTheOptimizerAndValue) {
  Tensor p = start_param();
  expect_error([&] { RMSprop::make({p}, {.lr = -0.5}); }, "RMSprop", "learning rate -0.5");
  expect_error([&] { RMSprop::make({p}, {.eps = -1.0}); }, "RMSprop", "epsilon -1");
  expect_error([&] { RMSprop::make({p}, {.alpha = -0.25}); }, "RMSprop", "alpha -0.25");
  expect_error([&] { RMSprop::make({p}, {.momentum = -0.9}); }, "RMSprop", "momentum -0.9");
  expect_error([&] { Adagrad::make({p}, {.lr = -2.0}); }, "Adagrad", "learning rate -2");
  expect_error([&] { Adagrad::make({p}, {.lr_decay = -0.1}); }, "Adagrad", "lr_decay -0.1");
  expect_error([&] { Adagrad::make({p}, {.initial_accumulator_value = -3.0}); }, "Adagrad",
               "initial_accumulator_value -3");
  expect_error([&] { Adagrad::make({p}, {.eps = -1e-3}); }, "Adagrad", "epsilon -0.001");
  expect_error([&] { NAdam::make({p}, {.betas = std::pair{1.0, 0.9}}); }, "NAdam", "beta1 1");
  expect_error([&] { NAdam::make({p}, {.betas = std::pair{0.9, -0.5}}); }, "NAdam", "beta2 -0.5");
  expect_error([&] { NAdam::make({p}, {.momentum_decay = -1.0}); }, "NAdam", "momentum_decay -1");
  expect_error([&] { NAdam::make({p}, {.eps = -1.0}); }, "NAdam", "epsilon -1");
  expect_error([&] { RAdam::make({p}, {.lr = -0.125}); }, "RAdam", "learning rate -0.125");
  expect_error([&] { RAdam::make({p}, {.betas = std::pair{0.9, 1.5}}); }, "RAdam", "beta2 1.5");
  expect_error([&] { RAdam::make({p}, {.weight_decay = -0.5}); }, "RAdam", "weight_decay -0.5");
  // A group's own options are checked too.
  Tensor q = start_param();
  expect_error([&] { RAdam::make({{{p}, {}}, {{q}, {.lr = -1.0}}}); }, "RAdam", "learning rate");
}

TEST(MoreOptimizers, GroupsUseTheirOwnOptions) {
  // Two groups: one centered with momentum, one plain with its own learning rate; each
  // must follow its own reference (a single optimizer over both).
  Tensor a = start_param(), b = start_param();
  auto opt =
      RMSprop::make({{{a}, {.momentum = 0.5, .centered = true}}, {{b}, {.lr = 0.1}}}, {.lr = 0.01});
  auto ref = [](double lr, double momentum, bool centered) {
    return [=, sq = Vec(5, 0.0), ga = Vec(5, 0.0), buf = Vec(5, 0.0)](Vec& w, const Vec& g,
                                                                      int) mutable {
      for (size_t i = 0; i < w.size(); ++i) {
        sq[i] = 0.99 * sq[i] + 0.01 * g[i] * g[i];
        ga[i] += 0.01 * (g[i] - ga[i]);
        const double den = std::sqrt(centered ? sq[i] - ga[i] * ga[i] : sq[i]) + 1e-8;
        buf[i] = momentum * buf[i] + g[i] / den;
        w[i] -= lr * (momentum > 0 ? buf[i] : g[i] / den);
      }
    };
  };
  auto ra = ref(0.01, 0.5, true);
  auto rb = ref(0.1, 0.0, false);
  Vec wa = a.to_vector<double>(), wb = b.to_vector<double>();
  for (int t = 1; t <= kSteps; ++t) {
    opt->zero_grad();
    (loss_of(a) + loss_of(b)).backward();
    opt->step();
    ra(wa, grad_of(wa), t);
    rb(wb, grad_of(wb), t);
  }
  EXPECT_LT(max_abs_diff(a, from_vector(wa)), 1e-12);
  EXPECT_LT(max_abs_diff(b, from_vector(wb)), 1e-12);
  EXPECT_FALSE(opt->state(b).buffers.contains("grad_avg"));
}

TEST(MoreOptimizers, AdagradGroupAddedLaterGetsItsAccumulatorOnItsFirstStep) {
  Tensor a = start_param(), b = start_param();
  auto opt = Adagrad::make({a}, {.lr = 0.1});
  opt->add_param_group({b}, {{"initial_accumulator_value", 2.0}});
  EXPECT_FALSE(opt->state(b).buffers.contains("sum"));
  loss_of(b).backward();
  const Vec g = grad_of(b.to_vector<double>());
  Vec want = b.to_vector<double>();
  opt->step();
  for (size_t i = 0; i < want.size(); ++i)
    want[i] -= 0.1 * g[i] / (std::sqrt(2.0 + g[i] * g[i]) + 1e-10);
  EXPECT_LT(max_abs_diff(b, from_vector(want)), 1e-14);
  EXPECT_EQ(opt->state(a).step, 0);  // no gradient: skipped
  EXPECT_EQ(opt->state(b).step, 1);
}

// Runs `make` on p for 5 steps, restores a fresh optimizer on a copy from its state dict
// (through a safetensors file), then 5 more steps on both: identical parameters.
void expect_round_trip(const std::function<std::shared_ptr<Optimizer>(const Tensor&)>& make,
                       const std::vector<std::string>& state_names) {
  Tensor p = start_param(), q = start_param();
  std::shared_ptr<Optimizer> o1 = make(p);
  for (int i = 0; i < 5; ++i) {
    o1->zero_grad();
    loss_of(p).backward();
    o1->step();
  }
  {
    NoGradGuard g;
    q.copy_(p);
  }
  std::shared_ptr<Optimizer> o2 = make(q);
  o2->param_groups()[0].set_lr(123.0);  // restored from the dict
  const std::string bytes = nn::serialize_safetensors(o1->state_dict());
  nn::SafetensorsFile f =
      nn::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  for (const std::string& name : state_names)
    EXPECT_TRUE(f.tensors.contains("state.0." + name)) << o1->name() << " " << name;
  o2->load_state_dict(f.tensors);
  EXPECT_EQ(o2->state(q).step, 5) << o1->name();
  for (int i = 0; i < 5; ++i)
    for (auto [o, t] : {std::pair{o1, p}, std::pair{o2, q}}) {
      o->zero_grad();
      loss_of(t).backward();
      o->step();
    }
  EXPECT_TRUE(equal(p, q)) << o1->name();
}

TEST(MoreOptimizers, StateDictRoundTripContinuesIdentically) {
  expect_round_trip(
      [](const Tensor& p) {
        return RMSprop::make({p}, {.lr = 0.01, .momentum = 0.9, .centered = true});
      },
      {"step", "square_avg", "momentum_buffer", "grad_avg"});
  expect_round_trip(
      [](const Tensor& p) { return Adagrad::make({p}, {.lr = 0.1, .lr_decay = 0.01}); },
      {"step", "sum"});
  expect_round_trip([](const Tensor& p) { return NAdam::make({p}, {.lr = 0.01}); },
                    {"step", "mu_product", "exp_avg", "exp_avg_sq"});
  expect_round_trip([](const Tensor& p) { return RAdam::make({p}, {.lr = 0.01}); },
                    {"step", "exp_avg", "exp_avg_sq"});
}

// The fused steps on the sim device (kernels/cuda's multi-tensor kernels run on the
// cpu) agree with the cpu kernels for an f32 parameter that spans several chunks.
TEST(MoreOptimizers, SimKernelsAgreeWithCpu) {
  const std::vector<std::function<std::shared_ptr<Optimizer>(const Tensor&)>> makers = {
      [](const Tensor& p) {
        return RMSprop::make({p}, {.momentum = 0.9, .centered = true, .maximize = true});
      },
      [](const Tensor& p) { return Adagrad::make({p}, {.lr_decay = 0.1, .weight_decay = 0.1}); },
      [](const Tensor& p) { return NAdam::make({p}, {.decoupled_weight_decay = true}); },
      [](const Tensor& p) { return RAdam::make({p}, {.weight_decay = 0.1}); },
  };
  manual_seed(3);
  const Tensor start = randn({70000 + 3}, {.dtype = DType::f32});
  for (const auto& make : makers) {
    Tensor on_cpu = start.clone().requires_grad_();
    Tensor on_sim = start.to(Device::sim()).requires_grad_();
    auto o_cpu = make(on_cpu), o_sim = make(on_sim);
    for (int t = 0; t < 8; ++t) {
      for (auto [o, w] : {std::pair{o_cpu, on_cpu}, std::pair{o_sim, on_sim}}) {
        o->zero_grad();
        (w * w * w).sum().backward();
        o->step();
      }
    }
    EXPECT_LT(max_abs_diff(on_sim, on_cpu), 5e-5) << o_cpu->name();
    EXPECT_GT(max_abs_diff(on_cpu, start), 1e-4) << o_cpu->name();  // it moved
  }
}

}  // namespace
}  // namespace ember::optim
