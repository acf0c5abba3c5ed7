// Several optimizers and schedulers from configure_optimizers: Lightning's return forms,
// every scheduler config stepped at its interval and frequency, every optimizer's and
// scheduler's state in checkpoints, and LearningRateMonitor's names and intervals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "test_models.h"

using namespace trainer_test;

namespace {

TrainerOptions plain(TrainerOptions o = {}) {
  o.enable_checkpointing = false;
  o.logger = false;
  return quiet(o);
}

std::shared_ptr<optim::StepLR> step_lr(const std::shared_ptr<optim::Optimizer>& o) {
  return std::make_shared<optim::StepLR>(o, 1000, 0.5);
}

}  // namespace

TEST(MultiOptimizer, ReturnFormsGiveEveryOptimizerAndScheduler) {
  nn::Linear a(2, 2), b(2, 2);
  auto oa = optim::SGD::make(a.parameters(), {.lr = 0.1});
  auto ob = optim::Adam::make(b.parameters(), {.lr = 0.1});
  auto sa = step_lr(oa), sb = step_lr(ob);
  // Today's forms.
  OptimizerConfig single = oa;
  EXPECT_EQ(single.all_optimizers().size(), 1u);
  EXPECT_TRUE(single.all_schedulers().empty());
  OptimizerConfig with_sched = {oa, {.scheduler = sa, .interval = "step"}};
  ASSERT_EQ(with_sched.all_schedulers().size(), 1u);
  EXPECT_EQ(with_sched.all_schedulers()[0].interval, "step");
  // A list of optimizers.
  OptimizerConfig list = OptimizerList{oa, ob};
  EXPECT_THAT(list.all_optimizers(), ::testing::ElementsAre(oa, ob));
  // A list of configs ("dicts"), each with or without its scheduler.
  OptimizerConfig dicts =
      OptimizerConfigList{{oa, {.scheduler = sa, .frequency = 2}}, ob, {ob, {.scheduler = sb}}};
  EXPECT_THAT(dicts.all_optimizers(), ::testing::ElementsAre(oa, ob, ob));
  ASSERT_EQ(dicts.all_schedulers().size(), 2u);
  EXPECT_EQ(dicts.all_schedulers()[0].frequency, 2);
  EXPECT_EQ(dicts.all_schedulers()[1].scheduler, sb);
  // An optimizers list and a schedulers list.
  OptimizerConfig lists = {OptimizerList{oa, ob}, SchedulerList{{.scheduler = sb}}};
  EXPECT_THAT(lists.all_optimizers(), ::testing::ElementsAre(oa, ob));
  ASSERT_EQ(lists.all_schedulers().size(), 1u);
  EXPECT_EQ(lists.all_schedulers()[0].scheduler, sb);
}

namespace {

// One optimizer, four schedulers of different intervals and frequencies.
struct FourSchedulers : Regressor {
  std::vector<std::shared_ptr<optim::StepLR>> s;
  OptimizerConfig configure_optimizers() override {
    auto opt = optim::SGD::make(parameters(), {.lr = 0.01});
    s = {step_lr(opt), step_lr(opt), step_lr(opt), step_lr(opt)};
    return {OptimizerList{opt},
            SchedulerList{{.scheduler = s[0], .interval = "step"},
                          {.scheduler = s[1], .interval = "step", .frequency = 3},
                          {.scheduler = s[2]},
                          {.scheduler = s[3], .frequency = 2}}};
  }
};

}  // namespace

TEST(MultiOptimizer, EverySchedulerSteppedAtItsIntervalAndFrequency) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});  // 4 batches
  FourSchedulers model;
  Trainer trainer(plain({.max_epochs = 3}));
  trainer.fit(model, loader);
  ASSERT_EQ(trainer.lr_scheduler_configs().size(), 4u);
  EXPECT_EQ(model.s[0]->last_epoch(), 12);      // every step
  EXPECT_EQ(model.s[1]->last_epoch(), 12 / 3);  // every 3rd step
  EXPECT_EQ(model.s[2]->last_epoch(), 3);       // every epoch
  EXPECT_EQ(model.s[3]->last_epoch(), 1);       // every 2nd epoch: after epoch 2 of 3
}

