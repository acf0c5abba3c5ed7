// optim::GradScaler (issue 16): torch.amp.GradScaler's defaults, growth, backoff, skipped
// steps on an injected inf or NaN, unscale_ before clipping, the order of calls, and the
// state dict with PyTorch's keys.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ember/ember.h>

namespace ember::optim {
namespace {

// A parameter of f32 values and its loss sum(w p^2), gradient 2 w p.
struct Problem {
  Tensor p = from_vector<float>({1.0f, -2.0f, 0.5f, 3.0f}).requires_grad_();
  Tensor w = from_vector<float>({1.0f, 0.5f, 2.0f, 0.25f});
  Tensor loss() const { return (w * p * p).sum(); }
  std::vector<float> grad() const {
    std::vector<float> pv = p.to_vector<float>(), wv = w.to_vector<float>(), g(pv.size());
    for (size_t i = 0; i < g.size(); ++i) g[i] = 2 * wv[i] * pv[i];
    return g;
  }
};

// One iteration of the scaled recipe; `poison` replaces the first gradient element.
bool iterate(GradScaler& scaler, Problem& pb, Optimizer& opt, double poison = 0.0) {
  opt.zero_grad();
  scaler.scale(pb.loss()).backward();
  if (poison != 0.0) pb.p.grad().narrow(0, 0, 1).fill_(poison);
  const bool stepped = scaler.step(opt);
  scaler.update();
  return stepped;
}

TEST(GradScaler, TorchDefaults) {
  GradScaler s;
  EXPECT_EQ(s.get_scale(), 65536.0);
  EXPECT_EQ(s.get_growth_factor(), 2.0);
  EXPECT_EQ(s.get_backoff_factor(), 0.5);
  EXPECT_EQ(s.get_growth_interval(), 2000);
  EXPECT_TRUE(s.is_enabled());
}

TEST(GradScaler, ScalesTheLossAndUnscalesTheGradients) {
  Problem pb;
  auto opt = SGD::make({pb.p}, {.lr = 0.1});
  GradScaler s({.init_scale = 1024.0});
  Tensor scaled = s.scale(pb.loss());
  EXPECT_FLOAT_EQ(scaled.item<float>(), 1024.0f * pb.loss().item<float>());
  scaled.backward();
  const std::vector<float> g = pb.grad();
  EXPECT_FLOAT_EQ(pb.p.grad().to_vector<float>()[1], 1024.0f * g[1]);
  s.unscale_(*opt);
  const std::vector<float> got = pb.p.grad().to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_FLOAT_EQ(got[i], g[i]) << i;
}

// bf16 gradients are unscaled (f32 math, one rounding: exact here, the scale is a power of
// two); f16 gradients are refused as torch's GradScaler refuses them (issue 16, halfnn2).
TEST(GradScaler, UnscalesBf16GradientsAndRefusesF16Ones) {
  for (DType dt : {DType::bf16, DType::f16}) {
    Tensor p = from_vector<float>({1.0f, -2.0f, 0.5f}).to(dt).requires_grad_();
    auto opt = SGD::make({p}, {.lr = 0.5});
    GradScaler s({.init_scale = 256.0});
    s.scale((p * p).sum()).backward();
    EXPECT_EQ(p.grad().dtype(), dt);
    if (dt == DType::f16) {
      EXPECT_THROW(s.unscale_(*opt), ValueError);
      continue;
    }
    s.unscale_(*opt);
    const std::vector<float> g = p.grad().to(DType::f32).to_vector<float>();
    EXPECT_EQ(g, (std::vector<float>{2.0f, -4.0f, 1.0f}));  // 2 p, unscaled
    EXPECT_TRUE(s.step(*opt));
    EXPECT_EQ(p.to(DType::f32).to_vector<float>(), (std::vector<float>{0.0f, 0.0f, 0.0f}));
  }
}

TEST(GradScaler, GrowsAfterGrowthIntervalFiniteSteps) {
  Problem pb;
  auto opt = SGD::make({pb.p}, {.lr = 0.01});
  GradScaler s({.init_scale = 8.0, .growth_interval = 3});
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(iterate(s, pb, *opt));
  EXPECT_EQ(s.get_scale(), 8.0);
  ASSERT_TRUE(iterate(s, pb, *opt));
  EXPECT_EQ(s.get_scale(), 16.0);  // the third finite step in a row
  for (int i = 0; i < 2; ++i) iterate(s, pb, *opt);
  EXPECT_EQ(s.get_scale(), 16.0);  // the count restarted
  iterate(s, pb, *opt);
  EXPECT_EQ(s.get_scale(), 32.0);
}

TEST(GradScaler, SkipsTheStepAndBacksOffOnInfAndNaN) {
  for (double bad :
       {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
        std::numeric_limits<double>::quiet_NaN()}) {
    Problem pb;
    auto opt = SGD::make({pb.p}, {.lr = 0.1});
    GradScaler s({.init_scale = 64.0, .growth_interval = 2});
    ASSERT_TRUE(iterate(s, pb, *opt));  // tracker 1: the next finite step would grow
    const std::vector<float> before = pb.p.to_vector<float>();
    EXPECT_FALSE(iterate(s, pb, *opt, bad)) << bad;
    EXPECT_EQ(pb.p.to_vector<float>(), before) << "a skipped step changed the parameter";
    EXPECT_EQ(s.get_scale(), 32.0) << bad;
    // The tracker restarted: one finite step does not grow, two do.
    ASSERT_TRUE(iterate(s, pb, *opt));
    EXPECT_EQ(s.get_scale(), 32.0);
    ASSERT_TRUE(iterate(s, pb, *opt));
    EXPECT_EQ(s.get_scale(), 64.0);
  }
}

TEST(GradScaler, UnscaleBeforeClippingSeesTheTrueGradients) {
  Problem plain, scaled;
  plain.loss().backward();
  const double want = clip_grad_norm_({plain.p}, 1.0);
  auto opt = SGD::make({scaled.p}, {.lr = 0.1});
  GradScaler s;  // 65536: a norm 65536 times too large if unscaling were missing
  s.scale(scaled.loss()).backward();
  s.unscale_(*opt);
  const double got = clip_grad_norm_({scaled.p}, 1.0);
  EXPECT_NEAR(got, want, 1e-5 * want);
  // The clipped gradients are those of the plain run; step() does not unscale again.
  const std::vector<float> clipped = plain.p.grad().to_vector<float>();
  const std::vector<float> before = scaled.p.to_vector<float>();
  ASSERT_TRUE(s.step(*opt));
  const std::vector<float> after = scaled.p.to_vector<float>();
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_NEAR(after[i], before[i] - 0.1f * clipped[i], 1e-6) << i;
  s.update();
}

TEST(GradScaler, OrderOfCallsIsChecked) {
  Problem pb;
  auto opt = SGD::make({pb.p}, {.lr = 0.1});
  GradScaler s;
  EXPECT_THROW(s.unscale_(*opt), ValueError);  // no scale() yet
  EXPECT_THROW(s.update(), ValueError);
  s.scale(pb.loss()).backward();
  s.unscale_(*opt);
  EXPECT_THROW(s.unscale_(*opt), ValueError);
  s.step(*opt);
  EXPECT_THROW(s.step(*opt), ValueError);
  EXPECT_THROW(s.unscale_(*opt), ValueError);
  s.update();
  EXPECT_THROW(s.update(), ValueError);  // no inf check recorded since
  EXPECT_THROW(GradScaler({.growth_factor = 1.0}), ValueError);
  EXPECT_THROW(GradScaler({.backoff_factor = 1.5}), ValueError);
  EXPECT_THROW(GradScaler({.growth_interval = 0}), ValueError);
  EXPECT_THROW(GradScaler({.init_scale = -1.0}), ValueError);
}

TEST(GradScaler, StateDictRoundTripWithTorchKeys) {
  Problem pb;
  auto opt = SGD::make({pb.p}, {.lr = 0.01});
  GradScaler s(
      {.init_scale = 4.0, .growth_factor = 3.0, .backoff_factor = 0.25, .growth_interval = 3});
  iterate(s, pb, *opt);
  iterate(s, pb, *opt);  // tracker 2
  const nn::StateDict d = s.state_dict();
  std::vector<std::string> keys;
  for (const auto& [k, v] : d) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"scale", "growth_factor", "backoff_factor",
                                            "growth_interval", "_growth_tracker"}));
  EXPECT_EQ(d.at("scale").item<double>(), 4.0);
  EXPECT_EQ(d.at("growth_factor").item<double>(), 3.0);
  EXPECT_EQ(d.at("backoff_factor").item<double>(), 0.25);
  EXPECT_EQ(d.at("growth_interval").item<int64_t>(), 3);
  EXPECT_EQ(d.at("_growth_tracker").item<int64_t>(), 2);

  GradScaler t;  // torch defaults, replaced by the load
  t.load_state_dict(d);
  EXPECT_EQ(t.get_scale(), 4.0);
  EXPECT_EQ(t.get_growth_factor(), 3.0);
  EXPECT_EQ(t.get_backoff_factor(), 0.25);
  EXPECT_EQ(t.get_growth_interval(), 3);
  iterate(t, pb, *opt);  // the restored tracker reaches 3: growth by 3
  EXPECT_EQ(t.get_scale(), 12.0);

  EXPECT_THROW(t.load_state_dict(nn::StateDict{}), ValueError);
  nn::StateDict missing = d;
  missing.erase("_growth_tracker");
  EXPECT_THROW(t.load_state_dict(missing), ValueError);
}

