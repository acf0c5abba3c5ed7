// ModelCheckpoint's Lightning options: filename templates with format specs,
// auto_insert_metric_name, '/' in metric names, the version counter, every_n_train_steps,
// train_time_interval, save_on_train_epoch_end, save_weights_only and save_last="link";
// and trainer.save_checkpoint(path, weights_only).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "test_models.h"

using namespace trainer_test;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {

// Validation logs a scripted val_loss: script[current_epoch].
struct Scripted : Regressor {
  std::vector<double> script;
  std::string name = "val_loss";
  explicit Scripted(std::vector<double> s) : script(std::move(s)) {}
  void validation_step(const Batch&, int64_t) override {
    log(name, script.at(std::min(static_cast<size_t>(current_epoch()), script.size() - 1)));
  }
};

// Every file under dir, as paths relative to it.
std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory()) out.insert(e.path().lexically_relative(dir).string());
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "no error";
}

// Fits `epochs` epochs of 16 samples in batches of 4 (4 steps an epoch).
void fit_scripted(Scripted& model, const std::shared_ptr<ModelCheckpoint>& ckpt, int64_t epochs,
                  const std::string& root, bool with_val = true, BatchCount val_check = 1.0) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 4});
  Trainer trainer(quiet({.max_epochs = epochs,
                         .val_check_interval = val_check,
                         .num_sanity_val_steps = 0,
                         .default_root_dir = root,
                         .callbacks = {ckpt},
                         .logger = false}));
  if (with_val) trainer.fit(model, loader, loader);
  else trainer.fit(model, loader);
}

}  // namespace

TEST(ModelCheckpointOptions, FormatCheckpointNameAsLightningsDoctests) {
  const auto name = [](ModelCheckpointOptions o, MetricMap m) {
    o.dirpath = "d";
    return ModelCheckpoint(o).format_checkpoint_name(m);
  };
  EXPECT_EQ(name({.filename = "{epoch}"}, {{"epoch", 0}}), "d/epoch=0.ckpt");
  EXPECT_EQ(name({.filename = "{epoch:03d}"}, {{"epoch", 5}}), "d/epoch=005.ckpt");
  EXPECT_EQ(name({.filename = "{epoch}-{val_loss:.2f}"}, {{"epoch", 2}, {"val_loss", 0.123456}}),
            "d/epoch=2-val_loss=0.12.ckpt");
  EXPECT_EQ(name({.filename = "epoch={epoch}-validation_loss={val_loss:.2f}",
                  .auto_insert_metric_name = false},
                 {{"epoch", 2}, {"val_loss", 0.123456}}),
            "d/epoch=2-validation_loss=0.12.ckpt");
  EXPECT_EQ(name({.filename = "{missing:d}"}, {}), "d/missing=0.ckpt");
  EXPECT_EQ(name({.filename = "{step}"}, {{"step", 0}}), "d/step=0.ckpt");
  // The default template, a metric without a spec (Python's repr of a float), and a
  // longer name that starts with a shorter one.
  EXPECT_EQ(name({}, {{"epoch", 3}, {"step", 120}}), "d/epoch=3-step=120.ckpt");
  EXPECT_EQ(name({.filename = "{val_loss}"}, {{"val_loss", 1.0}}), "d/val_loss=1.0.ckpt");
  EXPECT_EQ(name({.filename = "{epoch}-{epoch_acc:.1%}"}, {{"epoch", 1}, {"epoch_acc", 0.5}}),
            "d/epoch=1-epoch_acc=50.0%.ckpt");
  EXPECT_EQ(name({.filename = "checkpoint_{epoch:02d}-{acc:02.0f}"}, {{"epoch", 1}, {"acc", 1.12}}),
            "d/checkpoint_epoch=01-acc=01.ckpt");
  EXPECT_EQ(ModelCheckpoint({.dirpath = "d"}).format_checkpoint_name({{"epoch", 1}}, "", 2),
            "d/epoch=1-step=0-v2.ckpt");
}

