// Schedulers against torch.optim.lr_scheduler: expected rates written here in f64 from
// torch's closed forms and recursive (chainable) formulas, and torch's own test targets for
// schedulers composed on one optimizer; hand-changed rates kept; state round trips; errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numbers>

#include <ember/ember.h>

namespace ember::optim {
namespace {

using Vec = std::vector<double>;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
constexpr double kPi = std::numbers::pi;

Tensor param() { return from_vector<double>({1.0, 2.0}).requires_grad_(); }
std::shared_ptr<SGD> sgd(double lr = 0.05, double momentum = 0.0) {
  return SGD::make({param()}, {.lr = lr, .momentum = momentum});
}
double lr_of(Optimizer& o, size_t g = 0) { return o.param_groups()[g].lr(); }

// torch's _test: the rate of epochs 0..n-1, stepping every scheduler after each epoch.
Vec rates(Optimizer& opt, const std::vector<LRScheduler*>& schedulers, int n) {
  Vec r;
  for (int e = 0; e < n; ++e) {
    r.push_back(lr_of(opt));
    for (LRScheduler* s : schedulers) s->step();
  }
  return r;
}

void expect_rates(const Vec& got, const Vec& want, double rel = 1e-12, double abs = 0) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rel * std::abs(want[i]) + abs) << "epoch " << i;
}

// ---- new schedulers against their closed forms ------------------------------------------

TEST(ConstantLR, ScalesUntilTotalIters) {
  auto opt = sgd(0.05);
  ConstantLR s(opt, 0.5, 3);
  expect_rates(rates(*opt, {&s}, 6), {0.025, 0.025, 0.025, 0.05, 0.05, 0.05});
  auto d = sgd(0.3);
  ConstantLR def(d);  // torch's defaults: factor 1/3, total_iters 5
  expect_rates(rates(*d, {&def}, 7), {0.1, 0.1, 0.1, 0.1, 0.1, 0.3, 0.3});
}

TEST(PolynomialLR, DecaysToZeroAtTotalIters) {
  auto opt = sgd(0.05);
  PolynomialLR s(opt, 4, 2.0);
  Vec want;
  for (int e = 0; e < 7; ++e) want.push_back(0.05 * std::pow(1.0 - std::min(e, 4) / 4.0, 2.0));
  expect_rates(rates(*opt, {&s}, 7), want);
  EXPECT_EQ(lr_of(*opt), 0.0);
  for (int e = 0; e < 7; ++e) EXPECT_NEAR(s.lr_at(e)[0], want[static_cast<size_t>(e)], 1e-15);
}

// ---- chainable: a hand-changed rate is the next step's starting point -------------------

TEST(Chainable, HandChangedRateIsKept) {
  {
    auto opt = sgd(0.1);
    ExponentialLR s(opt, 0.5);
    s.step();
    opt->param_groups()[0].set_lr(1.0);
    s.step();
    EXPECT_DOUBLE_EQ(lr_of(*opt), 0.5);  // the closed form would give 0.1 * 0.5^2
    EXPECT_DOUBLE_EQ(s.get_last_lr()[0], 0.5);
  }
  {
    auto opt = sgd(0.1);
    StepLR s(opt, 2, 0.1);
    s.step();
    opt->param_groups()[0].set_lr(0.7);
    s.step();  // epoch 2: the current rate times gamma
    EXPECT_NEAR(lr_of(*opt), 0.07, 1e-16);
    s.step();
    EXPECT_NEAR(lr_of(*opt), 0.07, 1e-16);
  }
  {
    auto opt = sgd(0.1);
    MultiStepLR s(opt, {1, 3, 3}, 0.5);  // a milestone twice applies gamma^2
    opt->param_groups()[0].set_lr(0.8);
    expect_rates(rates(*opt, {&s}, 5), {0.8, 0.4, 0.4, 0.1, 0.1});
  }
  {
    auto opt = sgd(1.0);
    CosineAnnealingLR s(opt, 8, 0.1);
    s.step();
    s.step();
    opt->param_groups()[0].set_lr(2.0);
    s.step();  // epoch 3: eta_min + (lr - eta_min) (1 + cos(3 pi / 8)) / (1 + cos(2 pi / 8))
    double want = 0.1 + (2.0 - 0.1) * (1 + std::cos(3 * kPi / 8)) / (1 + std::cos(2 * kPi / 8));
    EXPECT_NEAR(lr_of(*opt), want, 1e-15);
  }
  {
    auto opt = sgd(1.0);
    LinearLR s(opt, 0.25, 1.0, 3);
    opt->param_groups()[0].set_lr(0.5);
    s.step();  // factor 0.25 -> 0.5: the rate doubles
    EXPECT_NEAR(lr_of(*opt), 1.0, 1e-15);
  }
  {
    auto opt = sgd(1.0);
    ConstantLR s(opt, 0.5, 2);
    s.step();
    opt->param_groups()[0].set_lr(0.3);
    s.step();  // total_iters: divided by the factor
    EXPECT_NEAR(lr_of(*opt), 0.6, 1e-15);
  }
  {
    auto opt = sgd(1.0);
    PolynomialLR s(opt, 4, 1.0);
    s.step();  // 0.75
    opt->param_groups()[0].set_lr(3.0);
    s.step();  // times (1 - 2/4) / (1 - 1/4)
    EXPECT_NEAR(lr_of(*opt), 2.0, 1e-15);
  }
}