TEST(MultiOptimizer, ConfigErrors) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});
  struct ForeignScheduler : Regressor {
    OptimizerConfig configure_optimizers() override {
      auto opt = optim::SGD::make(parameters(), {.lr = 0.01});
      auto other = optim::SGD::make(parameters(), {.lr = 0.01});
      return {OptimizerList{opt}, SchedulerList{{.scheduler = step_lr(other)}}};
    }
  } foreign;
  Trainer t1(plain({.max_epochs = 1}));
  EXPECT_THROW(t1.fit(foreign, loader), ValueError);
  struct BadInterval : Regressor {
    OptimizerConfig configure_optimizers() override {
      auto opt = optim::SGD::make(parameters(), {.lr = 0.01});
      return {OptimizerList{opt}, SchedulerList{{.scheduler = step_lr(opt), .interval = "x"}}};
    }
  } bad;
  Trainer t2(plain({.max_epochs = 1}));
  EXPECT_THROW(t2.fit(bad, loader), ValueError);
}

namespace {

// Two optimizers and two schedulers, stepped by hand (manual optimization).
struct TwoOptimizers : LightningModule {
  std::shared_ptr<nn::Linear> a, b;
  bool one_optimizer = false;
  // What the optimizers and schedulers held when training started.
  std::vector<float> exp_avg_at_start;
  std::vector<int64_t> last_epochs_at_start;
  TwoOptimizers() {
    automatic_optimization(false);
    a = register_module("a", nn::Linear::make(4, 1));
    b = register_module("b", nn::Linear::make(4, 1));
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    for (LightningOptimizer& opt : optimizers()) {
      opt.zero_grad();
      manual_backward(nn::F::mse_loss(a->forward(x) + b->forward(x), y));
      opt.step();
    }
    return Tensor();
  }
  void on_train_epoch_end() override {
    for (const SchedulerConfig& s : lr_schedulers()) s.scheduler->step();
  }
  void on_train_start() override {
    const nn::StateDict state = optimizer(0).optimizer().state_dict();
    if (const Tensor* t = state.find("state.0.exp_avg")) exp_avg_at_start = t->to_vector<float>();
    last_epochs_at_start.clear();
    for (const SchedulerConfig& s : lr_schedulers())
      last_epochs_at_start.push_back(s.scheduler->last_epoch());
  }
  OptimizerConfig configure_optimizers() override {
    auto oa = optim::Adam::make(a->parameters(), {.lr = 0.01});
    auto ob = optim::SGD::make(b->parameters(), {.lr = 0.01, .momentum = 0.9});
    if (one_optimizer) return oa;
    return OptimizerConfigList{
        {oa, {.scheduler = std::make_shared<optim::StepLR>(oa, 1, 0.5)}},
        {ob, {.scheduler = std::make_shared<optim::ExponentialLR>(ob, 0.9)}}};
  }
};

}  // namespace

TEST(MultiOptimizer, CheckpointHoldsEveryOptimizerAndScheduler) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  const std::string dir = temp_dir("multi_opt_ckpt");
  TwoOptimizers model;
  Trainer trainer(plain({.max_epochs = 2}));
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.global_step(), 16);  // 2 optimizers x 4 batches x 2 epochs
  const std::string path = dir + "/two.ckpt";
  trainer.save_checkpoint(path);
  const Checkpoint c = read_checkpoint(path);
  EXPECT_TRUE(c.tensors.contains("optimizer_states.0.state.0.exp_avg"));
  for (const auto& [k, v] : trainer.optimizers()[1]->state_dict())
    EXPECT_TRUE(c.tensors.contains("optimizer_states.1." + k)) << k;
  EXPECT_EQ(c.tensors.at("lr_schedulers.0.last_epoch").item<int64_t>(), 2);
  EXPECT_EQ(c.tensors.at("lr_schedulers.1.last_epoch").item<int64_t>(), 2);
  EXPECT_EQ(c.metadata.at("optimizer"), "Adam,SGD");
  EXPECT_EQ(c.metadata.at("lr_scheduler"), "StepLR,ExponentialLR");
  const std::vector<float> saved_exp_avg =
      trainer.optimizers()[0]->state_dict().at("state.0.exp_avg").to_vector<float>();
  const double saved_lr_b = trainer.optimizers()[1]->param_groups()[0].lr();
  EXPECT_NEAR(saved_lr_b, 0.01 * 0.9 * 0.9, 1e-12);

  // Resumed: every optimizer's and scheduler's state comes back.
  TwoOptimizers resumed;
  Trainer t2(plain({.max_epochs = 3}));
  t2.fit(resumed, loader, path);
  EXPECT_EQ(resumed.exp_avg_at_start, saved_exp_avg);
  EXPECT_THAT(resumed.last_epochs_at_start, ::testing::ElementsAre(2, 2));
  EXPECT_NEAR(t2.optimizers()[1]->param_groups()[0].lr(), 0.01 * std::pow(0.9, 3), 1e-12);
  EXPECT_EQ(t2.global_step(), 24);

  // A module that now builds one optimizer does not fit.
  TwoOptimizers one;
  one.one_optimizer = true;
  Trainer t3(plain({.max_epochs = 3}));
  try {
    t3.fit(one, loader, path);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("has the state of 2 optimizer(s), but "
                                               "configure_optimizers returned 1"));
  }
}

