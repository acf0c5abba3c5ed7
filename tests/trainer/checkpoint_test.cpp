// Checkpoints: what a file holds, exact resume (mid-epoch and at an epoch boundary, with
// shuffling, dropout, Adam and a scheduler), "last", and bad files failing cleanly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "captioning/model.h"
#include "test_models.h"

using namespace trainer_test;
namespace fs = std::filesystem;

namespace {

RegressionOptions resumable() {
  return {.lr = 0.01, .optimizer = "adam", .scheduler = "epoch", .dropout = 0.2};
}

struct FitResult {
  std::vector<double> losses;
  nn::StateDict weights;
  std::string ckpt_dir;
  MetricMap metrics;
};

// Fits 3 epochs of 8 batches, saving every 3 steps (mid-epoch) and at each epoch end.
FitResult fit(const std::string& root, uint64_t init_seed, const std::string& ckpt_path = "") {
  manual_seed(init_seed);
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8, .shuffle = true, .seed = 3});
  DataLoader val(data, {.batch_size = 32});
  Regressor model(resumable());
  auto steps = ModelCheckpoint::make(
      {.dirpath = root + "/steps", .save_top_k = -1, .every_n_train_steps = 3});
  auto epochs =
      ModelCheckpoint::make({.dirpath = root + "/epochs", .filename = "{epoch}", .save_top_k = -1});
  Trainer trainer(quiet({.max_epochs = 3,
                         .log_every_n_steps = 1,
                         .default_root_dir = root,
                         .callbacks = {steps, epochs}}));
  trainer.fit(model, train, val, ckpt_path);
  FitResult r;
  r.losses = model.losses;
  r.weights = model.state_dict();
  r.metrics = trainer.callback_metrics();
  return r;
}

void expect_same_weights(const nn::StateDict& a, const nn::StateDict& b) {
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [k, v] : a) EXPECT_TRUE(equal(v, b.at(k))) << k;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST(Checkpoint, HoldsWeightsOptimizerSchedulerAndMetadata) {
  const std::string root = temp_dir("ckpt_contents");
  fit(root, 1);
  const Checkpoint c = read_checkpoint(root + "/epochs/epoch=1.ckpt");
  EXPECT_TRUE(c.tensors.contains("linear.weight"));
  EXPECT_TRUE(c.tensors.contains("linear.bias"));
  EXPECT_TRUE(c.tensors.contains("optimizer_states.0.state.0.exp_avg"));
  EXPECT_TRUE(c.tensors.contains("lr_schedulers.0.last_epoch"));
  EXPECT_EQ(c.metadata.at("ember_checkpoint"), "1");
  EXPECT_EQ(c.metadata.at("ember_version"), ember_version());
  EXPECT_EQ(c.metadata.at("epoch"), "1");
  EXPECT_EQ(c.metadata.at("global_step"), "16");
  EXPECT_THAT(c.metadata.at("callbacks"), ::testing::HasSubstr("ModelCheckpoint"));
  const HParams h = checkpoint_hparams(c);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].first, "lr");
  EXPECT_EQ(h[1].second.as_string(), "adam");
  // The model's keys load straight into the model (as PyTorch's load_state_dict would).
  Regressor other(resumable());
  nn::StateDict model_part;
  for (const auto& [k, v] : c.tensors)
    if (is_model_key(k)) model_part.insert(k, v);
  EXPECT_TRUE(other.load_state_dict(model_part, true).ok());
}

TEST(Checkpoint, ResumeMidEpochIsBitIdentical) {
  const std::string root = temp_dir("resume_mid");
  const FitResult full = fit(root + "/full", 1);
  ASSERT_EQ(full.losses.size(), 24u);
  // Step 9 is batch 1 of epoch 1 (mid-epoch); step 15 is the last but one of epoch 1.
  for (int step : {9, 15}) {
    const std::string ckpt = root + "/full/steps/epoch=1-step=" + std::to_string(step) + ".ckpt";
    ASSERT_TRUE(fs::exists(ckpt)) << ckpt;
    const FitResult resumed = fit(root + "/resumed" + std::to_string(step), 99,
                                  ckpt);  // other init: weights must come from the file
    ASSERT_EQ(resumed.losses.size(), 24u - static_cast<size_t>(step));
    for (size_t i = 0; i < resumed.losses.size(); ++i)
      EXPECT_EQ(resumed.losses[i], full.losses[static_cast<size_t>(step) + i])
          << "step " << step << " + " << i;
    expect_same_weights(resumed.weights, full.weights);
    EXPECT_EQ(resumed.metrics.at("val_loss"), full.metrics.at("val_loss"));
  }
}

TEST(Checkpoint, ResumeAtAnEpochBoundaryIsBitIdentical) {
  const std::string root = temp_dir("resume_epoch");
  const FitResult full = fit(root + "/full", 1);
  // Saved at the end of epoch 0's training epoch (after its validation and hooks).
  const FitResult resumed = fit(root + "/resumed", 42, root + "/full/epochs/epoch=0.ckpt");
  ASSERT_EQ(resumed.losses.size(), 16u);
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(resumed.losses[i], full.losses[8 + i]) << i;
  expect_same_weights(resumed.weights, full.weights);
  EXPECT_EQ(resumed.metrics.at("val_loss"), full.metrics.at("val_loss"));
}

