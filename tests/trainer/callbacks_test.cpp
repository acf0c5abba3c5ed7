// ModelCheckpoint (top-k by a metric, latest without one, last.ckpt), EarlyStopping,
// LearningRateMonitor, the model summary and the progress bar's plain mode.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "test_models.h"

using namespace trainer_test;
namespace fs = std::filesystem;

namespace {

// Validation logs a scripted val_loss: script[current_epoch].
struct Scripted : Regressor {
  std::vector<double> script;
  explicit Scripted(std::vector<double> s) : script(std::move(s)) {}
  void validation_step(const Batch&, int64_t) override {
    log("val_loss", script.at(std::min(static_cast<size_t>(current_epoch()), script.size() - 1)));
  }
};

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::shared_ptr<TensorDataset> small() { return regression_data(16); }

}  // namespace

TEST(ModelCheckpoint, KeepsTheTopKByTheMonitorAndLast) {
  auto data = small();
  DataLoader loader(data, {.batch_size = 8});  // 2 steps an epoch
  for (const std::string mode : {"min", "max"}) {
    const std::string dir = temp_dir("topk_" + mode);
    Scripted model({5, 3, 4, 1, 2});
    auto ckpt = ModelCheckpoint::make({.dirpath = dir,
                                       .filename = "{epoch}-{val_loss:.1f}",
                                       .monitor = "val_loss",
                                       .mode = mode,
                                       .save_top_k = 2,
                                       .save_last = true});
    Trainer trainer(quiet({.max_epochs = 5,
                           .num_sanity_val_steps = 0,
                           .default_root_dir = dir,
                           .callbacks = {ckpt},
                           .logger = false}));
    trainer.fit(model, loader, loader);
    if (mode == "min") {
      EXPECT_EQ(files_in(dir), (std::set<std::string>{"epoch=3-val_loss=1.0.ckpt",
                                                      "epoch=4-val_loss=2.0.ckpt", "last.ckpt"}));
      EXPECT_EQ(fs::path(ckpt->best_model_path()).filename(), "epoch=3-val_loss=1.0.ckpt");
      EXPECT_EQ(ckpt->best_model_score(), 1.0);
    } else {
      EXPECT_EQ(files_in(dir), (std::set<std::string>{"epoch=0-val_loss=5.0.ckpt",
                                                      "epoch=2-val_loss=4.0.ckpt", "last.ckpt"}));
      EXPECT_EQ(ckpt->best_model_score(), 5.0);
    }
    // last.ckpt is the final state; best loads by path ("best").
    EXPECT_EQ(read_checkpoint(dir + "/last.ckpt").metadata.at("global_step"), "10");
    const MetricMap v = trainer.validate(model, loader, "best").at(0);
    EXPECT_TRUE(v.count("val_loss"));
  }
}

TEST(ModelCheckpoint, WithoutAMonitorKeepsTheLatestInTheLoggersFolder) {
  auto data = small();
  DataLoader loader(data, {.batch_size = 8});
  const std::string root = temp_dir("latest");
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 3, .default_root_dir = root}));
  trainer.fit(model, loader);
  const std::string dir = root + "/lightning_logs/version_0/checkpoints";
  EXPECT_EQ(trainer.checkpoint_callback()->dirpath(), dir);
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"epoch=2-step=6.ckpt"}));
  // every_n_train_steps, with save_top_k=-1, keeps one per trigger.
  const std::string dir2 = temp_dir("every_steps");
  Regressor model2;
  Trainer t2(quiet({.max_epochs = 2,
                    .default_root_dir = dir2,
                    .callbacks = {ModelCheckpoint::make(
                        {.dirpath = dir2, .save_top_k = -1, .every_n_train_steps = 3})},
                    .logger = false}));
  t2.fit(model2, loader);
  EXPECT_EQ(files_in(dir2), (std::set<std::string>{"epoch=1-step=3.ckpt"}));
  EXPECT_THROW(ModelCheckpoint::make({.save_top_k = 3}), ValueError);  // ranking needs a monitor
}

TEST(EarlyStopping, PatienceMinDeltaAndNonFiniteMetrics) {
  auto data = small();
  DataLoader loader(data, {.batch_size = 8});
  auto stopped_after = [&](std::vector<double> script, EarlyStoppingOptions o) {
    Scripted model(std::move(script));
    auto es = EarlyStopping::make(o);
    Trainer trainer(quiet({.max_epochs = 5,
                           .num_sanity_val_steps = 0,
                           .enable_checkpointing = false,
                           .default_root_dir = temp_dir("es"),
                           .callbacks = {es},
                           .logger = false}));
    trainer.fit(model, loader, loader);
    return std::make_pair(trainer.current_epoch(), es);
  };
  // 5, 4 improve; 4.5 and 4.2 do not: patience 2 stops after epoch 3 (4 epochs run).
  auto [e1, es1] = stopped_after({5, 4, 4.5, 4.2, 1}, {.patience = 2});
  EXPECT_EQ(e1, 4);
  EXPECT_EQ(es1->stopped_epoch(), 3);
  EXPECT_EQ(es1->best_score(), 4.0);
  // min_delta: 4.8 and 4.6 are not better than 5 by more than 0.5.
  auto [e2, es2] = stopped_after({5, 4.8, 4.6, 4.4, 4.2}, {.min_delta = 0.5, .patience = 2});
  EXPECT_EQ(e2, 3);
  auto [e3, es3] = stopped_after({5, 4.8, 4.6, 4.4, 4.2}, {.min_delta = 0.3, .patience = 2});
  EXPECT_EQ(e3, 5);  // 4.6 and 4.2 improve by more than 0.3: never stops
  // mode max, and a NaN stops at once.
  auto [e4, es4] = stopped_after({1, 2, 3, 2, 2}, {.patience = 1, .mode = "max"});
  EXPECT_EQ(e4, 4);
  auto [e5, es5] = stopped_after({1, NAN, 0.5, 0.4, 0.3}, {.patience = 3});
  EXPECT_EQ(e5, 2);
  EXPECT_THAT(es5->stopping_reason(), ::testing::HasSubstr("not finite"));
  // A metric nobody logs is an error naming it.
  EXPECT_THROW(stopped_after({1, 1, 1, 1, 1}, {.monitor = "val_acc"}), ValueError);
}

