// Trainer options of issue 18: min_epochs, min_steps, max_time, overfit_batches,
// detect_anomaly, deterministic, benchmark, and the default / braced-list loggers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "test_models.h"

using namespace trainer_test;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {

// Validation logs a val_loss that never improves, so EarlyStopping(patience=1) stops at
// the end of epoch 1.
struct NoProgress : Regressor {
  void validation_step(const Batch&, int64_t) override { log("val_loss", 1.0); }
};

// Asks to stop after its first training batch.
struct StopAtOnce : Regressor {
  void on_train_batch_end(const Tensor&, const Batch&, int64_t) override {
    trainer().should_stop = true;
  }
};

// Records the first feature of the first sample of every batch it trains or validates on.
struct Recorder : Regressor {
  std::vector<float> train_firsts, val_firsts;
  Tensor training_step(const Batch& batch, int64_t i) override {
    train_firsts.push_back(batch[0].to_vector<float>()[0]);
    return Regressor::training_step(batch, i);
  }
  void validation_step(const Batch& batch, int64_t i) override {
    val_firsts.push_back(batch[0].to_vector<float>()[0]);
    Regressor::validation_step(batch, i);
  }
};

// The first feature of the first sample of batch b of an unshuffled loader.
float first_of_batch(const TensorDataset& data, int64_t b, int64_t batch_size) {
  return data.get(b * batch_size)[0].to_vector<float>()[0];
}

}  // namespace

TEST(TrainerOptions, MinEpochsHoldsOffEarlyStopping) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  for (const std::optional<int64_t> min_epochs :
       {std::optional<int64_t>{}, std::optional<int64_t>{4}}) {
    NoProgress model;
    Trainer trainer(quiet({.max_epochs = 10,
                           .num_sanity_val_steps = 0,
                           .enable_checkpointing = false,
                           .callbacks = {EarlyStopping::make({.patience = 1})},
                           .logger = false,
                           .min_epochs = min_epochs}));
    trainer.fit(model, loader, loader);
    // patience 1: epoch 0 sets the best, epoch 1 does not improve -> stop after 2 epochs.
    EXPECT_EQ(trainer.current_epoch(), min_epochs ? 4 : 2);
    EXPECT_TRUE(trainer.should_stop);
  }
}

TEST(TrainerOptions, MinStepsHoldsOffShouldStop) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});  // 2 steps an epoch
  {
    StopAtOnce model;
    Trainer trainer(quiet({.max_epochs = 10, .enable_checkpointing = false, .logger = false}));
    trainer.fit(model, loader);
    EXPECT_EQ(trainer.global_step(), 1);  // min_epochs 0: stops after the first batch
  }
  {
    StopAtOnce model;
    Trainer trainer(
        quiet({.max_epochs = 10, .enable_checkpointing = false, .logger = false, .min_steps = 5}));
    trainer.fit(model, loader);
    EXPECT_EQ(trainer.global_step(), 5);  // stops in epoch 2, at the first check after step 5
    // The epoch ended by should_stop counts as finished, as in Lightning.
    EXPECT_EQ(trainer.current_epoch(), 3);
    EXPECT_EQ(trainer.min_epochs(), 1);  // Lightning: min_steps alone implies one epoch
  }
}

TEST(TrainerOptions, MaxTimeStopsAtTheFirstBatchEndAfterIt) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  // No max_epochs: with max_time Lightning sets no epoch limit, so only the clock stops fit.
  Trainer trainer(quiet(
      {.enable_checkpointing = false, .logger = false, .max_time = std::chrono::nanoseconds(1)}));
  EXPECT_EQ(trainer.max_epochs(), -1);
  trainer.fit(model, loader, loader);
  EXPECT_EQ(trainer.global_step(), 1);
  EXPECT_TRUE(trainer.should_stop);
  EXPECT_TRUE(trainer.callback_metric("val_loss"));  // validation runs after the stop, as Timer
}

TEST(TrainerOptions, MaxTimeNotReachedLeavesTheRunAlone) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 2,
                         .enable_checkpointing = false,
                         .logger = false,
                         .max_time = "00:01:00:00"}));
  EXPECT_EQ(trainer.max_epochs(), 2);
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.current_epoch(), 2);
  EXPECT_EQ(trainer.global_step(), 4);
  EXPECT_FALSE(trainer.should_stop);
}

TEST(TrainerOptions, MaxTimeWaitsForMinEpochs) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .logger = false,
                         .min_epochs = 3,
                         .max_time = "00:00:00:00"}));
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.current_epoch(), 3);
  EXPECT_EQ(trainer.global_step(), 6);
}

TEST(TrainerOptions, MaxTimeStrings) {
  EXPECT_DOUBLE_EQ(MaxTime("01:02:03:04").duration.count(), ((1 * 24 + 2) * 60 + 3) * 60 + 4);
  EXPECT_DOUBLE_EQ(MaxTime(std::chrono::minutes(2)).duration.count(), 120.0);
  for (const char* bad : {"1:2:3", "00:00:00:0x", "00:00::00", "", "-1:00:00:00"})
    EXPECT_THROW(MaxTime{bad}, ValueError) << bad;
}