TEST(ModelCheckpointOptions, BadTemplatesAndOptionsAreValueErrors) {
  ModelCheckpoint ckpt({.dirpath = "d", .filename = "{val_loss:d}"});
  EXPECT_THAT(error_of([&] {
                ckpt.format_checkpoint_name({{"val_loss", 0.5}});
              }),
              AllOf(HasSubstr("{val_loss:d}"), HasSubstr("is for integers")));
  EXPECT_THAT(error_of([] { ModelCheckpoint({.save_last = "links"}); }),
              HasSubstr("save_last must be true, false or \"link\""));
  EXPECT_THAT(
      error_of([] {
        ModelCheckpoint({.every_n_train_steps = 5, .train_time_interval = std::chrono::minutes(1)});
      }),
      HasSubstr("mutually exclusive"));
  EXPECT_THAT(error_of([] { ModelCheckpoint({.every_n_train_steps = 5, .every_n_epochs = 1}); }),
              HasSubstr("mutually exclusive"));
  EXPECT_THAT(error_of([] { ModelCheckpoint({.train_time_interval = std::chrono::seconds(-1)}); }),
              HasSubstr("train_time_interval must be >= 0"));
}

TEST(ModelCheckpointOptions, ZeroPaddedEpochsAndPrecisionInFit) {
  const std::string dir = temp_dir("mc_specs");
  Scripted model({0.123456, 0.5, 0.25});
  auto ckpt = ModelCheckpoint::make({.dirpath = dir,
                                     .filename = "{epoch:02d}-{val_loss:.3f}",
                                     .monitor = "val_loss",
                                     .save_top_k = -1});
  fit_scripted(model, ckpt, 3, dir);
  EXPECT_EQ(files_in(dir),
            (std::set<std::string>{"epoch=00-val_loss=0.123.ckpt", "epoch=01-val_loss=0.500.ckpt",
                                   "epoch=02-val_loss=0.250.ckpt"}));
  const std::string plain = temp_dir("mc_no_names");
  Scripted again({0.123456, 0.5, 0.25});
  auto bare = ModelCheckpoint::make({.dirpath = plain,
                                     .filename = "{epoch:02d}-{val_loss:.3f}",
                                     .monitor = "val_loss",
                                     .save_top_k = 1,
                                     .auto_insert_metric_name = false});
  fit_scripted(again, bare, 3, plain);
  EXPECT_EQ(files_in(plain), (std::set<std::string>{"00-0.123.ckpt"}));
  EXPECT_EQ(bare->best_model_path(), plain + "/00-0.123.ckpt");
}

TEST(ModelCheckpointOptions, SlashInAMetricNameMakesASubfolderAsInLightning) {
  const std::string dir = temp_dir("mc_slash");
  Scripted model({3, 1, 2});
  model.name = "val/loss";
  auto ckpt = ModelCheckpoint::make(
      {.dirpath = dir, .filename = "{epoch}-{val/loss:.1f}", .monitor = "val/loss"});
  fit_scripted(model, ckpt, 3, dir);
  // The worse one in its own subfolder was removed when the better one came.
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"epoch=1-val/loss=1.0.ckpt"}));
  const std::string flat = temp_dir("mc_slash_flat");
  Scripted again({3, 1, 2});
  again.name = "val/loss";
  auto named = ModelCheckpoint::make({.dirpath = flat,
                                      .filename = "epoch={epoch}-val_loss={val/loss:.1f}",
                                      .monitor = "val/loss",
                                      .auto_insert_metric_name = false});
  fit_scripted(again, named, 3, flat);
  EXPECT_EQ(files_in(flat), (std::set<std::string>{"epoch=1-val_loss=1.0.ckpt"}));
}