TEST(Chainable, LambdaLRIsNotChainable) {
  auto opt = sgd(0.1);
  LambdaLR s(opt, [](int64_t e) { return 1.0 / static_cast<double>(e + 1); });
  s.step();
  opt->param_groups()[0].set_lr(5.0);
  s.step();
  EXPECT_NEAR(lr_of(*opt), 0.1 / 3, 1e-16);  // base * lambda(2), the hand change is lost
}

// ---- several schedulers on one optimizer: torch's test targets ---------------------------

TEST(Compose, ChainedLinearAndMultiStep) {  // torch's test_chained_lr3
  auto opt = sgd(0.05);
  auto a = std::make_shared<LinearLR>(opt, 0.4, 1.0, 3);
  auto b = std::make_shared<MultiStepLR>(opt, std::vector<int64_t>{4, 8, 10}, 0.1);
  ChainedScheduler s({a, b});
  EXPECT_EQ(s.get_last_lr(), b->get_last_lr());
  Vec want = {0.02, 0.03, 0.04, 0.05, 0.005, 0.005, 0.005, 0.005, 0.0005, 0.0005};
  expect_rates(rates(*opt, {&s}, 10), want);
  EXPECT_EQ(s.get_last_lr(), b->get_last_lr());
}

TEST(Compose, ChainedPolynomialAndConstant) {  // torch's test_chained_lr5
  auto opt = sgd(0.05);
  auto a = std::make_shared<PolynomialLR>(opt, 5, 0.9);
  auto b = std::make_shared<ConstantLR>(opt, 0.1);
  ChainedScheduler s({a, b}, opt);
  Vec want;
  for (int x = 0; x < 10; ++x)
    want.push_back(x < 5 ? 0.05 * std::pow(1.0 - x / 5.0, 0.9) * 0.1 : 0);
  expect_rates(rates(*opt, {&s}, 10), want);
}

TEST(Compose, ChainedConstantAndExponential) {
  // torch's ChainedScheduler example with lr 1, ConstantLR(factor 0.1, total_iters 2) and
  // ExponentialLR(0.9), from the recursive forms: ConstantLR scales by 0.1 at epoch 0 and
  // back by 10 at epoch 2, ExponentialLR by 0.9 each step.
  auto opt = sgd(1.0);
  auto c = std::make_shared<ConstantLR>(opt, 0.1, 2);
  auto e = std::make_shared<ExponentialLR>(opt, 0.9);
  ChainedScheduler s({c, e});
  Vec want = {0.1, 0.09, 0.81, 0.729, 0.6561, 0.59049};
  expect_rates(rates(*opt, {&s}, 6), want);
}