TEST(TrainerOptions, OverfitBatchesTrainsOnTheSameFirstBatchesInOrder) {
  auto data = regression_data(32);
  DataLoader shuffled(data, {.batch_size = 4, .shuffle = true, .seed = 3});  // 8 batches
  DataLoader val(data, {.batch_size = 8});                                   // 4 batches
  Recorder model;
  Trainer trainer(quiet({.max_epochs = 3,
                         .num_sanity_val_steps = 0,
                         .enable_checkpointing = false,
                         .logger = false,
                         .overfit_batches = 2}));
  trainer.fit(model, shuffled, val);
  // Shuffling is off: every epoch trains on batches 0 and 1 of the dataset's order.
  const float b0 = first_of_batch(*data, 0, 4), b1 = first_of_batch(*data, 1, 4);
  EXPECT_EQ(model.train_firsts, (std::vector<float>{b0, b1, b0, b1, b0, b1}));
  // Validation is limited to the same number of batches (of the validation loader).
  const float v0 = first_of_batch(*data, 0, 8), v1 = first_of_batch(*data, 1, 8);
  EXPECT_EQ(model.val_firsts, (std::vector<float>{v0, v1, v0, v1, v0, v1}));
  EXPECT_TRUE(shuffled.options().shuffle);  // the caller's loader is left as it was
}

TEST(TrainerOptions, OverfitBatchesFraction) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 4});  // 8 batches
  Recorder model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .num_sanity_val_steps = 0,
                         .enable_checkpointing = false,
                         .logger = false,
                         .overfit_batches = 0.25}));
  trainer.fit(model, loader, loader);
  EXPECT_EQ(model.train_firsts.size(), 2u);
  EXPECT_EQ(model.val_firsts.size(), 2u);
}

namespace {
// training_step's loss has an infinite gradient: sqrt at 0.
struct InfiniteGradient : Regressor {
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor out = forward(x);
    return sqrt(out * 0.0).sum() + nn::F::mse_loss(out, y);
  }
};
}  // namespace

TEST(TrainerOptions, DetectAnomalyNamesTheOp) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  {
    InfiniteGradient model;
    Trainer trainer(quiet({.max_epochs = 1, .enable_checkpointing = false, .logger = false}));
    EXPECT_NO_THROW(trainer.fit(model, loader));  // off: the NaNs go into the weights
    EXPECT_TRUE(std::isnan(model.linear->weight.to_vector<float>()[0]));
  }
  InfiniteGradient model;
  Trainer trainer(quiet(
      {.max_epochs = 1, .enable_checkpointing = false, .logger = false, .detect_anomaly = true}));
  try {
    trainer.fit(model, loader);
    ADD_FAILURE() << "fit did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("Function 'SqrtBackward' returned inf values"));
    EXPECT_THAT(e.what(), HasSubstr("created by sqrt on an input f32 [8, 1]"));
  }
  EXPECT_FALSE(autograd::AnomalyMode::is_enabled());  // only for the fit
}

namespace {
// Restores the process-wide switches a test changes.
struct RestoreSwitches {
  ~RestoreSwitches() {
    use_deterministic_algorithms(false);
    backends::cudnn::benchmark = false;
    backends::sim::schedule = backends::SimSchedule::sequential;
  }
};

// x (4) with v added at idx in index order, accumulating in float as a sequential loop does.
std::vector<float> in_order(const std::vector<int64_t>& idx, const std::vector<float>& v) {
  std::vector<float> out(4, 0.0f);
  for (size_t k = 0; k < idx.size(); ++k) out[static_cast<size_t>(idx[k])] += v[k];
  return out;
}
}  // namespace

TEST(TrainerOptions, DeterministicAndBenchmarkSetTheSwitches) {
  RestoreSwitches restore;
  {
    Trainer t(quiet({.logger = false}));  // unset: left as it is
    EXPECT_FALSE(are_deterministic_algorithms_enabled());
  }
  backends::cudnn::benchmark = true;
  {
    Trainer t(quiet({.logger = false, .deterministic = true}));
    EXPECT_TRUE(are_deterministic_algorithms_enabled());
    EXPECT_FALSE(is_deterministic_algorithms_warn_only_enabled());
    EXPECT_FALSE(backends::cudnn::benchmark);  // Lightning: deterministic and unset -> false
  }
  {
    Trainer t(quiet({.logger = false, .deterministic = "warn"}));
    EXPECT_TRUE(is_deterministic_algorithms_warn_only_enabled());
  }
  Trainer off(quiet({.logger = false, .deterministic = false, .benchmark = true}));
  EXPECT_FALSE(are_deterministic_algorithms_enabled());
  EXPECT_TRUE(backends::cudnn::benchmark);
  EXPECT_THROW(Trainer(quiet({.deterministic = "always"})), ValueError);
}

