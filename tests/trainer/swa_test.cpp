// StochasticWeightAveraging and optim::SWALR against hand-computed (f64) references.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "test_models.h"

namespace trainer_test {
namespace {

std::vector<double> to_f64(const Tensor& t) {
  return t.contiguous().to(DType::f64).to_vector<double>();
}

// Records the weights and the rate at every epoch start (after the SWA callback's hook).
struct Recorder : Regressor {
  std::vector<std::vector<double>> weights;  // weight then bias, per epoch start
  std::vector<double> lrs;
  explicit Recorder(RegressionOptions o = {}) : Regressor(o) {}
  void on_train_epoch_start() override {
    std::vector<double> w = to_f64(linear->weight);
    for (double b : to_f64(linear->bias)) w.push_back(b);
    weights.push_back(w);
    lrs.push_back(trainer().optimizer()->param_groups()[0].lr());
  }
};

std::vector<double> final_weights(const Regressor& m) {
  std::vector<double> w = to_f64(m.linear->weight);
  for (double b : to_f64(m.linear->bias)) w.push_back(b);
  return w;
}

TrainerOptions swa_trainer(int64_t epochs, std::shared_ptr<Callback> swa) {
  return quiet({.max_epochs = epochs,
                .enable_checkpointing = false,
                .callbacks = {std::move(swa)},
                .logger = false});
}

TEST(StochasticWeightAveraging, AveragesTheEpochStartWeights) {
  manual_seed(3);
  DataLoader loader(regression_data(), {.batch_size = 16});
  Recorder model;
  auto swa = StochasticWeightAveraging::make({.swa_lrs = 0.02, .swa_epoch_start = 3});
  Trainer trainer(swa_trainer(6, swa));
  trainer.fit(model, loader);
  // swa_epoch_start 3: epochs 2..5 (0-based) are averaged, at their start.
  EXPECT_EQ(swa->swa_start(), 2);
  EXPECT_EQ(swa->swa_end(), 5);
  EXPECT_EQ(swa->n_averaged(), 4);
  EXPECT_EQ(swa->latest_update_epoch(), 5);
  ASSERT_EQ(model.weights.size(), 6u);
  const std::vector<double> got = final_weights(model);
  for (size_t i = 0; i < got.size(); ++i) {
    double mean = 0;
    for (int e = 2; e <= 5; ++e) mean += model.weights[static_cast<size_t>(e)][i] / 4.0;
    EXPECT_NEAR(got[i], mean, 1e-5) << i;
  }
  // Not the weights training ended with (the last epoch trained after the last update).
  EXPECT_GT(std::abs(got[0] - model.weights[5][0]), 1e-4);
}

TEST(StochasticWeightAveraging, FractionStartAndCustomAvgFn) {
  manual_seed(4);
  DataLoader loader(regression_data(), {.batch_size = 16});
  Recorder model;
  int64_t calls = 0;
  // An exponential average: avg' = 0.5 avg + 0.5 p.
  auto swa = StochasticWeightAveraging::make(
      {.swa_lrs = 0.02,
       .swa_epoch_start = 0.5,
       .avg_fn = [&](const Tensor& avg, const Tensor& p, int64_t n) {
         ++calls;
         EXPECT_GE(n, 1);
         return avg * 0.5 + p * 0.5;
       }});
  Trainer trainer(swa_trainer(4, swa));
  trainer.fit(model, loader);
  // int(0.5 * 4) = 2: swa_start 1, updates at epochs 1, 2, 3.
  EXPECT_EQ(swa->swa_start(), 1);
  EXPECT_EQ(calls, 2 * 2);  // two updates after the first copy, two parameters each
  const std::vector<double> got = final_weights(model);
  for (size_t i = 0; i < got.size(); ++i) {
    const double expect =
        0.5 * (0.5 * model.weights[1][i] + 0.5 * model.weights[2][i]) + 0.5 * model.weights[3][i];
    EXPECT_NEAR(got[i], expect, 1e-5) << i;
  }
}

// SWALR's rate k epochs after SWA started from rate lr0.
double swalr_rate(double lr0, double swa, int64_t k, int64_t anneal, bool cos) {
  const double t = std::min(1.0, static_cast<double>(k) / static_cast<double>(anneal));
  const double a = cos ? (1.0 - std::cos(std::numbers::pi * t)) / 2.0 : t;
  return swa * a + lr0 * (1.0 - a);
}

void check_rates(const std::string& strategy, const std::string& scheduler) {
  SCOPED_TRACE(strategy + " " + scheduler);
  DataLoader loader(regression_data(), {.batch_size = 16});
  Recorder model({.lr = 0.05, .scheduler = scheduler});
  auto swa = StochasticWeightAveraging::make({.swa_lrs = 0.01,
                                              .swa_epoch_start = 3,
                                              .annealing_epochs = 3,
                                              .annealing_strategy = strategy});
  Trainer trainer(swa_trainer(8, swa));
  trainer.fit(model, loader);
  ASSERT_EQ(model.lrs.size(), 8u);
  // Before SWA: the module's own schedule (StepLR gamma 0.5 per epoch, or constant).
  const double gamma = scheduler.empty() ? 1.0 : 0.5;
  for (int e = 0; e <= 2; ++e)
    EXPECT_NEAR(model.lrs[static_cast<size_t>(e)], 0.05 * std::pow(gamma, e), 1e-12) << e;
  const double lr0 = 0.05 * std::pow(gamma, 2);
  for (int e = 2; e < 8; ++e)
    EXPECT_NEAR(model.lrs[static_cast<size_t>(e)],
                swalr_rate(lr0, 0.01, e - 2, 3, strategy == "cos"), 1e-12)
        << e;
  ASSERT_EQ(trainer.lr_scheduler_configs().size(), 1u);
  EXPECT_EQ(trainer.lr_scheduler_configs()[0].scheduler->name(), "SWALR");
  EXPECT_EQ(trainer.lr_scheduler_configs()[0].interval, "epoch");
}

TEST(StochasticWeightAveraging, RateFollowsSWALR) {
  check_rates("cos", "");
  check_rates("linear", "");
  check_rates("cos", "epoch");  // swapped in for the module's StepLR
  check_rates("linear", "epoch");
}

TEST(SWALR, AnnealsFromTheCurrentRate) {
  auto p = Tensor(zeros({2})).requires_grad_();
  auto opt = optim::SGD::make({p}, {.lr = 1.0});
  optim::SWALR s(opt, 0.1, 4, "linear");
  EXPECT_DOUBLE_EQ(opt->param_groups()[0].lr(), 1.0);
  for (int k = 1; k <= 6; ++k) {
    s.step();
    EXPECT_NEAR(opt->param_groups()[0].lr(), swalr_rate(1.0, 0.1, k, 4, false), 1e-12) << k;
  }
  // anneal_epochs 0: the SWA rate at once (torch's max(1, step)).
  auto opt2 = optim::SGD::make({p}, {.lr = 1.0});
  optim::SWALR s2(opt2, 0.25, 0, "cos");
  EXPECT_DOUBLE_EQ(opt2->param_groups()[0].lr(), 0.25);
  EXPECT_THROW(optim::SWALR(opt2, 0.1, -1), ValueError);
  EXPECT_THROW(optim::SWALR(opt2, 0.1, 2, "exp"), ValueError);
  EXPECT_THROW(optim::SWALR(opt2, std::vector<double>{0.1, 0.2}), ValueError);
  // last_epoch given: needs "initial_lr" in every group, as torch.
  auto opt3 = optim::SGD::make({p}, {.lr = 1.0});
  EXPECT_THROW(optim::SWALR(opt3, 0.1, 2, "cos", 5), ValueError);
}

// Linear(2, 3) -> BatchNorm1d(3) -> Linear(3, 1).
struct BNNet : LightningModule {
  std::shared_ptr<nn::Linear> l1, l2;
  std::shared_ptr<nn::BatchNorm1d> bn;
  BNNet() {
    l1 = register_module("l1", nn::Linear::make(2, 3));
    bn = register_module("bn", nn::BatchNorm1d::make(3));
    l2 = register_module("l2", nn::Linear::make(3, 1));
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(l2->forward(bn->forward(l1->forward(x))), y);
    log("train_loss", loss);
    return loss;
  }
  OptimizerConfig configure_optimizers() override {
    return optim::SGD::make(parameters(), {.lr = 0.05});
  }
};

TEST(StochasticWeightAveraging, RecomputesBatchNormStatistics) {
  manual_seed(5);
  Tensor x = randn({32, 2});
  Tensor y = x.sum({1}, true) * 2.0 + 1.0;
  DataLoader loader(std::make_shared<TensorDataset>(std::vector<Tensor>{x, y}), {.batch_size = 8});
  BNNet model;
  auto swa = StochasticWeightAveraging::make({.swa_lrs = 0.01, .swa_epoch_start = 1});
  Trainer trainer(swa_trainer(3, swa));
  trainer.fit(model, loader);
  // The statistics of the final (averaged) l1 over the 4 training batches, averaged
  // cumulatively: the mean of the batch means and of the unbiased batch variances.
  const std::vector<double> xs = to_f64(x), w = to_f64(model.l1->weight),
                            b = to_f64(model.l1->bias);
  std::vector<double> mean(3, 0.0), var(3, 0.0);
  for (int batch = 0; batch < 4; ++batch)
    for (int c = 0; c < 3; ++c) {
      std::vector<double> h;
      for (int i = batch * 8; i < batch * 8 + 8; ++i)
        h.push_back(xs[i * 2] * w[c * 2] + xs[i * 2 + 1] * w[c * 2 + 1] + b[c]);
      double m = 0, v = 0;
      for (double e : h) m += e / 8.0;
      for (double e : h) v += (e - m) * (e - m) / 7.0;
      mean[c] += m / 4.0;
      var[c] += v / 4.0;
    }
  const std::vector<double> rm = to_f64(model.bn->running_mean), rv = to_f64(model.bn->running_var);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(rm[c], mean[c], 1e-5) << c;
    EXPECT_NEAR(rv[c], var[c], 1e-5) << c;
  }
  EXPECT_EQ(model.bn->num_batches_tracked.item<int64_t>(), 4);
  EXPECT_EQ(model.bn->options.momentum, std::optional<double>(0.1));  // restored
  EXPECT_EQ(trainer.global_step(), 3 * 4);                            // the pass steps nothing
}

// Saves a checkpoint at the end of one epoch (after every other callback, as ModelCheckpoint).
struct SaveAt : Callback {
  int64_t epoch;
  std::string path;
  SaveAt(int64_t e, std::string p) : epoch(e), path(std::move(p)) {}
  bool is_checkpoint() const override { return true; }
  void on_train_epoch_end(Trainer& t, LightningModule&) override {
    if (t.current_epoch() == epoch) t.save_checkpoint(path);
  }
};

void check_resume(const std::string& scheduler) {
  SCOPED_TRACE("scheduler '" + scheduler + "'");
  const std::string path = temp_dir("swa_resume_" + scheduler) + "/mid.ckpt";
  DataLoader loader(regression_data(), {.batch_size = 16});
  manual_seed(11);
  Recorder full({.lr = 0.05, .scheduler = scheduler});
  auto swa_full = StochasticWeightAveraging::make(
      {.swa_lrs = 0.01, .swa_epoch_start = 2, .annealing_epochs = 3});
  Trainer t1(quiet({.max_epochs = 7,
                    .enable_checkpointing = false,
                    .callbacks = {swa_full, std::make_shared<SaveAt>(3, path)},
                    .logger = false}));
  t1.fit(full, loader);

  manual_seed(99);  // other initial weights: everything must come from the checkpoint
  Recorder resumed({.lr = 0.05, .scheduler = scheduler});
  auto swa_resumed = StochasticWeightAveraging::make(
      {.swa_lrs = 0.01, .swa_epoch_start = 2, .annealing_epochs = 3});
  Trainer t2(swa_trainer(7, swa_resumed));
  t2.fit(resumed, loader, path);
  EXPECT_EQ(swa_resumed->n_averaged(), swa_full->n_averaged());
  ASSERT_EQ(resumed.lrs.size(), 3u);  // epochs 4..6
  for (size_t i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(resumed.lrs[i], full.lrs[4 + i]) << i;
  const std::vector<double> a = final_weights(full), b = final_weights(resumed);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << i;
}

TEST(StochasticWeightAveraging, ResumesMidSWA) {
  check_resume("");
  check_resume("epoch");
}

struct TwoOptimizers : Regressor {
  TwoOptimizers() { automatic_optimization(false); }
  Tensor training_step(const Batch&, int64_t) override { return {}; }
  OptimizerConfig configure_optimizers() override {
    return OptimizerList{optim::SGD::make(parameters(), {.lr = 0.1}),
                         optim::SGD::make(parameters(), {.lr = 0.1})};
  }
};

TEST(StochasticWeightAveraging, Errors) {
  using Opts = StochasticWeightAveragingOptions;
  EXPECT_THROW(StochasticWeightAveraging::make(Opts{}), ValueError);  // no swa_lrs
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = 0.0}), ValueError);
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = {0.1, -0.1}}), ValueError);
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = 0.1, .swa_epoch_start = 0}), ValueError);
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = 0.1, .swa_epoch_start = 1.5}),
               ValueError);
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = 0.1, .annealing_strategy = "exp"}),
               ValueError);
  EXPECT_THROW(StochasticWeightAveraging::make({.swa_lrs = 0.1, .annealing_epochs = -1}),
               ValueError);
  try {
    (void)StochasticWeightAveraging::make({.swa_lrs = 0.1, .swa_epoch_start = -2});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("swa_epoch_start"), std::string::npos) << e.what();
  }
  DataLoader loader(regression_data(), {.batch_size = 16});
  {  // several optimizers
    TwoOptimizers model;
    Trainer t(swa_trainer(2, StochasticWeightAveraging::make({.swa_lrs = 0.1})));
    EXPECT_THROW(t.fit(model, loader), ValueError);
  }
  {  // no epoch limit
    Regressor model;
    Trainer t(quiet({.max_epochs = -1,
                     .max_steps = 3,
                     .enable_checkpointing = false,
                     .callbacks = {StochasticWeightAveraging::make({.swa_lrs = 0.1})},
                     .logger = false}));
    EXPECT_THROW(t.fit(model, loader), ValueError);
  }
  {  // one rate per group, but the optimizer has one group
    Regressor model;
    Trainer t(swa_trainer(2, StochasticWeightAveraging::make({.swa_lrs = {0.1, 0.2}})));
    EXPECT_THROW(t.fit(model, loader), ValueError);
  }
}

}  // namespace
}  // namespace trainer_test