// ---- LearningRateMonitor --------------------------------------------------------------------

namespace {

struct Capture : Logger {
  std::vector<std::pair<int64_t, MetricMap>> calls;
  std::string name() const override { return "capture"; }
  std::string version() const override { return "0"; }
  std::string save_dir() const override { return "."; }
  std::string log_dir() const override { return "."; }
  void log_hyperparams(const HParams&) override {}
  void log_metrics(const MetricMap& m, int64_t step) override { calls.emplace_back(step, m); }
};

// Adam (step scheduler), SGD with two groups (epoch scheduler named "sgd_rate"), and a
// second Adam without a scheduler.
struct ThreeOptimizers : LightningModule {
  std::shared_ptr<nn::Linear> a, b, c, d;
  ThreeOptimizers() {
    automatic_optimization(false);
    a = register_module("a", nn::Linear::make(4, 1));
    b = register_module("b", nn::Linear::make(4, 1));
    c = register_module("c", nn::Linear::make(4, 1));
    d = register_module("d", nn::Linear::make(4, 1));
  }
  Tensor training_step(const Batch&, int64_t) override { return Tensor(); }
  OptimizerConfig configure_optimizers() override {
    auto adam = optim::Adam::make(a->parameters(), {.lr = 0.01, .betas = std::pair{0.8, 0.99}});
    auto sgd = optim::SGD::make({{b->parameters(), {.lr = 0.1}}, {c->parameters(), {.lr = 0.2}}},
                                {.momentum = 0.9});
    auto adam2 = optim::Adam::make(d->parameters(), {.lr = 0.03});
    return OptimizerConfigList{{adam, {.scheduler = step_lr(adam), .interval = "step"}},
                               {sgd, {.scheduler = step_lr(sgd), .name = "sgd_rate"}},
                               adam2};
  }
};

std::vector<std::string> keys(const MetricMap& m) {
  std::vector<std::string> out;
  for (const auto& [k, v] : m) out.push_back(k);
  return out;
}

std::shared_ptr<Capture> run_monitor(LearningRateMonitorOptions o, Trainer** keep = nullptr) {
  static std::unique_ptr<Trainer> last;
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});  // 2 batches
  static ThreeOptimizers model;
  auto cap = std::make_shared<Capture>();
  last = std::make_unique<Trainer>(quiet({.max_epochs = 1,
                                          .log_every_n_steps = 1,
                                          .enable_checkpointing = false,
                                          .callbacks = {LearningRateMonitor::make(o)},
                                          .logger = cap}));
  last->fit(model, loader);
  if (keep) *keep = last.get();
  return cap;
}

// The logger calls that carry learning rates.
std::vector<std::pair<int64_t, MetricMap>> lr_calls(const std::shared_ptr<Capture>& cap) {
  std::vector<std::pair<int64_t, MetricMap>> out;
  for (const auto& c : cap->calls)
    for (const auto& [k, v] : c.second)
      if (k.starts_with("lr-") || k.starts_with("sgd_rate")) {
        out.push_back(c);
        break;
      }
  return out;
}

}  // namespace

