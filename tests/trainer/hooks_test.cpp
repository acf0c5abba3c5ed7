// The order of hooks in fit, validate and test against Lightning 2.x's documented order
// (the LightningModule "Hooks" pseudocode): callbacks first, then the module; the
// validation at the end of an epoch runs before on_train_epoch_end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_models.h"

using namespace trainer_test;

namespace {

using Log = std::vector<std::string>;

struct RecordingCallback : Callback {
  Log* log;
  explicit RecordingCallback(Log* l) : log(l) {}
  void rec(const std::string& s) { log->push_back("cb:" + s); }
  void setup(Trainer&, LightningModule&, const std::string& s) override { rec("setup:" + s); }
  void teardown(Trainer&, LightningModule&, const std::string& s) override { rec("teardown:" + s); }
  void on_fit_start(Trainer&, LightningModule&) override { rec("on_fit_start"); }
  void on_fit_end(Trainer&, LightningModule&) override { rec("on_fit_end"); }
  void on_sanity_check_start(Trainer&, LightningModule&) override { rec("on_sanity_check_start"); }
  void on_sanity_check_end(Trainer&, LightningModule&) override { rec("on_sanity_check_end"); }
  void on_train_start(Trainer&, LightningModule&) override { rec("on_train_start"); }
  void on_train_end(Trainer&, LightningModule&) override { rec("on_train_end"); }
  void on_train_epoch_start(Trainer&, LightningModule&) override { rec("on_train_epoch_start"); }
  void on_train_epoch_end(Trainer&, LightningModule&) override { rec("on_train_epoch_end"); }
  void on_train_batch_start(Trainer&, LightningModule&, const Batch&, int64_t) override {
    rec("on_train_batch_start");
  }
  void on_train_batch_end(Trainer&, LightningModule&, const Tensor&, const Batch&,
                          int64_t) override {
    rec("on_train_batch_end");
  }
  void on_validation_start(Trainer&, LightningModule&) override { rec("on_validation_start"); }
  void on_validation_end(Trainer&, LightningModule&) override { rec("on_validation_end"); }
  void on_validation_epoch_start(Trainer&, LightningModule&) override {
    rec("on_validation_epoch_start");
  }
  void on_validation_epoch_end(Trainer&, LightningModule&) override {
    rec("on_validation_epoch_end");
  }
  void on_validation_batch_start(Trainer&, LightningModule&, const Batch&, int64_t) override {
    rec("on_validation_batch_start");
  }
  void on_validation_batch_end(Trainer&, LightningModule&, const Batch&, int64_t) override {
    rec("on_validation_batch_end");
  }
  void on_test_start(Trainer&, LightningModule&) override { rec("on_test_start"); }
  void on_test_end(Trainer&, LightningModule&) override { rec("on_test_end"); }
  void on_test_epoch_start(Trainer&, LightningModule&) override { rec("on_test_epoch_start"); }
  void on_test_epoch_end(Trainer&, LightningModule&) override { rec("on_test_epoch_end"); }
  void on_test_batch_start(Trainer&, LightningModule&, const Batch&, int64_t) override {
    rec("on_test_batch_start");
  }
  void on_test_batch_end(Trainer&, LightningModule&, const Batch&, int64_t) override {
    rec("on_test_batch_end");
  }
  void on_before_backward(Trainer&, LightningModule&, const Tensor&) override {
    rec("on_before_backward");
  }
  void on_after_backward(Trainer&, LightningModule&) override { rec("on_after_backward"); }
  void on_before_zero_grad(Trainer&, LightningModule&, optim::Optimizer&) override {
    rec("on_before_zero_grad");
  }
  void on_before_optimizer_step(Trainer&, LightningModule&, optim::Optimizer&) override {
    rec("on_before_optimizer_step");
  }
};

struct RecordingModule : Regressor {
  Log* log;
  explicit RecordingModule(Log* l) : log(l) {}
  void rec(const std::string& s) { log->push_back(s); }
  Tensor training_step(const Batch& b, int64_t i) override {
    rec("training_step");
    return Regressor::training_step(b, i);
  }
  void validation_step(const Batch& b, int64_t i) override {
    rec("validation_step");
    Regressor::validation_step(b, i);
  }
  void test_step(const Batch& b, int64_t i) override {
    rec("test_step");
    Regressor::test_step(b, i);
  }
  OptimizerConfig configure_optimizers() override {
    rec("configure_optimizers");
    return Regressor::configure_optimizers();
  }
  void setup(const std::string& s) override { rec("setup:" + s); }
  void teardown(const std::string& s) override { rec("teardown:" + s); }
  void on_fit_start() override { rec("on_fit_start"); }
  void on_fit_end() override { rec("on_fit_end"); }
  void on_train_start() override { rec("on_train_start"); }
  void on_train_end() override { rec("on_train_end"); }
  void on_train_epoch_start() override { rec("on_train_epoch_start"); }
  void on_train_epoch_end() override { rec("on_train_epoch_end"); }
  bool on_train_batch_start(const Batch&, int64_t) override {
    rec("on_train_batch_start");
    return true;
  }
  void on_train_batch_end(const Tensor&, const Batch&, int64_t) override {
    rec("on_train_batch_end");
  }
  void on_validation_start() override { rec("on_validation_start"); }
  void on_validation_end() override { rec("on_validation_end"); }
  void on_validation_epoch_start() override { rec("on_validation_epoch_start"); }
  void on_validation_epoch_end() override { rec("on_validation_epoch_end"); }
  void on_validation_batch_start(const Batch&, int64_t) override {
    rec("on_validation_batch_start");
  }
  void on_validation_batch_end(const Batch&, int64_t) override { rec("on_validation_batch_end"); }
  void on_test_start() override { rec("on_test_start"); }
  void on_test_end() override { rec("on_test_end"); }
  void on_test_epoch_start() override { rec("on_test_epoch_start"); }
  void on_test_epoch_end() override { rec("on_test_epoch_end"); }
  void on_test_batch_start(const Batch&, int64_t) override { rec("on_test_batch_start"); }
  void on_test_batch_end(const Batch&, int64_t) override { rec("on_test_batch_end"); }
  void on_before_backward(const Tensor&) override { rec("on_before_backward"); }
  void on_after_backward() override { rec("on_after_backward"); }
  void on_before_zero_grad(optim::Optimizer&) override { rec("on_before_zero_grad"); }
  void on_before_optimizer_step(optim::Optimizer&) override { rec("on_before_optimizer_step"); }
};

// Hooks both sides have: the callback's call, then the module's. Steps and
// configure_optimizers are the module's alone; sanity-check hooks the callbacks'.
Log expand(const std::vector<std::string>& names) {
  static const std::set<std::string> module_only = {"training_step", "validation_step", "test_step",
                                                    "configure_optimizers"};
  Log out;
  for (const auto& n : names) {
    if (n.starts_with("cb:")) {
      out.push_back(n);
    } else if (module_only.count(n)) {
      out.push_back(n);
    } else {
      out.push_back("cb:" + n);
      out.push_back(n);
    }
  }
  return out;
}

std::vector<std::string> val_loop(int batches) {
  std::vector<std::string> v = {"on_validation_start", "on_validation_epoch_start"};
  for (int i = 0; i < batches; ++i)
    v.insert(v.end(), {"on_validation_batch_start", "validation_step", "on_validation_batch_end"});
  v.insert(v.end(), {"on_validation_epoch_end", "on_validation_end"});
  return v;
}

std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace

TEST(Hooks, FitFollowsLightningsOrder) {
  Log log;
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 16});
  DataLoader val(data, {.batch_size = 32});
  RecordingModule model(&log);
  Trainer trainer(quiet({.max_epochs = 1,
                         .num_sanity_val_steps = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("hooks_fit"),
                         .callbacks = {std::make_shared<RecordingCallback>(&log)},
                         .logger = false}));
  trainer.fit(model, train, val);
  const std::vector<std::string> batch = {"on_train_batch_start", "training_step",
                                          "on_before_zero_grad",  "on_before_backward",
                                          "on_after_backward",    "on_before_optimizer_step",
                                          "on_train_batch_end"};
  const Log expected = expand(
      concat({{"setup:fit", "configure_optimizers", "on_fit_start", "cb:on_sanity_check_start"},
              val_loop(1),
              {"cb:on_sanity_check_end", "on_train_start", "on_train_epoch_start"},
              batch,
              batch,
              val_loop(1),
              {"on_train_epoch_end", "on_train_end", "on_fit_end", "teardown:fit"}}));
  EXPECT_THAT(log, ::testing::ElementsAreArray(expected));
}