TEST(LearningRateMonitor, LogsEachParameterGroup) {
  struct TwoGroups : Regressor {
    std::shared_ptr<nn::Linear> head;
    TwoGroups() { head = register_module("head", nn::Linear::make(1, 1)); }
    OptimizerConfig configure_optimizers() override {
      auto opt = optim::Adam::make(
          {{linear->parameters(), {.lr = 0.01}}, {head->parameters(), {.lr = 0.1}}});
      return {opt, {.scheduler = std::make_shared<optim::StepLR>(opt, 1, 0.5), .interval = "step"}};
    }
  };
  auto data = small();
  DataLoader loader(data, {.batch_size = 8});
  const std::string root = temp_dir("lrm");
  TwoGroups model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .log_every_n_steps = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = root,
                         .callbacks = {LearningRateMonitor::make()}}));
  trainer.fit(model, loader);
  std::ifstream in(root + "/lightning_logs/version_0/metrics.csv");
  std::string header, row1, row2;
  std::getline(in, header);
  EXPECT_THAT(header, ::testing::HasSubstr("lr-Adam/pg1,lr-Adam/pg2"));
  // Logged before each step: the rates then in force (halved after step 0).
  std::getline(in, row1);
  EXPECT_THAT(row1, ::testing::HasSubstr("0.01,0.1"));
}

TEST(ModelSummary, TableOfChildrenAndTotals) {
  Regressor model;
  const std::string s = summarize(model);
  EXPECT_THAT(s, ::testing::HasSubstr("| linear  | Linear  | 5      | 5         | train"));
  EXPECT_THAT(s, ::testing::HasSubstr("5         Trainable params"));
  EXPECT_THAT(s, ::testing::HasSubstr("0.000     Total estimated model params size (MB)"));
  EXPECT_EQ(human_readable_count(7372928), "7.4 M");
  EXPECT_EQ(human_readable_count(54400), "54.4 K");
  EXPECT_EQ(human_readable_count(999), "999");
}

TEST(ProgressBar, PlainLinesWhenNotATerminal) {
  std::FILE* out = std::tmpfile();
  auto data = regression_data(80);
  DataLoader loader(data, {.batch_size = 8});  // 10 batches
  Regressor model;
  Trainer trainer(quiet(
      {.max_epochs = 2,
       .num_sanity_val_steps = 0,
       .enable_checkpointing = false,
       .default_root_dir = temp_dir("pbar"),
       .callbacks = {ProgressBar::make({.terminal = false, .lines_per_epoch = 5, .out = out})},
       .logger = false}));
  trainer.fit(model, loader, loader);
  std::rewind(out);
  std::string text;
  for (int c; (c = std::fgetc(out)) != EOF;) text += static_cast<char>(c);
  std::fclose(out);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_THAT(text, ::testing::HasSubstr("Epoch 0: 20% 2/10 ["));
  EXPECT_THAT(text, ::testing::HasSubstr("Epoch 1: 100% 10/10 ["));
  EXPECT_THAT(text, ::testing::HasSubstr("it/s"));
  EXPECT_THAT(text, ::testing::HasSubstr("val_loss="));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'),
            2 * (4 + 1 + 1));  // 4 periodic, 1 validation, 1 epoch end
}

TEST(ModelCheckpoint, AMonitorNotLoggedYetOnlySkipsTopKUntilValidationHasRun) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 8});  // 8 steps an epoch
  const std::string dir = temp_dir("monitor_missing");
  Regressor model;
  auto ckpt = ModelCheckpoint::make({.dirpath = dir, .monitor = "val_loss", .save_last = true});
  Trainer trainer(
      quiet({.max_steps = 3, .default_root_dir = dir, .callbacks = {ckpt}, .logger = false}));
  trainer.fit(model, loader, loader);  // stops before the first validation
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"last.ckpt"}));
  // After a validation, a monitor that is never logged is an error.
  Regressor again;
  auto wrong = ModelCheckpoint::make({.dirpath = temp_dir("monitor_wrong"), .monitor = "val_acc"});
  Trainer t2(quiet({.max_epochs = 1,
                    .num_sanity_val_steps = 0,
                    .default_root_dir = dir,
                    .callbacks = {wrong},
                    .logger = false}));
  EXPECT_THROW(t2.fit(again, loader, loader), ValueError);
}