TEST(ModelCheckpointOptions, VersionCounterOrOverwrite) {
  const std::string dir = temp_dir("mc_versions");
  Scripted model({3, 2, 1});
  auto ckpt = ModelCheckpoint::make(
      {.dirpath = dir, .filename = "fixed", .monitor = "val_loss", .save_top_k = -1});
  fit_scripted(model, ckpt, 3, dir);
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"fixed.ckpt", "fixed-v1.ckpt", "fixed-v2.ckpt"}));
  EXPECT_EQ(read_checkpoint(dir + "/fixed-v2.ckpt").metadata.at("epoch"), "2");

  const std::string over = temp_dir("mc_overwrite");
  Scripted again({3, 2, 1});
  auto one = ModelCheckpoint::make({.dirpath = over,
                                    .filename = "fixed",
                                    .monitor = "val_loss",
                                    .save_top_k = -1,
                                    .save_last = true,
                                    .enable_version_counter = false});
  // A last.ckpt from an earlier run is overwritten too, not versioned.
  fs::copy_file(dir + "/fixed.ckpt", over + "/last.ckpt");
  fit_scripted(again, one, 3, over);
  EXPECT_EQ(files_in(over), (std::set<std::string>{"fixed.ckpt", "last.ckpt"}));
  EXPECT_EQ(read_checkpoint(over + "/fixed.ckpt").metadata.at("epoch"), "2");
  EXPECT_EQ(read_checkpoint(over + "/last.ckpt").metadata.at("global_step"), "12");
}

TEST(ModelCheckpointOptions, EveryNTrainSteps) {
  const std::string dir = temp_dir("mc_steps");
  Scripted model({1});
  auto ckpt = ModelCheckpoint::make(
      {.dirpath = dir, .filename = "{step}", .save_top_k = -1, .every_n_train_steps = 3});
  fit_scripted(model, ckpt, 2, dir, false);  // 8 steps, no validation
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"step=3.ckpt", "step=6.ckpt"}));
}

TEST(ModelCheckpointOptions, AStepSaveWaitsForTheValidationItsMonitorNeeds) {
  const std::string dir = temp_dir("mc_defer");
  Scripted model({5, 3});
  auto ckpt = ModelCheckpoint::make({.dirpath = dir,
                                     .filename = "{step}-{val_loss:.1f}",
                                     .monitor = "val_loss",
                                     .save_top_k = -1,
                                     .every_n_train_steps = 1});
  fit_scripted(model, ckpt, 2, dir, true, 0.5);  // validation after steps 2, 4, 6, 8
  // Steps 1 and 2: val_loss not logged yet, so one save after the first validation (step
  // 2); steps 4 and 8, the epochs' last batches, are saved after their validation.
  EXPECT_EQ(files_in(dir),
            (std::set<std::string>{"step=2-val_loss=5.0.ckpt", "step=3-val_loss=5.0.ckpt",
                                   "step=4-val_loss=5.0.ckpt", "step=5-val_loss=5.0.ckpt",
                                   "step=6-val_loss=5.0.ckpt", "step=7-val_loss=3.0.ckpt",
                                   "step=8-val_loss=3.0.ckpt"}));
}

TEST(ModelCheckpointOptions, TrainTimeIntervalWithAnInjectedClock) {
  const std::string dir = temp_dir("mc_time");
  Scripted model({1});
  // Read once at train start (minute 0), then once after each batch: batch k ends at minute k.
  int64_t minutes = 0;
  auto ckpt = ModelCheckpoint::make({.dirpath = dir,
                                     .filename = "{step}",
                                     .save_top_k = -1,
                                     .train_time_interval = std::chrono::minutes(3),
                                     .clock = [&minutes] {
                                       return std::chrono::steady_clock::time_point(
                                           std::chrono::minutes(minutes++));
                                     }});
  fit_scripted(model, ckpt, 2, dir, false);  // 8 steps; no epoch-end saves with an interval
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"step=3.ckpt", "step=6.ckpt"}));
  EXPECT_EQ(minutes, 9);
  EXPECT_THAT(ckpt->state_key(), HasSubstr("train_time_interval=180"));
  EXPECT_EQ(ModelCheckpoint({.monitor = "a"}).state_key(),
            "ModelCheckpoint{monitor=a,mode=min,every_n_train_steps=0,every_n_epochs=-1}");
}

