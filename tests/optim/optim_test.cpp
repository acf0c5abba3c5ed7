// Optimizers against f64 references written here from torch.optim's documented
// formulas; parameter groups; state dicts; schedulers; clipping.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include <ember/ember.h>

namespace ember::optim {
namespace {

using Vec = std::vector<double>;
const Vec kTarget = {0.5, -1.0, 2.0, 0.0, 3.0};
const Vec kWeight = {1.0, 2.0, 0.5, 3.0, 1.5};

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

Tensor start_param() { return from_vector<double>({1.0, 2.0, -1.0, 0.5, 0.0}).requires_grad_(); }

void expect_vec_near(const Tensor& t, const Vec& want, double tol, int step) {
  Vec got = t.to_vector<double>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol) << "element " << i << " after step " << step;
}

struct SgdCfg {
  double lr, momentum, dampening, wd;
  bool nesterov, maximize;
};

class SgdTrajectory : public ::testing::TestWithParam<SgdCfg> {};

TEST_P(SgdTrajectory, MatchesReference) {
  SgdCfg c = GetParam();
  Tensor p = start_param();
  auto opt = SGD::make({p}, {.lr = c.lr,
                             .momentum = c.momentum,
                             .dampening = c.dampening,
                             .weight_decay = c.wd,
                             .nesterov = c.nesterov,
                             .maximize = c.maximize});
  Vec ref = p.to_vector<double>(), buf(ref.size(), 0.0);
  for (int step = 1; step <= 20; ++step) {
    opt->zero_grad();
    loss_of(p).backward();
    opt->step();
    Vec g = grad_of(ref);
    for (size_t i = 0; i < ref.size(); ++i) {
      double d = c.maximize ? -g[i] : g[i];
      d += c.wd * ref[i];
      if (c.momentum != 0) {
        buf[i] = step == 1 ? d : c.momentum * buf[i] + (1 - c.dampening) * d;
        d = c.nesterov ? d + c.momentum * buf[i] : buf[i];
      }
      ref[i] -= c.lr * d;
    }
    expect_vec_near(p, ref, 1e-12, step);
  }
}

INSTANTIATE_TEST_SUITE_P(Options, SgdTrajectory,
                         ::testing::Values(SgdCfg{0.01, 0, 0, 0, false, false},
                                           SgdCfg{0.01, 0.9, 0, 0, false, false},
                                           SgdCfg{0.01, 0.9, 0.3, 0.01, false, false},
                                           SgdCfg{0.01, 0.9, 0, 0.05, true, false},
                                           SgdCfg{0.005, 0.5, 0, 0, false, true}));

struct AdamCfg {
  double lr, b1, b2, eps, wd;
  bool amsgrad, maximize, decoupled;
};

class AdamTrajectory : public ::testing::TestWithParam<AdamCfg> {};

TEST_P(AdamTrajectory, MatchesReference) {
  AdamCfg c = GetParam();
  Tensor p = start_param();
  AdamOptions o{.lr = c.lr,
                .betas = std::pair{c.b1, c.b2},
                .eps = c.eps,
                .weight_decay = c.wd,
                .amsgrad = c.amsgrad,
                .maximize = c.maximize};
  std::shared_ptr<Optimizer> opt =
      c.decoupled ? std::shared_ptr<Optimizer>(AdamW::make({p}, o)) : Adam::make({p}, o);
  Vec ref = p.to_vector<double>(), m(ref.size(), 0), v(ref.size(), 0), vmax(ref.size(), 0);
  for (int step = 1; step <= 20; ++step) {
    opt->zero_grad();
    loss_of(p).backward();
    opt->step();
    Vec g = grad_of(ref);
    double bc1 = 1 - std::pow(c.b1, step), bc2 = 1 - std::pow(c.b2, step);
    for (size_t i = 0; i < ref.size(); ++i) {
      double gi = c.maximize ? -g[i] : g[i];
      if (c.decoupled) {
        ref[i] *= 1 - c.lr * c.wd;
      } else {
        gi += c.wd * ref[i];
      }
      m[i] = c.b1 * m[i] + (1 - c.b1) * gi;
      v[i] = c.b2 * v[i] + (1 - c.b2) * gi * gi;
      vmax[i] = std::max(vmax[i], v[i]);
      double denom = std::sqrt(c.amsgrad ? vmax[i] : v[i]) / std::sqrt(bc2) + c.eps;
      ref[i] -= c.lr / bc1 * m[i] / denom;
    }
    expect_vec_near(p, ref, 1e-12, step);
  }
}

INSTANTIATE_TEST_SUITE_P(Options, AdamTrajectory,
                         ::testing::Values(AdamCfg{0.01, 0.9, 0.999, 1e-8, 0, false, false, false},
                                           AdamCfg{0.05, 0.8, 0.99, 1e-6, 0.1, false, false, false},
                                           AdamCfg{0.05, 0.9, 0.999, 1e-8, 0, true, false, false},
                                           AdamCfg{0.01, 0.9, 0.999, 1e-8, 0, false, true, false},
                                           AdamCfg{0.02, 0.9, 0.999, 1e-8, 0.01, false, false,
                                                   true},
                                           AdamCfg{0.02, 0.9, 0.95, 1e-8, 0.1, true, false, true}));

TEST(Optimizer, AdamWDefaultsToWeightDecayOneHundredth) {
  auto opt = AdamW::make({start_param()});
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].get("weight_decay"), 1e-2);
  EXPECT_DOUBLE_EQ(Adam::make({start_param()})->param_groups()[0].get("weight_decay"), 0.0);
}