TEST(Compose, TwoSchedulersSteppedByHand) {
  {  // torch's test_compound_step_and_constantlr
    auto opt = sgd(0.05);
    StepLR a(opt, 3, 0.1);
    ConstantLR b(opt, 0.4, 4);
    Vec want = {0.02, 0.02, 0.02, 0.002, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 0.00005};
    expect_rates(rates(*opt, {&a, &b}, 10), want);
  }
  {  // torch's test_compound_cosanneal_and_exp_lr
    auto opt = sgd(0.05);
    CosineAnnealingLR a(opt, 10, 1e-10);
    ExponentialLR b(opt, 0.1);
    Vec want;
    for (int x = 0; x < 10; ++x)
      want.push_back((1e-10 + (0.05 - 1e-10) * (1 + std::cos(kPi * x / 10)) / 2) *
                     std::pow(0.1, x));
    // The product is exact only for eta_min = 0: cosine's recursion subtracts eta_min from
    // the scaled rate, so the two differ by about eta_min (torch's test passes by tolerance).
    expect_rates(rates(*opt, {&a, &b}, 10), want, 1e-12, 1e-11);
  }
}

TEST(Compose, SequentialConstantThenExponential) {
  // torch's SequentialLR example, shortened: ConstantLR(0.1, 2) until the milestone 2, then
  // ExponentialLR(0.9) from the initial rate.
  auto opt = sgd(1.0);
  auto c = std::make_shared<ConstantLR>(opt, 0.1, 2);
  auto e = std::make_shared<ExponentialLR>(opt, 0.9);
  SequentialLR s(opt, {c, e}, {2});
  expect_rates(rates(*opt, {&s}, 6), {0.1, 0.1, 1.0, 0.9, 0.81, 0.729});
}

TEST(Compose, TwoGroupsKeepTheirOwnRates) {
  auto opt = SGD::make({{{param()}, {.lr = 0.05}}, {{param()}, {.lr = 0.5}}});
  auto a = std::make_shared<StepLR>(opt, 2, 0.5);
  auto b = std::make_shared<ExponentialLR>(opt, 0.9);
  ChainedScheduler s({a, b});
  for (int i = 0; i < 5; ++i) s.step();
  // epoch 5: StepLR halved at 2 and 4, ExponentialLR 0.9^5
  EXPECT_NEAR(lr_of(*opt, 0), 0.05 * 0.25 * std::pow(0.9, 5), 1e-15);
  EXPECT_NEAR(lr_of(*opt, 1), 0.5 * 0.25 * std::pow(0.9, 5), 1e-14);
}

// ---- OneCycleLR -----------------------------------------------------------------------

double cos_anneal(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
}

TEST(OneCycleLR, TwoPhaseCosWithMomentum) {
  auto opt = sgd(0.123, 0.9);
  OneCycleLR s(opt, {.max_lr = {1.0}, .total_steps = 10});
  const double initial = 1.0 / 25, min_lr = initial / 1e4;
  // Phases end at steps 0.3 * 10 - 1 = 2 and 9.
  for (int step = 0; step <= 10; ++step) {
    double lr, mom;
    if (step <= 2) {
      lr = cos_anneal(initial, 1.0, step / 2.0);
      mom = cos_anneal(0.95, 0.85, step / 2.0);
    } else {
      lr = cos_anneal(1.0, min_lr, (step - 2) / 7.0);
      mom = cos_anneal(0.85, 0.95, (step - 2) / 7.0);
    }
    EXPECT_NEAR(lr_of(*opt), lr, 1e-15) << "step " << step;
    EXPECT_NEAR(opt->param_groups()[0].get("momentum"), mom, 1e-15) << "step " << step;
    if (step < 10) s.step();
  }
  EXPECT_NEAR(s.get_last_lr()[0], cos_anneal(1.0, min_lr, 8.0 / 7.0), 1e-15);
  EXPECT_THAT([&] { s.step(); },
              ThrowsMessage<ValueError>(HasSubstr("OneCycleLR")));  // step 11 > total_steps
}