TEST(LearningRateMonitor, NamesSeveralOptimizersAsLightning) {
  Trainer* t = nullptr;
  auto cap = run_monitor({.log_momentum = true}, &t);
  auto lrm = LearningRateMonitor::make({.log_momentum = true});
  const MetricMap rates = lrm->current_rates(*t);
  EXPECT_THAT(keys(rates), ::testing::UnorderedElementsAre("lr-Adam", "lr-Adam-momentum",
                                                           "sgd_rate/pg1", "sgd_rate/pg1-momentum",
                                                           "sgd_rate/pg2", "sgd_rate/pg2-momentum",
                                                           "lr-Adam-1", "lr-Adam-1-momentum"));
  EXPECT_DOUBLE_EQ(rates.at("lr-Adam"), 0.01);
  EXPECT_DOUBLE_EQ(rates.at("lr-Adam-momentum"), 0.8);  // beta1
  EXPECT_DOUBLE_EQ(rates.at("sgd_rate/pg2"), 0.2);
  EXPECT_DOUBLE_EQ(rates.at("sgd_rate/pg1-momentum"), 0.9);
  EXPECT_DOUBLE_EQ(rates.at("lr-Adam-1"), 0.03);
  // The values are also callback metrics.
  EXPECT_EQ(t->callback_metric("lr-Adam-1"), std::optional<double>(0.03));
  EXPECT_EQ(t->callback_metric("sgd_rate/pg1"), std::optional<double>(0.1));
}

TEST(LearningRateMonitor, IntervalsAsLightning) {
  // Unset: at the epoch start the epoch scheduler's optimizer and the one without a
  // scheduler; at each batch start the step scheduler's and the one without.
  auto unset = lr_calls(run_monitor({}));
  ASSERT_EQ(unset.size(), 3u);  // the epoch start, 2 batch starts
  EXPECT_THAT(keys(unset[0].second),
              ::testing::UnorderedElementsAre("sgd_rate/pg1", "sgd_rate/pg2", "lr-Adam-1"));
  EXPECT_THAT(keys(unset[1].second), ::testing::UnorderedElementsAre("lr-Adam", "lr-Adam-1"));
  // "epoch": everything once, at the epoch start.
  auto epoch = lr_calls(run_monitor({.logging_interval = "epoch"}));
  ASSERT_EQ(epoch.size(), 1u);
  EXPECT_EQ(keys(epoch[0].second).size(), 4u);
  // "step": everything at every batch start, nothing at the epoch start.
  auto step = lr_calls(run_monitor({.logging_interval = "step"}));
  ASSERT_EQ(step.size(), 2u);
  EXPECT_EQ(keys(step[0].second).size(), 4u);
  EXPECT_EQ(keys(step[1].second).size(), 4u);
  EXPECT_EQ(step[0].first, 0);
  EXPECT_EQ(step[1].first, 1);
}

TEST(LearningRateMonitor, NeedsALogger) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});
  Regressor model;
  Trainer t(plain({.max_epochs = 1, .callbacks = {LearningRateMonitor::make()}}));
  EXPECT_THROW(t.fit(model, loader), ValueError);
}

TEST(LearningRateMonitor, NamedSchedulerCountsAsLightning) {
  // Lightning counts only unnamed optimizers of a class, but suffixes a named one by the
  // count so far: two unnamed Adams, then a named one, give lr-Adam, lr-Adam-1, fast-1.
  struct ThreeAdams : LightningModule {
    std::shared_ptr<nn::Linear> a, b, c;
    ThreeAdams() {
      automatic_optimization(false);
      a = register_module("a", nn::Linear::make(4, 1));
      b = register_module("b", nn::Linear::make(4, 1));
      c = register_module("c", nn::Linear::make(4, 1));
    }
    Tensor training_step(const Batch&, int64_t) override { return Tensor(); }
    OptimizerConfig configure_optimizers() override {
      auto oa = optim::Adam::make(a->parameters(), {.lr = 0.1});
      auto ob = optim::Adam::make(b->parameters(), {.lr = 0.2});
      auto oc = optim::Adam::make(c->parameters(), {.lr = 0.3});
      return OptimizerConfigList{{oa, {.scheduler = step_lr(oa)}},
                                 {ob, {.scheduler = step_lr(ob)}},
                                 {oc, {.scheduler = step_lr(oc), .name = "fast"}}};
    }
  } model;
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 16});
  Trainer t(quiet({.max_epochs = 1,
                   .enable_checkpointing = false,
                   .callbacks = {LearningRateMonitor::make()},
                   .logger = std::make_shared<Capture>()}));
  t.fit(model, loader);
  const MetricMap rates = LearningRateMonitor::make()->current_rates(t);
  EXPECT_THAT(keys(rates), ::testing::UnorderedElementsAre("lr-Adam", "lr-Adam-1", "fast-1"));
  EXPECT_DOUBLE_EQ(rates.at("fast-1"), 0.3);
  EXPECT_DOUBLE_EQ(rates.at("lr-Adam-1"), 0.2);
}