TEST(Hooks, AccumulationZeroesAtTheWindowStartAndStepsAtItsEnd) {
  Log log;
  auto data = regression_data(48);
  DataLoader train(data, {.batch_size = 16});
  RecordingModule model(&log);
  Trainer trainer(quiet({.max_epochs = 1,
                         .accumulate_grad_batches = 2,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("hooks_accum"),
                         .logger = false}));
  trainer.fit(model, train);
  // Three batches in windows of two: the last, short window still steps.
  const Log expected = expand(
      concat({{"setup:fit", "configure_optimizers", "on_fit_start", "on_train_start",
               "on_train_epoch_start"},
              {"on_train_batch_start", "training_step", "on_before_zero_grad", "on_before_backward",
               "on_after_backward", "on_train_batch_end"},
              {"on_train_batch_start", "training_step", "on_before_backward", "on_after_backward",
               "on_before_optimizer_step", "on_train_batch_end"},
              {"on_train_batch_start", "training_step", "on_before_zero_grad", "on_before_backward",
               "on_after_backward", "on_before_optimizer_step", "on_train_batch_end"},
              {"on_train_epoch_end", "on_train_end", "on_fit_end", "teardown:fit"}}));
  // No callback here: keep only the module's entries of the expectation.
  Log module_only;
  for (const auto& e : expected)
    if (!e.starts_with("cb:")) module_only.push_back(e);
  EXPECT_THAT(log, ::testing::ElementsAreArray(module_only));
  EXPECT_EQ(trainer.global_step(), 2);
}