TEST(OneCycleLR, SpotValuesLinearAndThreePhase) {
  {
    auto opt = sgd(0.1, 0.9);
    OneCycleLR s(opt,
                 {.max_lr = {1.0}, .epochs = 2, .steps_per_epoch = 5, .anneal_strategy = "linear"});
    EXPECT_EQ(s.total_steps(), 10);
    EXPECT_NEAR(lr_of(*opt), 0.04, 1e-16);
    s.step();
    EXPECT_NEAR(lr_of(*opt), 0.04 + (1.0 - 0.04) * 0.5, 1e-15);
    s.step();
    EXPECT_NEAR(lr_of(*opt), 1.0, 1e-15);
  }
  {
    auto opt = sgd(0.1, 0.9);
    OneCycleLR s(opt, {.max_lr = {1.0}, .total_steps = 10, .three_phase = true});
    // Phases end at 2, 4 and 9: up to max_lr, back down to initial_lr, then to min_lr.
    Vec got = rates(*opt, {&s}, 10);
    EXPECT_NEAR(got[2], 1.0, 1e-15);
    EXPECT_NEAR(got[3], cos_anneal(1.0, 0.04, 0.5), 1e-15);
    EXPECT_NEAR(got[4], 0.04, 1e-15);
    EXPECT_NEAR(got[6], cos_anneal(0.04, 0.04 / 1e4, 2.0 / 5.0), 1e-15);
    EXPECT_NEAR(got[9], 0.04 / 1e4, 1e-18);
    EXPECT_NEAR(opt->param_groups()[0].get("momentum"), 0.95, 1e-15);  // max in phase 3
  }
}

TEST(OneCycleLR, AdamCyclesBeta1PerGroup) {
  auto opt = Adam::make({{{param()}, {}}, {{param()}, {}}}, {.betas = std::pair{0.9, 0.99}});
  OneCycleLR s(opt, {.max_lr = {1.0, 2.0},
                     .total_steps = 4,
                     .pct_start = 0.5,
                     .base_momentum = {0.8},
                     .max_momentum = {0.9}});
  EXPECT_NEAR(lr_of(*opt, 1), 2.0 / 25, 1e-16);
  s.step();  // phase 1 ends at 0.5 * 4 - 1 = 1: the peak
  EXPECT_NEAR(lr_of(*opt, 0), 1.0, 1e-15);
  EXPECT_NEAR(lr_of(*opt, 1), 2.0, 1e-15);
  EXPECT_NEAR(opt->param_groups()[0].get("beta1"), 0.8, 1e-15);
  EXPECT_EQ(opt->param_groups()[0].get("beta2"), 0.99);
  EXPECT_EQ(opt->param_groups()[1].get("initial_lr"), 2.0 / 25);
}

// An optimizer with neither momentum nor betas.
class Plain : public Optimizer {
 public:
  Plain() : Optimizer({{"lr", 0.1}}) { add_param_group({param()}); }
  void step() override {}
  std::string name() const override { return "Plain"; }

 protected:
  void validate(const Options&) const override {}
};

TEST(OneCycleLR, BadOptionsNameTheScheduler) {
  auto bad = [](OneCycleLROptions o, const char* what) {
    EXPECT_THAT([&] { OneCycleLR(sgd(0.1, 0.9), o); },
                ThrowsMessage<ValueError>(AllOf(HasSubstr("OneCycleLR"), HasSubstr(what))));
  };
  bad({.max_lr = {1.0}, .total_steps = 0}, "total_steps");
  bad({.max_lr = {1.0}, .total_steps = -3}, "total_steps");
  bad({.max_lr = {1.0}}, "total_steps");
  bad({.max_lr = {1.0}, .epochs = 0, .steps_per_epoch = 5}, "epochs");
  bad({.max_lr = {1.0}, .total_steps = 10, .pct_start = 1.5}, "pct_start");
  bad({.max_lr = {1.0}, .total_steps = 10, .pct_start = -0.1}, "pct_start");
  bad({.max_lr = {1.0}, .total_steps = 10, .anneal_strategy = "exp"}, "anneal_strategy");
  bad({.max_lr = {1.0, 2.0}, .total_steps = 10}, "max_lr");
  EXPECT_THAT([] { OneCycleLR(std::make_shared<Plain>(), {.max_lr = {1.0}, .total_steps = 5}); },
              ThrowsMessage<ValueError>(HasSubstr("cycle_momentum")));
  OneCycleLR ok(std::make_shared<Plain>(),
                {.max_lr = {1.0}, .total_steps = 5, .cycle_momentum = false});
  EXPECT_NEAR(ok.get_last_lr()[0], 0.04, 1e-16);
}

// ---- CosineAnnealingWarmRestarts ------------------------------------------------------