TEST(TrainerOptions, AlertNotDeterministicThrowsOrWarns) {
  RestoreSwitches restore;
  EXPECT_NO_THROW(alert_not_deterministic("some_op"));  // off: nothing
  use_deterministic_algorithms(true);
  try {
    alert_not_deterministic("some_op");
    ADD_FAILURE() << "did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("some_op: does not have a deterministic implementation"));
  }
  use_deterministic_algorithms(true, /*warn_only=*/true);
  EXPECT_NO_THROW(alert_not_deterministic("some_op"));
}

TEST(TrainerOptions, DeterministicIndexPutAccumulateOnSimAddsInIndexOrder) {
  if (!backend_available(DeviceType::sim)) GTEST_SKIP() << "no sim device";
  RestoreSwitches restore;
  // 1e8 + 1 rounds back to 1e8 in f32, so the order of the three adds into x[1] shows:
  // in index order the sum is 0, with the 1 added last it is 1.
  const std::vector<int64_t> idx = {1, 3, 1, 1, 0};
  const std::vector<float> v = {1e8f, 2.0f, 1.0f, -1e8f, 5.0f};
  const std::vector<float> expected = in_order(idx, v);
  ASSERT_EQ(expected[1], 0.0f);
  Tensor index = from_vector<int64_t>(idx, {5}).to(Device::sim());
  Tensor values = from_vector<float>(v, {5}).to(Device::sim());
  Trainer trainer(quiet({.logger = false, .deterministic = true}));
  // The shuffled schedule resumes a block's threads in a random order, as a GPU may.
  backends::sim::schedule = backends::SimSchedule::shuffled;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    backends::sim::seed = seed;
    Tensor x = zeros({4}, {.device = Device::sim()});
    EXPECT_EQ(index_put(x, {index}, values, /*accumulate=*/true).cpu().to_vector<float>(), expected)
        << "seed " << seed;
  }
  // A 2-d scatter_add along dim 1 (fibers are rows), against the same sequential sums.
  Tensor idx2 = from_vector<int64_t>({1, 1, 1, 0, 2, 2, 2, 2}, {2, 4}).to(Device::sim());
  Tensor src2 = from_vector<float>({1e8f, 1.0f, -1e8f, 3.0f, 1e8f, 1.0f, 1.0f, -1e8f}, {2, 4})
                    .to(Device::sim());
  Tensor out2 = scatter_add(zeros({2, 3}, {.device = Device::sim()}), 1, idx2, src2);
  EXPECT_EQ(out2.cpu().to_vector<float>(), (std::vector<float>{3, 0, 0, 0, 0, 0}));
}

TEST(TrainerOptions, InvalidLimits) {
  EXPECT_THROW(Trainer(quiet({.max_epochs = 2, .min_epochs = 3})), ValueError);
  EXPECT_THROW(Trainer(quiet({.max_steps = 2, .min_steps = 3})), ValueError);
  EXPECT_THROW(Trainer(quiet({.min_epochs = -1})), ValueError);
  EXPECT_THROW(Trainer(quiet({.overfit_batches = 1.5})), ValueError);
  EXPECT_THROW(Trainer(quiet({.max_time = "00:00:xx:00"})), ValueError);
}

TEST(TrainerOptions, DefaultLoggersAreTensorBoardAndCsvInOneFolder) {
  const std::string root = temp_dir("default_loggers");
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 1, .log_every_n_steps = 1, .default_root_dir = root}));
  ASSERT_EQ(trainer.loggers().size(), 2u);
  auto tb = std::dynamic_pointer_cast<TensorBoardLogger>(trainer.logger());
  ASSERT_TRUE(tb) << "the first logger is TensorBoard";
  EXPECT_TRUE(std::dynamic_pointer_cast<CSVLogger>(trainer.loggers()[1]));
  trainer.fit(model, loader);
  const std::string dir = root + "/lightning_logs/version_0";
  EXPECT_EQ(trainer.log_dir(), dir);
  EXPECT_EQ(fs::path(tb->event_file()).parent_path().string(), dir);
  EXPECT_TRUE(fs::exists(dir + "/metrics.csv"));
  EXPECT_FALSE(fs::exists(root + "/lightning_logs/version_1"));  // both chose version_0
}

TEST(TrainerOptions, LoggersAsABracedList) {
  const std::string root = temp_dir("braced_loggers");
  auto tb = TensorBoardLogger::make(root, {.name = "tb"});
  auto csv = CSVLogger::make(root, {.name = "csv"});
  Trainer trainer(quiet({.logger = {tb, csv}}));
  ASSERT_EQ(trainer.loggers().size(), 2u);
  EXPECT_EQ(trainer.loggers()[0], tb);
  EXPECT_EQ(trainer.loggers()[1], csv);
  Trainer none(quiet({.logger = false}));
  EXPECT_TRUE(none.loggers().empty());
}