TEST(Optimizer, ParameterGroupsUseTheirOwnRates) {
  Tensor a = start_param(), b = start_param();
  auto opt = SGD::make({{{a}, {.lr = 0.1}}, {{b}, {}}}, {.lr = 0.01});
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].lr(), 0.1);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].lr(), 0.01);
  Vec a0 = a.to_vector<double>(), b0 = b.to_vector<double>();
  (loss_of(a) + loss_of(b)).backward();
  opt->step();
  Vec g = grad_of(a0), a1 = a.to_vector<double>(), b1 = b.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_NEAR(a1[i], a0[i] - 0.1 * g[i], 1e-12);
    EXPECT_NEAR(b1[i], b0[i] - 0.01 * g[i], 1e-12);
  }
  opt->param_groups()[1].set_lr(0.5);  // writable, as PyTorch's group["lr"]
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].lr(), 0.5);
}

TEST(Optimizer, SeedStyleGroupsForEncoderAndDecoder) {
  auto encoder = nn::Linear::make(3, 4);
  auto decoder = nn::Linear::make(4, 2);
  double lr = 1e-3;
  auto opt =
      Adam::make({{encoder->parameters(), {.lr = lr * 0.1}}, {decoder->parameters(), {.lr = lr}}});
  ASSERT_EQ(opt->param_groups().size(), 2u);
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].lr(), lr * 0.1);
  EXPECT_DOUBLE_EQ(opt->param_groups()[1].get("beta2"), 0.999);
}

TEST(Optimizer, Errors) {
  Tensor p = start_param();
  EXPECT_THROW(SGD::make({{{p}, {}}, {{p}, {}}}), ValueError);  // one parameter in two groups
  EXPECT_THROW(SGD::make({p}, {.lr = -1.0}), ValueError);
  EXPECT_THROW(SGD::make({p}, {.nesterov = true}), ValueError);  // nesterov without momentum
  EXPECT_THROW(Adam::make({p}, {.betas = std::pair{1.0, 0.9}}), ValueError);
  EXPECT_THROW(Adam::make({p * 2}), ValueError);  // not a leaf
  EXPECT_THROW(Adam::make(std::vector<Tensor>{}), ValueError);
}

TEST(Optimizer, SkipsParametersWithoutGradients) {
  Tensor a = start_param(), b = start_param();
  auto opt = Adam::make({a, b});
  loss_of(a).backward();
  Vec b0 = b.to_vector<double>();
  opt->step();
  EXPECT_EQ(b.to_vector<double>(), b0);
  EXPECT_EQ(opt->state(a).step, 1);
  EXPECT_EQ(opt->state(b).step, 0);
}