TEST(ModelCheckpointOptions, SaveOnTrainEpochEnd) {
  // Validation twice an epoch (4 batches, val_check_interval 0.5), 2 epochs.
  const auto run = [](const std::string& name, std::optional<bool> at_epoch_end, bool with_val) {
    const std::string dir = temp_dir(name);
    Scripted model({1});
    auto ckpt = ModelCheckpoint::make({.dirpath = dir,
                                       .filename = "{step}",
                                       .save_top_k = -1,
                                       .save_on_train_epoch_end = at_epoch_end});
    fit_scripted(model, ckpt, 2, dir, with_val, 0.5);
    return files_in(dir);
  };
  using Files = std::set<std::string>;
  // Unset: after each validation when validation runs more than once an epoch ...
  EXPECT_EQ(run("mc_unset", std::nullopt, true),
            (Files{"step=2.ckpt", "step=4.ckpt", "step=6.ckpt", "step=8.ckpt"}));
  // ... at the train epoch's end without validation.
  EXPECT_EQ(run("mc_unset_noval", std::nullopt, false), (Files{"step=4.ckpt", "step=8.ckpt"}));
  EXPECT_EQ(run("mc_true", true, true), (Files{"step=4.ckpt", "step=8.ckpt"}));
  // false without validation: never (no validation ends).
  EXPECT_EQ(run("mc_false_noval", false, false), Files{});
}

TEST(ModelCheckpointOptions, SaveWeightsOnlyHoldsWeightsAndHparamsAndCannotResume) {
  const std::string dir = temp_dir("mc_weights");
  Scripted model({2, 1});
  auto ckpt = ModelCheckpoint::make(
      {.dirpath = dir, .filename = "{epoch}", .save_top_k = -1, .save_weights_only = true});
  fit_scripted(model, ckpt, 2, dir);
  const std::string path = dir + "/epoch=1.ckpt";
  const Checkpoint c = read_checkpoint(path);
  std::vector<std::string> keys;
  for (const auto& [k, v] : c.tensors) keys.push_back(k);
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre("linear.weight", "linear.bias"));
  EXPECT_TRUE(equal(c.tensors.at("linear.weight"), model.linear->weight));
  EXPECT_EQ(c.metadata.at("weights_only"), "true");
  EXPECT_EQ(c.metadata.at("epoch"), "1");
  EXPECT_EQ(c.metadata.at("global_step"), "8");
  EXPECT_FALSE(c.metadata.contains("loops"));
  EXPECT_FALSE(c.metadata.contains("callbacks"));
  EXPECT_FALSE(c.metadata.contains("rng"));
  EXPECT_EQ(checkpoint_hparams(c).size(), 2u);

  // fit cannot resume from it; validate can use its weights.
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 4});
  Regressor fresh;
  Trainer trainer(quiet({.max_epochs = 3, .default_root_dir = dir, .logger = false}));
  const std::set<std::string> before = files_in(dir);
  EXPECT_THAT(error_of([&] { trainer.fit(fresh, loader, loader, path); }),
              AllOf(HasSubstr(path), HasSubstr("weights-only")));
  EXPECT_EQ(files_in(dir), before);  // refused before anything ran
  Regressor other;
  Trainer t2(quiet({.enable_checkpointing = false, .logger = false}));
  t2.validate(other, loader, path);
  EXPECT_TRUE(equal(other.linear->weight, model.linear->weight));
}

