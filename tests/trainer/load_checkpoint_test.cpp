// LightningModule::load_from_checkpoint (strict, map_location, hyperparameters,
// on_load_checkpoint, errors) and the ckpt_path values "last" and "best".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/trainer/test_models.h"
#include "trainer/checkpoint.h"

namespace {

using namespace trainer_test;
namespace fs = std::filesystem;

// Fits a Regressor for one epoch of 4 batches and saves its checkpoint to `path`.
nn::StateDict fit_and_save(const std::string& root, const std::string& path,
                           RegressionOptions o = {.lr = 0.1}) {
  manual_seed(11);
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 8});
  Regressor model(o);
  Trainer trainer(quiet(
      {.max_epochs = 1, .enable_checkpointing = false, .default_root_dir = root, .logger = false}));
  trainer.fit(model, train);
  trainer.save_checkpoint(path);
  nn::StateDict out;
  for (const auto& [k, v] : model.state_dict()) out.insert(k, v.clone());
  return out;
}

struct LoadRecorder : Regressor {
  int loads = 0;
  bool weights_loaded_before_hook = false;
  nn::StateDict fresh;
  LoadRecorder() {
    for (const auto& [k, v] : state_dict()) fresh.insert(k, v.clone());
  }
  void on_load_checkpoint(const Checkpoint& ckpt) override {
    ++loads;
    // Lightning calls the hook before the weights are loaded.
    weights_loaded_before_hook = !equal(linear->weight, fresh.at("linear.weight"));
    EXPECT_TRUE(ckpt.tensors.contains("linear.weight"));
  }
};

TEST(LoadCheckpoint, RoundTripLoadsWeightsHparamsAndCallsTheHook) {
  const std::string root = temp_dir("load_round_trip");
  const std::string path = root + "/model.ckpt";
  const nn::StateDict trained = fit_and_save(root, path, {.lr = 0.1, .optimizer = "adam"});

  manual_seed(99);  // another initialisation
  LoadRecorder model;
  ASSERT_FALSE(equal(model.linear->weight, trained.at("linear.weight")));
  const nn::LoadResult r = model.load_from_checkpoint(path);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(model.loads, 1);
  EXPECT_FALSE(model.weights_loaded_before_hook);
  for (const auto& [k, v] : trained) EXPECT_TRUE(equal(model.state_dict().at(k), v)) << k;
  // The module saved {lr 0.05, sgd} when built: its own values win over the checkpoint's, as
  // Lightning's keyword arguments do.
  EXPECT_EQ(model.hparams(), (HParams{{"lr", 0.05}, {"optimizer", "sgd"}}));

  // The template form builds the module from its arguments, then loads.
  auto built = load_from_checkpoint<Regressor>(path, RegressionOptions{.lr = 0.1, .dropout = 0.2});
  for (const auto& [k, v] : trained) EXPECT_TRUE(equal(built->state_dict().at(k), v)) << k;
  EXPECT_EQ(built->opts.dropout, 0.2);
  EXPECT_EQ(built->hparams(), (HParams{{"lr", 0.1}, {"optimizer", "sgd"}}));
}

// A module that saves no hyperparameters gets the checkpoint's back.
struct Bare : LightningModule {
  std::shared_ptr<nn::Linear> linear;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> extra;
  explicit Bare(bool with_extra = false, int64_t out = 1) {
    linear = register_module("linear", nn::Linear::make(4, out));
    dropout = register_module("dropout", nn::Dropout::make(0.0));
    if (with_extra) extra = register_module("extra_head", nn::Linear::make(4, 2));
  }
};

TEST(LoadCheckpoint, HandsBackTheSavedHyperparameters) {
  const std::string root = temp_dir("load_hparams");
  const std::string path = root + "/model.ckpt";
  fit_and_save(root, path, {.lr = 0.25, .optimizer = "adam"});
  Bare model;
  model.load_from_checkpoint(path, {.map_location = Device::cpu()});
  EXPECT_EQ(model.hparams(), (HParams{{"lr", 0.25}, {"optimizer", "adam"}}));
  EXPECT_EQ(checkpoint_hparams(read_checkpoint(path)), model.hparams());
}

TEST(LoadCheckpoint, StrictFalseWarnsAndLoadsWhatMatches) {
  const std::string root = temp_dir("load_strict");
  const std::string path = root + "/model.ckpt";
  const nn::StateDict trained = fit_and_save(root, path);
  Bare model(/*with_extra=*/true);
  const nn::StateDict before = model.state_dict();
  // strict: an error naming the file and the missing keys; nothing changes.
  try {
    model.load_from_checkpoint(path);
    ADD_FAILURE() << "strict load of a module with extra keys did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(path));
    EXPECT_THAT(e.what(),
                ::testing::HasSubstr("missing keys [extra_head.weight, extra_head.bias]"));
  }
  EXPECT_TRUE(equal(model.linear->weight, before.at("linear.weight")));

  testing::internal::CaptureStderr();
  const nn::LoadResult r = model.load_from_checkpoint(path, {.strict = false});
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(r.missing_keys, ::testing::ElementsAre("extra_head.weight", "extra_head.bias"));
  EXPECT_TRUE(r.unexpected_keys.empty());
  EXPECT_THAT(err, ::testing::HasSubstr("Found keys that are in the model state dict but not in "
                                        "the checkpoint: [extra_head.weight, extra_head.bias]"));
  EXPECT_TRUE(equal(model.linear->weight, trained.at("linear.weight")));
  EXPECT_TRUE(equal(model.extra->weight, before.at("extra_head.weight")));

  // The other way round: keys the module does not have.
  const std::string wide = root + "/wide.ckpt";
  {
    Bare w(true);
    Trainer t(quiet({.enable_checkpointing = false, .default_root_dir = root, .logger = false}));
    DataLoader loader(regression_data(8), {.batch_size = 8});
    struct Eval : Bare {
      using Bare::Bare;
      void validation_step(const Batch&, int64_t) override {}
    } e(true);
    t.validate(e, loader);  // attaches the module, so save_checkpoint has one
    t.save_checkpoint(wide);
  }
  Bare narrow;
  testing::internal::CaptureStderr();
  const nn::LoadResult u = narrow.load_from_checkpoint(wide, {.strict = false});
  EXPECT_THAT(testing::internal::GetCapturedStderr(),
              ::testing::HasSubstr("Found keys that are not in the model state dict but in the "
                                   "checkpoint: [extra_head.weight, extra_head.bias]"));
  EXPECT_THAT(u.unexpected_keys, ::testing::ElementsAre("extra_head.weight", "extra_head.bias"));
  EXPECT_THROW(narrow.load_from_checkpoint(wide), ValueError);
}