// SGDR's closed form with periods T_0, T_0 T_mult, ...
double sgdr(double base, double eta, double t0, double mult, double epoch) {
  double start = 0, period = t0;
  while (epoch >= start + period) {
    start += period;
    period *= mult;
  }
  return eta + (base - eta) * (1 + std::cos(kPi * (epoch - start) / period)) / 2;
}

TEST(CosineAnnealingWarmRestarts, StepsAndRestarts) {
  auto opt = sgd(0.1);
  CosineAnnealingWarmRestarts s(opt, 3, 2, 0.01);
  for (int e = 0; e < 25; ++e) {
    EXPECT_NEAR(lr_of(*opt), sgdr(0.1, 0.01, 3, 2, e), 1e-15) << "epoch " << e;
    s.step();
  }
  EXPECT_EQ(s.T_i(), 24);  // periods 3, 6, 12, then 24 from epoch 21
  auto o1 = sgd(0.1);
  CosineAnnealingWarmRestarts one(o1, 4);
  for (int e = 0; e < 9; ++e) {
    EXPECT_NEAR(lr_of(*o1), sgdr(0.1, 0, 4, 1, e), 1e-15) << "epoch " << e;
    one.step();
  }
}

TEST(CosineAnnealingWarmRestarts, FractionalEpochs) {
  auto opt = sgd(0.1);
  CosineAnnealingWarmRestarts s(opt, 3, 2, 0.01);
  for (double e : {0.5, 1.25, 2.999, 3.0, 4.5, 8.75, 9.0, 20.5, 0.25}) {
    s.step(e);
    EXPECT_NEAR(lr_of(*opt), sgdr(0.1, 0.01, 3, 2, e), 1e-14) << "epoch " << e;
    EXPECT_EQ(s.last_epoch(), static_cast<int64_t>(std::floor(e)));
  }
  // torch's interleaving: step(26) then step() continues at 27.
  s.step(26.0);
  s.step();
  EXPECT_EQ(s.last_epoch(), 27);
  EXPECT_NEAR(lr_of(*opt), sgdr(0.1, 0.01, 3, 2, 27), 1e-14);
  auto o1 = sgd(0.1);
  CosineAnnealingWarmRestarts one(o1, 3);
  one.step(7.5);
  EXPECT_NEAR(lr_of(*o1), sgdr(0.1, 0, 3, 1, 7.5), 1e-15);
}

TEST(CosineAnnealingWarmRestarts, BadOptionsNameTheScheduler) {
  auto msg = [](const char* what) {
    return ThrowsMessage<ValueError>(
        AllOf(HasSubstr("CosineAnnealingWarmRestarts"), HasSubstr(what)));
  };
  EXPECT_THAT([] { CosineAnnealingWarmRestarts(sgd(), 0); }, msg("T_0"));
  EXPECT_THAT([] { CosineAnnealingWarmRestarts(sgd(), 2, 0); }, msg("T_mult"));
  CosineAnnealingWarmRestarts s(sgd(), 2);
  EXPECT_THAT([&] { s.step(-1.0); }, msg("epoch"));
}

TEST(Schedulers, OtherBadOptionsNameTheScheduler) {
  EXPECT_THAT([] { ConstantLR(sgd(), 1.5); },
              ThrowsMessage<ValueError>(AllOf(HasSubstr("ConstantLR"), HasSubstr("factor"))));
  EXPECT_THAT(
      [] { PolynomialLR(sgd(), 0); },
      ThrowsMessage<ValueError>(AllOf(HasSubstr("PolynomialLR"), HasSubstr("total_iters"))));
  EXPECT_THAT([] { ChainedScheduler({}); },
              ThrowsMessage<ValueError>(HasSubstr("ChainedScheduler")));
  auto other = std::make_shared<StepLR>(sgd(), 2);
  auto mine = sgd();
  auto s = std::make_shared<StepLR>(mine, 2);
  EXPECT_THAT(
      [&] {
        ChainedScheduler({s, other});
      },
      ThrowsMessage<ValueError>(HasSubstr("another optimizer")));
  ChainedScheduler chained({s});  // only steps: no closed form
  EXPECT_THAT(
      [&] { chained.lr_at(3); },
      ThrowsMessage<ValueError>(AllOf(HasSubstr("ChainedScheduler"), HasSubstr("closed form"))));
  EXPECT_THAT([] { SequentialLR(sgd(), {std::make_shared<StepLR>(sgd(), 2)}, {}); },
              ThrowsMessage<ValueError>(HasSubstr("SequentialLR")));
}

