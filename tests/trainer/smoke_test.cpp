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
