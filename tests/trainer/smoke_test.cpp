#include <gtest/gtest.h>
#include <unistd.h>

#include "test_models.h"

using namespace trainer_test;

TEST(TrainerSmoke, FitLowersTheLoss) {
  auto data = regression_data();
  DataLoader train(data, {.batch_size = 8, .shuffle = true, .seed = 1});
  DataLoader val(data, {.batch_size = 16});
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 5, .default_root_dir = temp_dir("smoke")}));
  trainer.fit(model, train, val);
  EXPECT_EQ(trainer.current_epoch(), 5);
  EXPECT_EQ(trainer.global_step(), 40);
  ASSERT_EQ(model.losses.size(), 40u);
  EXPECT_LT(model.losses.back(), model.losses.front() * 0.2);
  EXPECT_TRUE(trainer.callback_metrics().count("val_loss"));
  EXPECT_LT(trainer.callback_metrics().at("val_loss"), model.losses.front() * 0.3);
}

TEST(TrainerSmoke, AModuleOutlivingItsTrainerIsDetached) {
  auto data = regression_data(16);
  DataLoader train(data, {.batch_size = 8});
  Regressor model;
  {
    Trainer trainer(quiet({.max_epochs = 1,
                           .enable_checkpointing = false,
                           .default_root_dir = temp_dir("detach"),
                           .logger = false}));
    trainer.fit(model, train);
    EXPECT_TRUE(model.has_trainer());
    EXPECT_EQ(model.global_step(), 2);
  }
  EXPECT_FALSE(model.has_trainer());
  EXPECT_EQ(model.global_step(), 0);
  EXPECT_THROW(model.trainer(), ValueError);
  EXPECT_NO_THROW(model.log("x", 1.0));
}

TEST(TrainerSmoke, LimitsSanityStepsAndPredict) {
  struct Counting : Regressor {
    int train = 0, val = 0;
    Tensor training_step(const Batch& b, int64_t i) override {
      ++train;
      return Regressor::training_step(b, i);
    }
    void validation_step(const Batch& b, int64_t i) override {
      ++val;
      log_dict(std::map<std::string, double>{{"v1", 1.0}, {"v2", 2.0}});
      Regressor::validation_step(b, i);
    }
  };
  auto data = regression_data(80);
  DataLoader train(data, {.batch_size = 8, .num_workers = 2});  // 10 batches
  DataLoader val(data, {.batch_size = 8});                      // 10 batches
  Counting model;
  Trainer trainer(quiet({.max_epochs = 2,
                         .limit_train_batches = 0.5,
                         .limit_val_batches = 3,
                         .num_sanity_val_steps = 2,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("limits"),
                         .logger = false}));
  trainer.fit(model, train, val);
  EXPECT_EQ(model.train, 10);       // 5 a epoch
  EXPECT_EQ(model.val, 2 + 2 * 3);  // sanity check, then 3 an epoch
  EXPECT_EQ(trainer.num_training_batches(), 5);
  EXPECT_EQ(trainer.callback_metrics().at("v2"), 2.0);

  const std::vector<Tensor> preds = trainer.predict(model, val);
  ASSERT_EQ(preds.size(), 10u);
  EXPECT_EQ(preds[0].sizes(), (Shape{8, 1}));
  EXPECT_FALSE(preds[0].requires_grad());
}

TEST(TrainerSmoke, AcceleratorMovesModelAndBatches) {
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 16});
  Regressor model;
  TrainerOptions o = quiet({.max_epochs = 2,
                            .enable_checkpointing = false,
                            .default_root_dir = temp_dir("sim"),
                            .logger = false});
  o.accelerator = "sim";  // the CUDA kernels, run by the simulator on the CPU
  Trainer trainer(o);
  trainer.fit(model, train, train);
  EXPECT_EQ(model.device(), Device::sim());
  EXPECT_EQ(model.linear->weight.device(), Device::sim());
  EXPECT_EQ(trainer.global_step(), 4);
  EXPECT_TRUE(trainer.callback_metrics().count("val_loss"));
  if (!backend_available(DeviceType::cuda)) {
    Regressor other;
    TrainerOptions c = o;
    c.accelerator = "cuda";
    Trainer no_gpu(c);
    EXPECT_THROW(no_gpu.fit(other, train), DeviceError);
    EXPECT_FALSE(other.has_trainer());
  }
}
