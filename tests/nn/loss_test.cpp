// Loss modules: torch's defaults, options reaching the functional form, weights as
// buffers, nn::Loss as an injectable criterion; the functional losses' edges the registry
// cannot reach (BCE's log clamp at 0 and 1, kl_div's zero targets, bad options).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <cmath>

namespace ember::nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

double item(const Tensor& t) { return t.item<double>(); }

TEST(LossModules, MatchTheirFunctionalForms) {
  manual_seed(3);
  Tensor x = randn({4, 3}, f64()), y = randn({4, 3}, f64());
  EXPECT_DOUBLE_EQ(item(MSELoss::make()->forward(x, y)), item(F::mse_loss(x, y)));
  EXPECT_DOUBLE_EQ(item(L1Loss::make(F::Reduction::sum)->forward(x, y)),
                   item(F::l1_loss(x, y, F::Reduction::sum)));
  EXPECT_DOUBLE_EQ(item((*SmoothL1Loss::make(F::Reduction::mean, 0.5))(x, y)),
                   item(F::smooth_l1_loss(x, y, F::Reduction::mean, 0.5)));
  EXPECT_DOUBLE_EQ(item((*HuberLoss::make())(x, y)), item(F::huber_loss(x, y)));
  Tensor target = from_vector<int64_t>({0, 2, 1, 2});
  EXPECT_DOUBLE_EQ(item((*CrossEntropyLoss::make({.label_smoothing = 0.1}))(x, target)),
                   item(F::cross_entropy(x, target, {.label_smoothing = 0.1})));
  EXPECT_DOUBLE_EQ(item((*NLLLoss::make())(log_softmax(x, 1), target)),
                   item(F::cross_entropy(x, target)));
  Tensor p = sigmoid(x), t = sigmoid(y);
  EXPECT_DOUBLE_EQ(item((*BCELoss::make())(p, t)), item(F::binary_cross_entropy(p, t)));
  // BCE over probabilities is BCE with logits over their logits.
  EXPECT_NEAR(item((*BCEWithLogitsLoss::make())(x, t)), item(F::binary_cross_entropy(p, t)), 1e-12);
  Tensor logq = log_softmax(x, 1), pt = softmax(y, 1);
  EXPECT_DOUBLE_EQ(item((*KLDivLoss::make(F::KlDivReduction::batchmean))(logq, pt)),
                   item(F::kl_div(logq, pt, F::KlDivReduction::sum)) / 4.0);
  // log_target: the same divergence from the target's logs.
  EXPECT_NEAR(item((*KLDivLoss::make(F::KlDivReduction::sum, true))(logq, log(pt))),
              item(F::kl_div(logq, pt, F::KlDivReduction::sum)), 1e-12);
}

TEST(LossModules, TorchDefaultsAndRepr) {
  EXPECT_EQ(SmoothL1Loss().beta, 1.0);
  EXPECT_EQ(HuberLoss().delta, 1.0);
  EXPECT_EQ(KLDivLoss().reduction, F::KlDivReduction::mean);
  EXPECT_FALSE(KLDivLoss().log_target);
  EXPECT_EQ(CrossEntropyLoss().options.ignore_index, -100);
  EXPECT_EQ(MSELoss().pretty_print(), "MSELoss(reduction='mean')");
  EXPECT_EQ(KLDivLoss(F::KlDivReduction::batchmean).pretty_print(),
            "KLDivLoss(reduction='batchmean', log_target=False)");
  EXPECT_THROW(SmoothL1Loss(F::Reduction::mean, -1.0), ValueError);
  EXPECT_THROW(HuberLoss(F::Reduction::mean, 0.0), ValueError);
}

TEST(LossModules, ClassWeightsAreBuffers) {
  Tensor w = from_vector<double>({1.0, 2.0, 0.5});
  auto ce = CrossEntropyLoss::make({.weight = w});
  EXPECT_THAT(ce->state_dict().keys(), ElementsAre("weight"));
  auto bce = BCEWithLogitsLoss::make({.weight = w, .pos_weight = w * 2.0});
  EXPECT_THAT(bce->state_dict().keys(), ElementsAre("weight", "pos_weight"));
  EXPECT_TRUE(MSELoss().state_dict().empty());
  // The criterion uses the buffer: a change to it (as to() or load_state_dict make) shows.
  Tensor x = from_vector<double>({1, 2, 3}, {1, 3});
  Tensor t = from_vector<int64_t>({1});
  double before = item(ce->forward(x, t));
  EXPECT_DOUBLE_EQ(before, item(F::cross_entropy(x, t)));  // one row: the weight cancels
  EXPECT_DOUBLE_EQ(item((*ce)(x, t)), before);
}