TEST(Optimizer, StateDictRoundTripContinuesIdentically) {
  for (bool adam : {true, false}) {
    Tensor p = start_param(), q = start_param();
    std::shared_ptr<Optimizer> o1 =
        adam ? std::shared_ptr<Optimizer>(Adam::make({p}, {.lr = 0.05, .amsgrad = true}))
             : SGD::make({p}, {.lr = 0.01, .momentum = 0.9});
    for (int i = 0; i < 5; ++i) {
      o1->zero_grad();
      loss_of(p).backward();
      o1->step();
    }
    // A fresh optimizer on a copy of the parameter, restored from the state dict.
    {
      NoGradGuard g;
      q.copy_(p);
    }
    std::shared_ptr<Optimizer> o2 = adam
                                        ? std::shared_ptr<Optimizer>(Adam::make({q}, {.lr = 0.001}))
                                        : SGD::make({q}, {.lr = 0.5, .momentum = 0.9});
    nn::StateDict sd = o1->state_dict();
    o2->load_state_dict(sd);
    EXPECT_DOUBLE_EQ(o2->param_groups()[0].lr(), adam ? 0.05 : 0.01);
    EXPECT_EQ(o2->state(q).step, 5);
    for (int i = 0; i < 5; ++i) {
      for (auto [o, t] : {std::pair{o1, p}, std::pair{o2, q}}) {
        o->zero_grad();
        loss_of(t).backward();
        o->step();
      }
    }
    EXPECT_TRUE(equal(p, q)) << (adam ? "Adam" : "SGD");
    // It also survives a trip through a safetensors file.
    nn::SafetensorsFile f = nn::parse_safetensors(
        reinterpret_cast<const uint8_t*>(nn::serialize_safetensors(sd).data()),
        nn::serialize_safetensors(sd).size());
    EXPECT_EQ(f.tensors.keys(), sd.keys());
  }
}

TEST(Optimizer, MismatchedGroupLayoutIsAnError) {
  Tensor a = start_param(), b = start_param();
  auto one = SGD::make({a, b});
  auto two = SGD::make({{{a}, {}}, {{b}, {}}});
  EXPECT_THAT([&] { two->load_state_dict(one->state_dict()); },
              ::testing::ThrowsMessage<ValueError>(::testing::HasSubstr("parameter groups")));
  auto fewer = SGD::make({a});
  EXPECT_THROW(fewer->load_state_dict(one->state_dict()), ValueError);
}

// ---- schedulers -------------------------------------------------------------------------

std::vector<double> run(LRScheduler& s, int n) {
  std::vector<double> lrs{s.get_last_lr()[0]};
  for (int i = 0; i < n; ++i) {
    s.step();
    lrs.push_back(s.get_last_lr()[0]);
    EXPECT_DOUBLE_EQ(s.optimizer().param_groups()[0].lr(), lrs.back());
  }
  return lrs;
}

std::shared_ptr<Optimizer> sgd(double lr = 0.1) { return SGD::make({start_param()}, {.lr = lr}); }

TEST(Schedulers, MatchTheirFormulas) {
  {
    StepLR s(sgd(), 3, 0.5);
    auto l = run(s, 7);
    for (int e = 0; e <= 7; ++e)
      EXPECT_DOUBLE_EQ(l[static_cast<size_t>(e)], 0.1 * std::pow(0.5, e / 3));
  }
  {
    MultiStepLR s(sgd(), {2, 5}, 0.1);
    auto l = run(s, 6);
    EXPECT_DOUBLE_EQ(l[1], 0.1);
    EXPECT_NEAR(l[2], 0.01, 1e-15);
    EXPECT_NEAR(l[5], 0.001, 1e-15);
  }
  {
    ExponentialLR s(sgd(), 0.9);
    auto l = run(s, 5);
    for (int e = 0; e <= 5; ++e)
      EXPECT_NEAR(l[static_cast<size_t>(e)], 0.1 * std::pow(0.9, e), 1e-15);
  }
  {
    CosineAnnealingLR s(sgd(), 10, 0.001);
    auto l = run(s, 10);
    for (int e = 0; e <= 10; ++e)
      EXPECT_NEAR(l[static_cast<size_t>(e)],
                  0.001 + (0.1 - 0.001) * (1 + std::cos(std::numbers::pi * e / 10)) / 2, 1e-15);
  }
  {
    LinearLR s(sgd(), 0.25, 1.0, 4);
    auto l = run(s, 6);
    Vec want = {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.1};
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(l[i], want[i], 1e-15);
  }
  {
    LambdaLR s(sgd(), [](int64_t e) { return 1.0 / static_cast<double>(e + 1); });
    auto l = run(s, 3);
    EXPECT_NEAR(l[3], 0.1 / 4, 1e-15);
  }
}