TEST(Checkpoint, MaxStepsThenResumeContinuesTheEpoch) {
  const std::string root = temp_dir("resume_max_steps");
  const FitResult full = fit(root + "/full", 1);
  // Stop at step 12 (mid-epoch 1) with last.ckpt; resuming "last" finishes the same run.
  manual_seed(1);
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8, .shuffle = true, .seed = 3});
  DataLoader val(data, {.batch_size = 32});
  Regressor model(resumable());
  // last.ckpt goes where the resuming trainer's first ModelCheckpoint saves: "last" looks in
  // that trainer's checkpoint folders only (Lightning's rule).
  Trainer first(quiet({.max_steps = 12,
                       .default_root_dir = root + "/split",
                       .callbacks = {ModelCheckpoint::make(
                           {.dirpath = root + "/split/steps", .save_last = true})}}));
  first.fit(model, train, val);
  EXPECT_EQ(first.global_step(), 12);
  EXPECT_EQ(first.current_epoch(), 1);
  const FitResult rest = fit(root + "/split", 5, "last");
  ASSERT_EQ(rest.losses.size(), 12u);
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(rest.losses[i], full.losses[12 + i]) << i;
  expect_same_weights(rest.weights, full.weights);
}

TEST(Checkpoint, BadFilesFailClearlyAndLeaveFilesIntact) {
  const std::string root = temp_dir("bad_ckpt");
  fit(root + "/good", 1);
  const std::string good = root + "/good/epochs/epoch=2.ckpt";
  const std::string bytes = read_all(good);
  auto write = [](const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  };
  write(root + "/truncated.ckpt", bytes.substr(0, bytes.size() / 2));
  write(root + "/garbage.ckpt", "this is not a checkpoint at all");
  Regressor plain;
  nn::save(plain, root + "/weights_only.safetensors");

  // Everything under root, byte for byte, before the failed fits.
  auto snapshot = [&] {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.is_regular_file()) files[e.path().string()] = read_all(e.path().string());
    return files;
  };
  const auto before = snapshot();
  for (const char* bad :
       {"truncated.ckpt", "garbage.ckpt", "weights_only.safetensors", "missing.ckpt"}) {
    auto data = regression_data(64);
    DataLoader train(data, {.batch_size = 8});
    Regressor model(resumable());
    Trainer trainer(quiet({.max_epochs = 1, .default_root_dir = root + "/good"}));
    try {
      trainer.fit(model, train, root + "/" + std::string(bad));
      FAIL() << bad << " was accepted";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr(bad)) << e.what();
    }
  }
  EXPECT_EQ(snapshot(), before);  // no new version folder, no file changed or removed

  // A checkpoint of another model names the keys that do not fit.
  struct Wider : Regressor {
    std::shared_ptr<nn::Linear> extra;
    Wider() { extra = register_module("extra", nn::Linear::make(4, 4)); }
  };
  Wider wider;
  auto data = regression_data(64);
  DataLoader train(data, {.batch_size = 8});
  Trainer trainer(quiet({.max_epochs = 1, .default_root_dir = root + "/wider"}));
  try {
    trainer.fit(wider, train, good);
    FAIL() << "a model with more keys was accepted";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("missing keys [extra.weight, extra.bias]"));
  }
}

TEST(Checkpoint, TheMainJobsKeysAreTheSeedModelsDottedNames) {
  auto enc = std::make_shared<seed::ImageEncoder>();
  auto dec = std::make_shared<captioning::CausalAttentionDecoder>(19);
  captioning::CaptionModule model(enc, dec, 1e-3, 0.1);
  std::vector<std::string> keys;
  for (const auto& [k, v] : model.state_dict()) keys.push_back(k);
  EXPECT_THAT(keys, ::testing::ElementsAre(
                        "image_encoder.conv.weight", "image_encoder.conv.bias",
                        "image_encoder.linear.weight", "image_encoder.linear.bias",
                        "text_decoder.embedding.weight", "text_decoder.attention.query.weight",
                        "text_decoder.attention.query.bias", "text_decoder.attention.key.weight",
                        "text_decoder.attention.key.bias", "text_decoder.attention.value.weight",
                        "text_decoder.attention.value.bias", "text_decoder.linear.weight",
                        "text_decoder.linear.bias"));
  // Exactly these, as the Trainer saves them.
  manual_seed(0);
  auto data = std::make_shared<TensorDataset>(
      std::vector<Tensor>{randn({4, 3, 32, 32}), randint(0, 19, {4, 5}), randint(0, 19, {4, 5})});
  DataLoader loader(data, {.batch_size = 2});
  const std::string root = temp_dir("main_job_keys");
  Trainer trainer(quiet({.max_steps = 1, .default_root_dir = root}));
  trainer.fit(model, loader);
  trainer.save_checkpoint(root + "/k.ckpt");
  std::vector<std::string> saved;
  for (const auto& [k, v] : read_checkpoint(root + "/k.ckpt").tensors)
    if (is_model_key(k)) saved.push_back(k);
  EXPECT_EQ(saved, keys);
}