TEST(Hooks, ValidateAndTestFollowLightningsOrder) {
  Log log;
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});
  RecordingModule model(&log);
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .default_root_dir = temp_dir("hooks_eval"),
                         .callbacks = {std::make_shared<RecordingCallback>(&log)},
                         .logger = false}));
  const MetricMap v = trainer.validate(model, loader).at(0);
  EXPECT_THAT(log, ::testing::ElementsAreArray(
                       expand(concat({{"setup:validate"}, val_loop(2), {"teardown:validate"}}))));
  EXPECT_TRUE(v.count("val_loss"));
  log.clear();
  const MetricMap t = trainer.test(model, loader).at(0);
  std::vector<std::string> test = {"setup:test", "on_test_start", "on_test_epoch_start"};
  for (int i = 0; i < 2; ++i)
    test.insert(test.end(), {"on_test_batch_start", "test_step", "on_test_batch_end"});
  test.insert(test.end(), {"on_test_epoch_end", "on_test_end", "teardown:test"});
  EXPECT_THAT(log, ::testing::ElementsAreArray(expand(test)));
  EXPECT_TRUE(t.count("test_loss"));
  EXPECT_TRUE(model.is_training());  // evaluation leaves the mode as it found it
}

TEST(Hooks, ValCheckIntervalAndCheckValEveryNEpoch) {
  Log log;
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8});  // 8 batches
  DataLoader val(data, {.batch_size = 64});
  RecordingModule model(&log);
  Trainer trainer(quiet({.max_epochs = 2,
                         .val_check_interval = 0.25,
                         .num_sanity_val_steps = 0,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("hooks_vci"),
                         .logger = false}));
  trainer.fit(model, train, val);
  EXPECT_EQ(std::count(log.begin(), log.end(), "validation_step"),
            8);  // 4 an epoch, every 2 batches
  log.clear();
  RecordingModule model2(&log);
  Trainer every2(quiet({.max_epochs = 4,
                        .check_val_every_n_epoch = 2,
                        .num_sanity_val_steps = 0,
                        .enable_checkpointing = false,
                        .default_root_dir = temp_dir("hooks_vci2"),
                        .logger = false}));
  every2.fit(model2, train, val);
  EXPECT_EQ(std::count(log.begin(), log.end(), "validation_step"), 2);  // after epochs 1 and 3
  log.clear();
  RecordingModule model3(&log);
  Trainer by_count(quiet({.max_epochs = 2,
                          .val_check_interval = 3,
                          .check_val_every_n_epoch = std::nullopt,
                          .num_sanity_val_steps = 0,
                          .enable_checkpointing = false,
                          .default_root_dir = temp_dir("hooks_vci3"),
                          .logger = false}));
  by_count.fit(model3, train, val);
  EXPECT_EQ(std::count(log.begin(), log.end(), "validation_step"),
            5);  // batches 3, 6, 9, 12, 15 of 16
}

TEST(Hooks, SkippingTheRestOfAnEpochAndStoppingByMaxSteps) {
  struct Skipper : Regressor {
    bool on_train_batch_start(const Batch&, int64_t i) override { return i < 2; }
  };
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8});
  Skipper model;
  Trainer trainer(quiet({.max_epochs = 3,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("skip"),
                         .logger = false}));
  trainer.fit(model, train);
  EXPECT_EQ(trainer.global_step(), 6);
  EXPECT_EQ(trainer.current_epoch(), 3);

  Regressor model2;
  Trainer steps(quiet({.max_steps = 11,
                       .enable_checkpointing = false,
                       .default_root_dir = temp_dir("steps"),
                       .logger = false}));
  steps.fit(model2, train);
  EXPECT_EQ(steps.global_step(), 11);
  EXPECT_EQ(model2.losses.size(), 11u);
}

TEST(Hooks, FastDevRunRunsOneBatchOfEachLoopAndWritesNothing) {
  Log log;
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8});
  DataLoader val(data, {.batch_size = 8});
  RecordingModule model(&log);
  const std::string root = temp_dir("fast_dev_run");
  Trainer trainer(quiet({.max_epochs = 10, .fast_dev_run = true, .default_root_dir = root}));
  trainer.fit(model, train, val);
  EXPECT_EQ(std::count(log.begin(), log.end(), "training_step"), 1);
  EXPECT_EQ(std::count(log.begin(), log.end(), "validation_step"), 1);
  EXPECT_EQ(trainer.global_step(), 1);
  EXPECT_TRUE(std::filesystem::is_empty(root));
}
