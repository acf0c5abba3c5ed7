// log(): Lightning's per-hook defaults, forked _step/_epoch names, epoch means weighted by
// batch size, what callbacks, the progress bar and loggers see, and the CSV logger.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_models.h"

using namespace trainer_test;

namespace {

// Logs known values: step i of epoch e logs a = 10e + i; validation logs its batch's size.
struct Logging : Regressor {
  std::vector<MetricMap> step_snapshots;  // callback_metrics after each training batch
  MetricMap epoch_end_seen;               // what on_train_epoch_end saw
  Tensor training_step(const Batch& batch, int64_t i) override {
    Tensor loss = Regressor::training_step(batch, i);
    const double a = 10.0 * static_cast<double>(current_epoch()) + static_cast<double>(i);
    log("a", a);                                       // step only (default)
    log("b", a, {.on_step = true, .on_epoch = true});  // forked
    log("c", a, {.on_step = false, .on_epoch = true, .reduce_fx = "max"});
    log("s", 1.0, {.on_step = false, .on_epoch = true, .reduce_fx = "sum"});
    return loss;
  }
  void validation_step(const Batch& batch, int64_t i) override {
    Regressor::validation_step(batch, i);
    log("vbs", static_cast<double>(batch.batch_size()));  // epoch mean weighted by batch size
    log("vi", static_cast<double>(i), {.on_step = true, .prog_bar = true});
  }
  void on_train_batch_end(const Tensor&, const Batch&, int64_t) override {
    step_snapshots.push_back(trainer().callback_metrics());
  }
  void on_train_epoch_end() override {
    if (current_epoch() == 0) epoch_end_seen = trainer().callback_metrics();
    log("e", 42.0);  // epoch hooks log at epoch level
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Logging, StepAndEpochAggregation) {
  auto data = regression_data(40);
  DataLoader train(data, {.batch_size = 10});  // 4 batches
  DataLoader val(data, {.batch_size = 16});    // 16, 16, 8
  Logging model;
  const std::string root = temp_dir("logging");
  Trainer trainer(quiet({.max_epochs = 2,
                         .num_sanity_val_steps = 0,
                         .log_every_n_steps = 2,
                         .enable_checkpointing = false,
                         .default_root_dir = root}));
  trainer.fit(model, train, val);

  // During the epoch, callbacks see step values: a, b and b_step; never c (epoch only).
  const MetricMap& s1 = model.step_snapshots[1];
  EXPECT_EQ(s1.at("a"), 1.0);
  EXPECT_EQ(s1.at("b"), 1.0);
  EXPECT_EQ(s1.at("b_step"), 1.0);
  EXPECT_FALSE(s1.count("c"));
  EXPECT_FALSE(s1.count("b_epoch"));
  // At epoch end (epoch 0: a = 0..3), epoch values: mean, max, sum.
  EXPECT_DOUBLE_EQ(model.epoch_end_seen.at("b_epoch"), 1.5);
  EXPECT_DOUBLE_EQ(model.epoch_end_seen.at("b"), 1.5);
  EXPECT_DOUBLE_EQ(model.epoch_end_seen.at("c"), 3.0);
  EXPECT_DOUBLE_EQ(model.epoch_end_seen.at("s"), 4.0);
  EXPECT_DOUBLE_EQ(model.epoch_end_seen.at("a"), 3.0);  // step-only: still the last step value
  // Epoch 1 (a = 10..13) and the validation of epoch 1.
  const MetricMap& m = trainer.callback_metrics();
  EXPECT_DOUBLE_EQ(m.at("b_epoch"), 11.5);
  EXPECT_DOUBLE_EQ(m.at("c"), 13.0);
  EXPECT_DOUBLE_EQ(m.at("e"), 42.0);
  EXPECT_DOUBLE_EQ(m.at("vbs"), (16.0 * 16 + 16.0 * 16 + 8.0 * 8) / 40.0);
  EXPECT_DOUBLE_EQ(m.at("vi_epoch"), (0.0 * 16 + 1.0 * 16 + 2.0 * 8) / 40.0);
  EXPECT_FALSE(m.count("vi_step"));  // evaluation step values are not callback metrics
  // The progress bar has prog_bar metrics only, by their forked names.
  const MetricMap& p = trainer.progress_bar_metrics();
  EXPECT_TRUE(p.count("train_loss"));
  EXPECT_TRUE(p.count("val_loss"));
  EXPECT_TRUE(p.count("vi_epoch"));
  EXPECT_FALSE(p.count("a"));

  // metrics.csv: step rows every 2 steps at steps 1, 3, 5, 7; epoch rows at the last step.
  const std::string csv = read_file(root + "/lightning_logs/version_0/metrics.csv");
  std::istringstream lines(csv);
  std::string header;
  std::getline(lines, header);
  EXPECT_EQ(header, "a,b_epoch,b_step,c,e,epoch,s,step,train_loss,val_loss,vbs,vi_epoch,vi_step");
  std::vector<std::string> rows;
  for (std::string l; std::getline(lines, l);) rows.push_back(l);
  // Per epoch: 2 step rows, 3 validation-step rows, 1 validation-epoch row, 1 train-epoch row.
  ASSERT_EQ(rows.size(), 14u);
  EXPECT_TRUE(rows[0].starts_with("1,,1,,,0,,1,"));
  EXPECT_THAT(read_file(root + "/lightning_logs/version_0/hparams.yaml"),
              ::testing::HasSubstr("optimizer: \"sgd\""));
}

TEST(Logging, HooksThatCannotLogThrow) {
  struct BadSetup : Regressor {
    void on_fit_start() override { log("x", 1.0); }
  };
  auto data = regression_data(16);
  DataLoader train(data, {.batch_size = 8});
  BadSetup model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("badlog"),
                         .logger = false}));
  try {
    trainer.fit(model, train);
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("on_fit_start"));
  }
  struct StepInEpochHook : Regressor {
    void on_train_epoch_end() override { log("x", 1.0, {.on_step = true}); }
  };
  StepInEpochHook model2;
  EXPECT_THROW(trainer.fit(model2, train), ValueError);
  // Outside a Trainer, log() does nothing.
  Regressor lone;
  EXPECT_NO_THROW(lone.log("x", 1.0));
}