// Any loss can be injected where a criterion is expected.
struct Regressor : Module {
  std::shared_ptr<Linear> fc;
  std::shared_ptr<Loss> criterion;
  explicit Regressor(std::shared_ptr<Loss> c) {
    fc = register_module("fc", Linear::make(3, 1));
    criterion = register_module("criterion", std::move(c));
  }
  Tensor loss(const Tensor& x, const Tensor& y) { return (*criterion)(fc->forward(x), y); }
};

TEST(LossModules, InjectedCriterion) {
  manual_seed(1);
  Regressor a(HuberLoss::make()), b(L1Loss::make());
  Tensor x = randn({5, 3}), y = randn({5, 1});
  EXPECT_EQ(a.loss(x, y).dim(), 0);
  EXPECT_EQ(b.loss(x, y).dim(), 0);
  EXPECT_THAT(a.named_modules()[2].first, "criterion");
}

TEST(FunctionalLosses, BinaryCrossEntropyClampsTheLogAtMinus100) {
  Tensor p = from_vector<double>({0.0, 1.0, 0.5}), t = from_vector<double>({1.0, 0.0, 1.0});
  Tensor l = F::binary_cross_entropy(p, t, {.reduction = F::Reduction::none});
  EXPECT_DOUBLE_EQ(l.select(0, 0).item<double>(), 100.0);
  EXPECT_DOUBLE_EQ(l.select(0, 1).item<double>(), 100.0);
  EXPECT_NEAR(l.select(0, 2).item<double>(), std::log(2.0), 1e-15);
  // A saturated prediction that is right costs nothing.
  Tensor ok =
      F::binary_cross_entropy(from_vector<double>({1.0, 0.0}), from_vector<double>({1.0, 0.0}));
  EXPECT_DOUBLE_EQ(item(ok), 0.0);
  // Its gradient is finite where the log is clamped.
  Tensor q = from_vector<double>({1e-60, 0.3}).requires_grad_();
  F::binary_cross_entropy(q, from_vector<double>({1.0, 1.0}), {.reduction = F::Reduction::sum})
      .backward();
  EXPECT_TRUE(std::isfinite(q.grad().select(0, 0).item<double>()));
  EXPECT_NEAR(q.grad().select(0, 1).item<double>(), -1.0 / 0.3, 1e-12);
}

TEST(FunctionalLosses, KlDivZeroTargetsAddNothing) {
  Tensor logq = from_vector<double>({-1.0, -2.0}).requires_grad_();
  Tensor t = from_vector<double>({0.0, 1.0}).requires_grad_();
  Tensor l = F::kl_div(logq, t, F::KlDivReduction::sum);
  EXPECT_DOUBLE_EQ(item(l), 2.0);  // 0 + 1 * (log 1 - (-2))
  l.backward();
  EXPECT_TRUE(std::isfinite(t.grad().select(0, 0).item<double>()));
  EXPECT_DOUBLE_EQ(logq.grad().select(0, 1).item<double>(), -1.0);
}

TEST(FunctionalLosses, ErrorsNameTheOpAndShapes) {
  Tensor a = randn({2, 3}), b = randn({3, 2});
  try {
    F::smooth_l1_loss(a, b);
    FAIL() << "no throw";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("smooth_l1_loss"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
  }
  EXPECT_THROW(F::huber_loss(a, b), ShapeError);
  EXPECT_THROW(F::binary_cross_entropy(a, b), ShapeError);
  EXPECT_THROW(F::kl_div(a, b), ShapeError);
  EXPECT_THROW(F::smooth_l1_loss(a, a, F::Reduction::mean, -0.5), ValueError);
  EXPECT_THROW(F::huber_loss(a, a, F::Reduction::mean, -1.0), ValueError);
  EXPECT_THROW(F::binary_cross_entropy(from_vector<int64_t>({1}), from_vector<int64_t>({1})),
               DTypeError);
}

}  // namespace
}  // namespace ember::nn