// ---- state round trips mid-schedule ---------------------------------------------------

// Runs `make` twice: the first copy steps k times, its optimizer's and scheduler's states go
// into the second (fresh) copy, then both step on and must agree exactly.
void expect_round_trip(
    const std::function<std::shared_ptr<LRScheduler>(std::shared_ptr<Optimizer>)>& make,
    const std::function<std::shared_ptr<Optimizer>()>& make_opt, int k, int more) {
  auto o1 = make_opt(), o2 = make_opt();
  auto a = make(o1), b = make(o2);
  for (int i = 0; i < k; ++i) a->step();
  o2->load_state_dict(o1->state_dict());
  b->load_state_dict(a->state_dict());
  EXPECT_EQ(b->last_epoch(), a->last_epoch()) << a->name();
  EXPECT_EQ(b->get_last_lr(), a->get_last_lr()) << a->name();
  for (int i = 0; i < more; ++i) {
    a->step();
    b->step();
    EXPECT_EQ(lr_of(*o2), lr_of(*o1)) << a->name() << " step " << k + i + 1;
    for (const auto& [key, v] : o1->param_groups()[0].options)
      EXPECT_EQ(o2->param_groups()[0].get(key), v) << a->name() << " option " << key;
  }
}

TEST(Schedulers, StateRoundTripMidSchedule) {
  auto plain = [] { return std::static_pointer_cast<Optimizer>(sgd(0.1, 0.9)); };
  expect_round_trip([](auto o) { return std::make_shared<CosineAnnealingLR>(o, 7, 0.01); }, plain,
                    4, 8);
  expect_round_trip([](auto o) { return std::make_shared<PolynomialLR>(o, 6, 0.5); }, plain, 2, 6);
  expect_round_trip([](auto o) { return std::make_shared<ConstantLR>(o, 0.2, 3); }, plain, 1, 4);
  expect_round_trip(
      [](auto o) {
        return std::make_shared<OneCycleLR>(
            o, OneCycleLROptions{.max_lr = {0.5}, .total_steps = 12, .three_phase = true});
      },
      plain, 5, 7);
  expect_round_trip(
      [](auto o) { return std::make_shared<CosineAnnealingWarmRestarts>(o, 2, 3, 0.001); }, plain,
      5, 10);
  expect_round_trip(
      [](auto o) {
        auto c = std::make_shared<ConstantLR>(o, 0.5, 3);
        auto e = std::make_shared<ExponentialLR>(o, 0.8);
        return std::make_shared<ChainedScheduler>(std::vector<std::shared_ptr<LRScheduler>>{c, e});
      },
      plain, 2, 4);
  expect_round_trip(
      [](auto o) {
        auto w = std::make_shared<LinearLR>(o, 0.2, 1.0, 3);
        auto c = std::make_shared<CosineAnnealingLR>(o, 5);
        return std::make_shared<SequentialLR>(o, std::vector<std::shared_ptr<LRScheduler>>{w, c},
                                              std::vector<int64_t>{3});
      },
      plain, 2, 6);
}

TEST(Schedulers, StateDictHoldsTorchsFields) {
  auto opt = sgd(0.1);
  CosineAnnealingWarmRestarts s(opt, 2, 2);
  for (int i = 0; i < 3; ++i) s.step();
  nn::StateDict d = s.state_dict();
  for (const char* k : {"last_epoch", "_step_count", "base_lrs", "_last_lr", "T_0", "T_i", "T_mult",
                        "eta_min", "T_cur"})
    EXPECT_TRUE(d.contains(k)) << k;
  EXPECT_EQ(d.at("T_i").item<int64_t>(), 4);
  EXPECT_EQ(d.at("T_cur").item<double>(), 1.0);
  CosineAnnealingWarmRestarts other(sgd(0.1), 3, 2);
  EXPECT_THAT([&] { other.load_state_dict(d); }, ThrowsMessage<ValueError>(HasSubstr("T_0")));
}

}  // namespace
}  // namespace ember::optim