TEST(ModelCheckpointOptions, TrainerSaveCheckpointWeightsOnly) {
  const std::string dir = temp_dir("mc_trainer_save");
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 4});
  Regressor model({.optimizer = "adam"});
  Trainer trainer(quiet({.max_epochs = 1, .enable_checkpointing = false, .default_root_dir = dir}));
  trainer.fit(model, loader);
  trainer.save_checkpoint(dir + "/full.ckpt");
  trainer.save_checkpoint(dir + "/weights.ckpt", true);
  const Checkpoint full = read_checkpoint(dir + "/full.ckpt");
  const Checkpoint weights = read_checkpoint(dir + "/weights.ckpt");
  EXPECT_TRUE(full.tensors.contains("optimizer_states.0.state.0.exp_avg"));
  EXPECT_FALSE(weights.tensors.contains("optimizer_states.0.state.0.exp_avg"));
  EXPECT_EQ(weights.tensors.size(), 2u);
  EXPECT_FALSE(full.metadata.contains("weights_only"));
  EXPECT_TRUE(full.metadata.contains("loops"));
  // A weights-only save over a full one replaces it whole (written atomically).
  trainer.save_checkpoint(dir + "/full.ckpt", true);
  EXPECT_EQ(read_checkpoint(dir + "/full.ckpt").metadata.at("weights_only"), "true");
}

namespace {
// A module whose on_save_checkpoint fails when asked to.
struct FailingSave : Regressor {
  bool fail_now = false;
  void on_save_checkpoint(Checkpoint&) override {
    if (fail_now) throw std::runtime_error("disk full (simulated)");
  }
};
std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(ModelCheckpointOptions, AFailedSaveLeavesTheExistingFileAsItWas) {
  const std::string dir = temp_dir("mc_failed_save");
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 4});
  FailingSave model;
  Trainer trainer(quiet({.max_epochs = 1, .enable_checkpointing = false, .default_root_dir = dir}));
  trainer.fit(model, loader);
  const std::string path = dir + "/model.ckpt";
  trainer.save_checkpoint(path);
  const std::string saved = bytes_of(path);
  model.fail_now = true;
  for (const bool weights_only : {false, true})
    EXPECT_THROW(trainer.save_checkpoint(path, weights_only), std::runtime_error);
  EXPECT_EQ(bytes_of(path), saved);
  EXPECT_EQ(files_in(dir).count("model.ckpt"), 1u);
}

TEST(ModelCheckpointOptions, SaveLastLinkIsASymlinkToTheNewestCheckpoint) {
  const std::string dir = temp_dir("mc_link");
  Scripted model({5, 3, 4, 1, 2});
  auto ckpt = ModelCheckpoint::make(
      {.dirpath = dir, .filename = "{epoch}", .monitor = "val_loss", .save_last = "link"});
  fit_scripted(model, ckpt, 5, dir);
  // Top-1 by val_loss is epoch 3, the newest file saved; epoch 4 saved none.
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"epoch=3.ckpt", "last.ckpt"}));
  ASSERT_TRUE(fs::is_symlink(dir + "/last.ckpt"));
  EXPECT_EQ(fs::read_symlink(dir + "/last.ckpt"), fs::path("epoch=3.ckpt"));  // relative
  EXPECT_EQ(ckpt->last_model_path(), dir + "/last.ckpt");
  EXPECT_EQ(read_checkpoint(dir + "/last.ckpt").metadata.at("epoch"), "3");

  // save_last=true writes a file; with save_top_k=0 "link" has nothing to link to.
  for (const SaveLast mode : {SaveLast(true), SaveLast("link")}) {
    const std::string d = temp_dir("mc_last_file");
    Scripted m({5, 3});
    auto c = ModelCheckpoint::make({.dirpath = d, .save_top_k = 0, .save_last = mode});
    fit_scripted(m, c, 2, d);
    EXPECT_EQ(files_in(d), (std::set<std::string>{"last.ckpt"}));
    EXPECT_FALSE(fs::is_symlink(d + "/last.ckpt"));
    EXPECT_EQ(read_checkpoint(d + "/last.ckpt").metadata.at("global_step"), "8");
  }
}