TEST(Schedulers, SequentialWarmupThenCosine) {
  auto opt = sgd(0.1);
  auto warm = std::make_shared<LinearLR>(opt, 0.1, 1.0, 3);
  auto cos = std::make_shared<CosineAnnealingLR>(opt, 5);
  SequentialLR s(opt, {warm, cos}, {3});
  auto l = run(s, 8);
  EXPECT_NEAR(l[0], 0.01, 1e-15);
  EXPECT_NEAR(l[2], 0.1 * (0.1 + 0.9 * 2 / 3), 1e-15);
  EXPECT_NEAR(l[3], 0.1, 1e-15);  // cosine epoch 0
  EXPECT_NEAR(l[5], 0.1 * (1 + std::cos(std::numbers::pi * 2 / 5)) / 2, 1e-15);
}

TEST(Schedulers, StateDictRestoresThePosition) {
  auto o1 = sgd(), o2 = sgd();
  StepLR a(o1, 2, 0.5), b(o2, 2, 0.5);
  for (int i = 0; i < 5; ++i) a.step();
  // As torch: the groups' rates live in the optimizer's state, the position in the
  // scheduler's (chainable schedulers scale the current rate), so both are restored.
  o2->load_state_dict(o1->state_dict());
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.last_epoch(), 5);
  a.step();
  b.step();
  EXPECT_DOUBLE_EQ(a.get_last_lr()[0], b.get_last_lr()[0]);
}

TEST(Schedulers, ReduceLROnPlateau) {
  auto opt = sgd(1.0);
  ReduceLROnPlateau s(opt, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.2});
  std::vector<double> metrics = {1.0,  0.9,  0.95, 0.95, 0.95, 0.95,
                                 0.95, 0.95, 0.95, 0.95, 0.95, 0.95};
  std::vector<double> lrs;
  for (double m : metrics) {
    s.step(m);
    lrs.push_back(s.get_last_lr()[0]);
  }
  // Improvements at 1 and 2; three bad checks (patience 2) reduce at the 5th; then one
  // check of cooldown, three more bad ones; the floor is min_lr.
  std::vector<double> want = {1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25};
  EXPECT_EQ(lrs, want);
  nn::StateDict sd = s.state_dict();
  ReduceLROnPlateau t(opt, {.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.2});
  t.load_state_dict(sd);
  EXPECT_EQ(t.state_dict().at("num_bad_epochs").item<int64_t>(),
            sd.at("num_bad_epochs").item<int64_t>());
}

// ---- clipping ---------------------------------------------------------------------------

TEST(Clipping, NormMatchesADirectComputation) {
  Tensor a = from_vector<double>({3, 4}).requires_grad_(),
         b = from_vector<double>({12}).requires_grad_();
  a.set_grad(from_vector<double>({3, 4}));
  b.set_grad(from_vector<double>({12}));
  double total = clip_grad_norm_({a, b}, 6.5);
  EXPECT_DOUBLE_EQ(total, 13.0);
  double coef = 6.5 / (13.0 + 1e-6);
  expect_vec_near(a.grad(), {3 * coef, 4 * coef}, 1e-12, 0);
  expect_vec_near(b.grad(), {12 * coef}, 1e-12, 0);
  // Under the limit nothing changes; the inf-norm is the largest magnitude.
  a.set_grad(from_vector<double>({-3, 1}));
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a}, 10.0, kInfNorm), 3.0);
  expect_vec_near(a.grad(), {-3, 1}, 0, 0);
  EXPECT_DOUBLE_EQ(clip_grad_norm_({a}, 10.0, 1.0), 4.0);
  a.set_grad(from_vector<double>({NAN, 1}));
  EXPECT_THROW(clip_grad_norm_({a}, 1.0, 2.0, true), ValueError);
}

TEST(Clipping, ValueClamps) {
  Tensor a = from_vector<double>({0, 0, 0}).requires_grad_();
  a.set_grad(from_vector<double>({-5, 0.5, 7}));
  clip_grad_value_({a}, 1.0);
  expect_vec_near(a.grad(), {-1, 0.5, 1}, 0, 0);
}

}  // namespace
}  // namespace ember::optim
