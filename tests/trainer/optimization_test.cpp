// Where the Trainer zeroes, clips and steps: accumulation equals a larger batch, clipping
// bounds the update as specified, and schedulers step per step or per epoch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "test_models.h"

using namespace trainer_test;

namespace {

nn::StateDict train(int64_t batch_size, int64_t accumulate, uint64_t seed = 1) {
  manual_seed(seed);
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = batch_size, .shuffle = true, .seed = 4});
  Regressor model({.lr = 0.02});
  Trainer trainer(quiet({.max_epochs = 2,
                         .accumulate_grad_batches = accumulate,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("accum"),
                         .logger = false}));
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.global_step(), 2 * 64 / (batch_size * accumulate));
  return model.state_dict();
}

// SGD with lr 1 and no momentum: the update is minus the (clipped) gradient.
struct PlainSGD : Regressor {
  OptimizerConfig configure_optimizers() override {
    return optim::SGD::make(parameters(), {.lr = 1.0});
  }
};

std::vector<float> flat(const nn::StateDict& d) {
  std::vector<float> out;
  for (const auto& [k, v] : d)
    for (float x : v.to_vector<float>()) out.push_back(x);
  return out;
}

}  // namespace

TEST(Optimization, AccumulatingTwoBatchesOf8EqualsBatchesOf16) {
  const nn::StateDict a = train(8, 2), b = train(16, 1), c = train(8, 1);
  for (const auto& [k, v] : a) {
    EXPECT_TRUE(allclose(v, b.at(k), 1e-5, 1e-6)) << k;
    EXPECT_FALSE(allclose(v, c.at(k), 1e-5, 1e-6)) << k;  // and accumulation did change the update
  }
}

TEST(Optimization, ClippingByNormAndByValue) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 16});
  for (const std::string algorithm : {"norm", "value"}) {
    manual_seed(3);
    PlainSGD model;
    const std::vector<float> before = flat(model.state_dict());
    Trainer trainer(quiet({.max_steps = 1,
                           .gradient_clip_val = 0.01,
                           .gradient_clip_algorithm = algorithm,
                           .enable_checkpointing = false,
                           .default_root_dir = temp_dir("clip"),
                           .logger = false}));
    trainer.fit(model, loader);
    const std::vector<float> after = flat(model.state_dict());
    double norm2 = 0, largest = 0;
    for (size_t i = 0; i < before.size(); ++i) {
      const double d = static_cast<double>(after[i]) - before[i];
      norm2 += d * d;
      largest = std::max(largest, std::abs(d));
    }
    if (algorithm == "norm") {
      EXPECT_NEAR(std::sqrt(norm2), 0.01, 1e-5);  // the whole update scaled to norm 0.01
    } else {
      EXPECT_NEAR(largest, 0.01,
                  1e-6);  // every element clamped to [-0.01, 0.01]; the loss's gradient is larger
      EXPECT_GT(std::sqrt(norm2), 0.0101);
    }
  }
  EXPECT_THROW(Trainer(quiet({.gradient_clip_algorithm = "l3"})), ValueError);
}

TEST(Optimization, SchedulerIntervalStepVsEpoch) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 8});  // 4 steps an epoch
  auto lr_after = [&](const std::string& interval, int64_t frequency, int64_t epochs) {
    Regressor model({.lr = 0.1, .scheduler = interval, .frequency = frequency});
    Trainer trainer(quiet({.max_epochs = epochs,
                           .enable_checkpointing = false,
                           .default_root_dir = temp_dir("sched"),
                           .logger = false}));
    trainer.fit(model, loader);
    return trainer.optimizer()->param_groups()[0].lr();
  };
  EXPECT_DOUBLE_EQ(lr_after("step", 1, 2),
                   0.1 * std::pow(0.5, 8));  // StepLR(1, 0.5) every optimizer step
  EXPECT_DOUBLE_EQ(lr_after("step", 2, 2), 0.1 * std::pow(0.5, 4));   // every second step
  EXPECT_DOUBLE_EQ(lr_after("epoch", 1, 3), 0.1 * std::pow(0.5, 3));  // once an epoch
  EXPECT_DOUBLE_EQ(lr_after("epoch", 2, 3), 0.1 * std::pow(0.5, 1));  // after epoch 2 (of 1, 2, 3)
}

TEST(Optimization, PlateauSchedulerReadsTheMonitoredMetric) {
  struct Flat : Regressor {
    using Regressor::Regressor;
    void validation_step(const Batch&, int64_t) override { log("val_loss", 1.0); }
  };
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 8});
  Flat model({.lr = 0.1, .scheduler = "plateau"});
  Trainer trainer(quiet({.max_epochs = 3,
                         .num_sanity_val_steps = 0,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("plateau"),
                         .logger = false}));
  trainer.fit(model, loader, loader);
  // patience 0: the 2nd and 3rd checks see no improvement.
  EXPECT_NEAR(trainer.optimizer()->param_groups()[0].lr(), 0.001, 1e-12);
  // Without the metric (no validation), the strict default fails and names what exists.
  Flat again({.lr = 0.1, .scheduler = "plateau"});
  Trainer no_val(quiet({.max_epochs = 1,
                        .enable_checkpointing = false,
                        .default_root_dir = temp_dir("plateau2"),
                        .logger = false}));
  try {
    no_val.fit(again, loader);
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("val_loss"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("train_loss"));
  }
}