TEST(GradScaler, DisabledIsAPassThrough) {
  Problem pb;
  auto opt = SGD::make({pb.p}, {.lr = 0.1});
  GradScaler s({.enabled = false});
  Tensor loss = pb.loss();
  EXPECT_TRUE(s.scale(loss).is_same(loss));
  s.scale(loss).backward();
  const std::vector<float> g = pb.grad(), before = pb.p.to_vector<float>();
  s.unscale_(*opt);
  EXPECT_TRUE(s.step(*opt));
  s.update();
  EXPECT_NEAR(pb.p.to_vector<float>()[0], before[0] - 0.1f * g[0], 1e-6);
  EXPECT_EQ(s.get_scale(), 1.0);
  EXPECT_TRUE(s.state_dict().empty());
}

TEST(GradScaler, RunsOnTheSimDevice) {
  Tensor p = from_vector<float>({1.0f, -2.0f, 3.0f}).to(Device::sim()).requires_grad_();
  auto opt = SGD::make({p}, {.lr = 0.5});
  GradScaler s({.init_scale = 256.0, .growth_interval = 1});
  s.scale((p * p).sum()).backward();
  ASSERT_TRUE(s.step(*opt));
  s.update();
  EXPECT_EQ(p.to_vector<float>(), (std::vector<float>{0.0f, 0.0f, 0.0f}));  // p - 0.5 * 2p
  EXPECT_EQ(s.get_scale(), 512.0);
  opt->zero_grad();
  s.scale((p * p).sum()).backward();
  p.grad().narrow(0, 1, 1).fill_(std::numeric_limits<double>::quiet_NaN());
  EXPECT_FALSE(s.step(*opt));
  s.update();
  EXPECT_EQ(s.get_scale(), 256.0);
}

}  // namespace
}  // namespace ember::optim