TEST(LoadCheckpoint, ShapeMismatchAndMissingFileFail) {
  const std::string root = temp_dir("load_errors");
  const std::string path = root + "/model.ckpt";
  fit_and_save(root, path);
  Bare wrong(false, /*out=*/3);
  const Tensor w = wrong.linear->weight.clone();
  for (bool strict : {true, false}) {
    try {
      wrong.load_from_checkpoint(path, {.strict = strict});
      ADD_FAILURE() << "a shape mismatch did not throw (strict=" << strict << ")";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(path));
      EXPECT_THAT(e.what(),
                  ::testing::HasSubstr("linear.weight: module [3, 4], checkpoint [1, 4]"));
    }
  }
  EXPECT_TRUE(equal(wrong.linear->weight, w));  // untouched
  try {
    Bare().load_from_checkpoint(root + "/nope.ckpt");
    ADD_FAILURE() << "a missing file did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(root + "/nope.ckpt"));
  }
}

TEST(CkptPath, LastIgnoresAnotherRunsFolder) {
  const std::string root = temp_dir("ckpt_last_other_run");
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 8});  // 4 batches
  {
    // Another run under the same root leaves its last.ckpt, after one full epoch.
    Regressor other;
    Trainer t(quiet({.max_epochs = 1,
                     .default_root_dir = root,
                     .callbacks = {ModelCheckpoint::make(
                         {.dirpath = root + "/other/checkpoints", .save_last = true})},
                     .logger = false}));
    t.fit(other, train);
    ASSERT_TRUE(fs::exists(root + "/other/checkpoints/last.ckpt"));
  }
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .default_root_dir = root,
                         .callbacks = {ModelCheckpoint::make({.dirpath = root + "/mine"})},
                         .logger = false}));
  testing::internal::CaptureStderr();
  trainer.fit(model, train, "last");
  const std::string err = testing::internal::GetCapturedStderr();
  // Resuming the other run (already at epoch 1) would train nothing.
  EXPECT_EQ(model.losses.size(), 4u);
  EXPECT_EQ(trainer.global_step(), 4);
  EXPECT_THAT(err, ::testing::HasSubstr(".fit(ckpt_path=\"last\") is set, but there is no last "
                                        "checkpoint available. No checkpoint will be loaded."));
}

TEST(CkptPath, LastResumesFromThisTrainersFolder) {
  const std::string root = temp_dir("ckpt_last_mine");
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 8});
  auto checkpoint = [&] {
    return ModelCheckpoint::make({.dirpath = root + "/ckpts", .save_last = true});
  };
  Regressor first;
  Trainer t1(quiet(
      {.max_steps = 6, .default_root_dir = root, .callbacks = {checkpoint()}, .logger = false}));
  t1.fit(first, train);
  ASSERT_EQ(t1.global_step(), 6);
  Regressor second;
  Trainer t2(quiet(
      {.max_epochs = 2, .default_root_dir = root, .callbacks = {checkpoint()}, .logger = false}));
  t2.fit(second, train, "last");
  EXPECT_EQ(second.losses.size(), 2u);  // steps 7 and 8
  EXPECT_EQ(t2.global_step(), 8);
}

TEST(CkptPath, BestNeedsACheckpointCallbackWithABestModel) {
  const std::string root = temp_dir("ckpt_best");
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  Trainer none(quiet({.enable_checkpointing = false, .default_root_dir = root, .logger = false}));
  try {
    none.validate(model, loader, "best");
    ADD_FAILURE() << "\"best\" without a ModelCheckpoint did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(
                              ".validate(ckpt_path=\"best\")` is set but `ModelCheckpoint` is not "
                              "configured."));
  }
  Trainer unsaved(quiet({.default_root_dir = root, .logger = false}));
  try {
    unsaved.test(model, loader, "best");
    ADD_FAILURE() << "\"best\" before any save did not throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("not configured to save the best model"));
  }
  // After a fit, "best" is the callback's best_model_path, for fit too (Lightning).
  Trainer trained(quiet({.max_epochs = 1, .default_root_dir = root, .logger = false}));
  trained.fit(model, loader, loader);
  const std::string best = trained.checkpoint_callback()->best_model_path();
  ASSERT_FALSE(best.empty());
  const MetricMap v = trained.validate(model, loader, "best").at(0);
  EXPECT_TRUE(v.count("val_loss"));
  EXPECT_EQ(trained.ckpt_path(), best);
}

}  // namespace
