// GradientAccumulationScheduler and Timer against Lightning's semantics.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test_models.h"

namespace trainer_test {
namespace {

// Counts optimizer steps per epoch (on_before_optimizer_step) and the loss scaling.
struct StepCounter : Regressor {
  std::vector<int64_t> steps_per_epoch;
  void on_train_epoch_start() override { steps_per_epoch.push_back(0); }
  void on_before_optimizer_step(optim::Optimizer&) override { ++steps_per_epoch.back(); }
};

TEST(GradientAccumulationScheduler, FactorByEpoch) {
  auto s = GradientAccumulationScheduler::make({{2, 4}, {5, 2}});
  // Lightning adds {0: 1} when the first key is not 0.
  EXPECT_EQ(s->get_accumulate_grad_batches(0), 1);
  EXPECT_EQ(s->get_accumulate_grad_batches(1), 1);
  EXPECT_EQ(s->get_accumulate_grad_batches(2), 4);
  EXPECT_EQ(s->get_accumulate_grad_batches(4), 4);
  EXPECT_EQ(s->get_accumulate_grad_batches(5), 2);
  EXPECT_EQ(s->get_accumulate_grad_batches(100), 2);
  EXPECT_TRUE(s->going_to_accumulate_grad_batches());
  EXPECT_FALSE(GradientAccumulationScheduler::make({{0, 1}})->going_to_accumulate_grad_batches());
}

TEST(GradientAccumulationScheduler, ChangesTheStepsOfEachEpoch) {
  // 64 samples in batches of 8: 8 batches per epoch. Factors 1, 4, 3 -> 8, 2, 3 steps (the
  // last window of an epoch steps even when short, as Lightning).
  DataLoader loader(regression_data(), {.batch_size = 8});
  StepCounter model;
  Trainer trainer(
      quiet({.max_epochs = 3,
             .enable_checkpointing = false,
             .callbacks = {GradientAccumulationScheduler::make({{0, 1}, {1, 4}, {2, 3}})},
             .logger = false}));
  trainer.fit(model, loader);
  EXPECT_EQ(model.steps_per_epoch, (std::vector<int64_t>{8, 2, 3}));
  EXPECT_EQ(trainer.global_step(), 13);
  EXPECT_EQ(trainer.accumulate_grad_batches(), 3);
}

TEST(GradientAccumulationScheduler, BadSchedulesAndConflicts) {
  EXPECT_THROW(GradientAccumulationScheduler::make({}), ValueError);
  EXPECT_THROW(GradientAccumulationScheduler::make({{-1, 2}}), ValueError);
  try {
    (void)GradientAccumulationScheduler::make({{0, 2}, {3, 0}});
    FAIL() << "a zero factor must throw";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("GradientAccumulationScheduler"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2, 0]"), std::string::npos);
  }
  // Combined with the Trainer's own accumulate_grad_batches: an error, as Lightning.
  DataLoader loader(regression_data(), {.batch_size = 8});
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .accumulate_grad_batches = 2,
                         .enable_checkpointing = false,
                         .callbacks = {GradientAccumulationScheduler::make({{0, 4}})},
                         .logger = false}));
  EXPECT_THROW(trainer.fit(model, loader), ValueError);
}

struct Sleeper : Regressor {
  std::chrono::milliseconds nap{0};
  Tensor training_step(const Batch& batch, int64_t b) override {
    std::this_thread::sleep_for(nap);
    return Regressor::training_step(batch, b);
  }
};

TEST(Timer, DurationStrings) {
  EXPECT_DOUBLE_EQ(TimerDuration("01:02:03:04").seconds.count(), ((24 + 2) * 60 + 3) * 60 + 4);
  EXPECT_DOUBLE_EQ(TimerDuration(std::chrono::minutes(2)).seconds.count(), 120.0);
  EXPECT_THROW(TimerDuration("12:00"), ValueError);
  EXPECT_THROW(TimerDuration("00:00:00:-1"), ValueError);
  EXPECT_THROW(TimerDuration("00:00:00:01x"), ValueError);
  EXPECT_THROW(Timer({.interval = "batch"}), ValueError);
}

TEST(Timer, StopsFitWhenTheDurationElapses) {
  DataLoader loader(regression_data(), {.batch_size = 8});  // 8 batches per epoch
  Sleeper model;
  model.nap = std::chrono::milliseconds(20);
  auto timer = Timer::make({.duration = std::chrono::milliseconds(100), .verbose = false});
  Trainer trainer(quiet(
      {.max_epochs = 100, .enable_checkpointing = false, .callbacks = {timer}, .logger = false}));
  trainer.fit(model, loader);
  // Stopped after about 5 batches (100 ms / 20 ms), far from 100 epochs; checked per step.
  EXPECT_GE(trainer.global_step(), 5);
  EXPECT_LT(trainer.global_step(), 40);
  EXPECT_GE(timer->time_elapsed("train"), 0.1);
  ASSERT_TRUE(timer->start_time("train") && timer->end_time("train"));
  EXPECT_NEAR(*timer->end_time("train") - *timer->start_time("train"), timer->time_elapsed("train"),
              1e-9);
  EXPECT_LE(*timer->time_remaining(), 0.0);
  EXPECT_EQ(timer->time_elapsed("test"), 0.0);  // never ran
  EXPECT_THROW((void)timer->time_elapsed("predict_typo"), ValueError);
}

TEST(Timer, EpochIntervalChecksAtEpochEnds) {
  DataLoader loader(regression_data(), {.batch_size = 8});
  Sleeper model;
  model.nap = std::chrono::milliseconds(5);
  auto timer = Timer::make(
      {.duration = std::chrono::milliseconds(10), .interval = "epoch", .verbose = false});
  Trainer trainer(quiet(
      {.max_epochs = 5, .enable_checkpointing = false, .callbacks = {timer}, .logger = false}));
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.global_step(), 8);  // the whole first epoch, then stop
  EXPECT_EQ(trainer.current_epoch(), 1);
}

TEST(Timer, ARestoredBudgetContinues) {
  // The first run spends E seconds over 3 steps and saves; the resumed run gets a budget of
  // E + 50 ms, so with steps of >= 20 ms it trains 1 to 3 more, where a budget restarted from
  // zero would let it train more than 3.
  const std::string dir = temp_dir("timer_resume");
  DataLoader loader(regression_data(), {.batch_size = 8});
  Sleeper first;
  first.nap = std::chrono::milliseconds(20);
  double spent = 0;
  {
    auto timer = Timer::make({.duration = std::chrono::hours(1), .verbose = false});
    Trainer t(quiet({.max_steps = 3,
                     .enable_checkpointing = false,
                     .default_root_dir = dir,
                     .callbacks = {timer},
                     .logger = false}));
    t.fit(first, loader);
    t.save_checkpoint(dir + "/mid.ckpt");
    spent = timer->time_elapsed();
    ASSERT_GE(spent, 0.06);
  }
  Sleeper second;
  second.nap = std::chrono::milliseconds(20);
  auto timer =
      Timer::make({.duration = std::chrono::duration<double>(spent + 0.05), .verbose = false});
  Trainer t(quiet({.max_epochs = 100,
                   .enable_checkpointing = false,
                   .default_root_dir = dir,
                   .callbacks = {timer},
                   .logger = false}));
  t.fit(second, loader, dir + "/mid.ckpt");
  const int64_t resumed_steps = t.global_step() - 3;
  EXPECT_GE(resumed_steps, 1);
  EXPECT_LE(resumed_steps, 3);
  EXPECT_GE(timer->time_elapsed(), spent + 0.05);
}

}  // namespace
}  // namespace trainer_test
