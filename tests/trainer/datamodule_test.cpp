// LightningDataModule: the order of its hooks against the module's and the callbacks'
// (Lightning's _call_setup_hook / _call_teardown_hook), its loaders in every entry point,
// its state and hyperparameters in checkpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_models.h"

using namespace trainer_test;

namespace {

using Log = std::vector<std::string>;

struct RecordingDataModule : LightningDataModule {
  Log* log;
  int64_t val_loaders = 1;
  std::string state = "seen=0";
  std::string loaded;
  explicit RecordingDataModule(Log* l) : log(l) {}
  void prepare_data() override { log->push_back("dm:prepare_data"); }
  void setup(const std::string& s) override { log->push_back("dm:setup:" + s); }
  void teardown(const std::string& s) override { log->push_back("dm:teardown:" + s); }
  std::shared_ptr<DataLoader> train_dataloader() override {
    log->push_back("dm:train_dataloader");
    return std::make_shared<DataLoader>(regression_data(16, 3), DataLoaderOptions{.batch_size = 4});
  }
  LoaderList val_dataloader() override {
    log->push_back("dm:val_dataloader");
    std::vector<std::shared_ptr<DataLoader>> out;
    for (int64_t i = 0; i < val_loaders; ++i)
      out.push_back(std::make_shared<DataLoader>(regression_data(8, static_cast<uint64_t>(i + 1)),
                                                 DataLoaderOptions{.batch_size = 4}));
    return out;
  }
  LoaderList test_dataloader() override {
    log->push_back("dm:test_dataloader");
    return std::make_shared<DataLoader>(regression_data(6, 5), DataLoaderOptions{.batch_size = 3});
  }
  LoaderList predict_dataloader() override {
    log->push_back("dm:predict_dataloader");
    return std::make_shared<DataLoader>(regression_data(10, 6), DataLoaderOptions{.batch_size = 4});
  }
  std::string state_dict() const override { return state; }
  void load_state_dict(const std::string& s) override { loaded = s; }
};

struct RecordingModel : Regressor {
  Log* log;
  explicit RecordingModel(Log* l) : log(l) {}
  void setup(const std::string& s) override { log->push_back("module:setup:" + s); }
  void teardown(const std::string& s) override { log->push_back("module:teardown:" + s); }
  void on_fit_start() override { log->push_back("module:on_fit_start"); }
  void on_fit_end() override { log->push_back("module:on_fit_end"); }
  void on_train_start() override { log->push_back("module:on_train_start"); }
  void on_validation_start() override { log->push_back("module:on_validation_start"); }
  void on_test_start() override { log->push_back("module:on_test_start"); }
  void on_predict_start() override { log->push_back("module:on_predict_start"); }
  OptimizerConfig configure_optimizers() override {
    log->push_back("module:configure_optimizers");
    return Regressor::configure_optimizers();
  }
};

struct SetupCallback : Callback {
  Log* log;
  explicit SetupCallback(Log* l) : log(l) {}
  void setup(Trainer&, LightningModule&, const std::string& s) override {
    log->push_back("cb:setup:" + s);
  }
  void teardown(Trainer&, LightningModule&, const std::string& s) override {
    log->push_back("cb:teardown:" + s);
  }
};

TrainerOptions options(const std::string& dir, Log* log, TrainerOptions o = {}) {
  o.default_root_dir = temp_dir(dir);
  o.enable_checkpointing = false;
  o.logger = false;
  o.callbacks = {std::make_shared<SetupCallback>(log)};
  return quiet(o);
}

}  // namespace

TEST(DataModule, FitCallsItsHooksInLightningsOrder) {
  Log log;
  RecordingDataModule dm(&log);
  RecordingModel model(&log);
  Trainer trainer(options("dm_fit", &log, {.max_epochs = 1, .num_sanity_val_steps = 1}));
  trainer.fit(model, dm);
  EXPECT_THAT(log, ::testing::ElementsAre(
                       "dm:prepare_data", "dm:setup:fit", "cb:setup:fit", "module:setup:fit",
                       "module:configure_optimizers", "module:on_fit_start", "dm:val_dataloader",
                       "dm:train_dataloader", "module:on_validation_start",  // sanity check
                       "module:on_train_start", "module:on_validation_start", "module:on_fit_end",
                       "dm:teardown:fit", "cb:teardown:fit", "module:teardown:fit"));
  EXPECT_EQ(trainer.global_step(), 4);  // the DataModule's 16 samples in batches of 4
  EXPECT_TRUE(trainer.callback_metrics().count("val_loss"));
  EXPECT_EQ(trainer.datamodule(), nullptr);  // only during the run
}

TEST(DataModule, ValidateTestPredictAskForTheirLoaders) {
  Log log;
  RecordingDataModule dm(&log);
  dm.val_loaders = 2;
  RecordingModel model(&log);
  Trainer trainer(options("dm_eval", &log));
  const auto v = trainer.validate(model, dm);
  EXPECT_THAT(log, ::testing::ElementsAre(
                       "dm:prepare_data", "dm:setup:validate", "cb:setup:validate",
                       "module:setup:validate", "dm:val_dataloader", "module:on_validation_start",
                       "dm:teardown:validate", "cb:teardown:validate", "module:teardown:validate"));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_TRUE(v[1].count("val_loss/dataloader_idx_1"));
  log.clear();
  const auto t = trainer.test(model, dm);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_TRUE(t[0].count("test_loss"));
  EXPECT_THAT(log, ::testing::Contains("dm:test_dataloader"));
  EXPECT_THAT(log, ::testing::Contains("dm:setup:test"));
  log.clear();
  const auto p = trainer.predict(model, dm);
  EXPECT_EQ(p.size(), 3u);  // 10 samples in batches of 4
  EXPECT_THAT(log, ::testing::ElementsAre("dm:prepare_data", "dm:setup:predict", "cb:setup:predict",
                                          "module:setup:predict", "dm:predict_dataloader",
                                          "module:on_predict_start", "dm:teardown:predict",
                                          "cb:teardown:predict", "module:teardown:predict"));
}

TEST(DataModule, MissingLoadersAreErrors) {
  struct Empty : LightningDataModule {};
  Empty dm;
  Regressor model;
  Trainer trainer(quiet({.max_epochs = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("dm_empty"),
                         .logger = false}));
  EXPECT_THROW(trainer.fit(model, dm), ValueError);  // train_dataloader not implemented
  EXPECT_THROW(trainer.validate(model, dm), ValueError);
  EXPECT_THROW(trainer.test(model, dm), ValueError);
  EXPECT_THROW(trainer.predict(model, dm), ValueError);
  try {
    trainer.fit(model, dm);
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("train_dataloader"), std::string::npos) << e.what();
  }
}

TEST(DataModule, StateAndHyperparametersTravelInCheckpoints) {
  Log log;
  RecordingDataModule dm(&log);
  dm.state = "seen=16";
  dm.save_hyperparameters({{"batch_size", 4}, {"lr", 0.05}});  // lr agrees with the module's
  RecordingModel model(&log);
  const std::string dir = temp_dir("dm_ckpt");
  Trainer trainer(quiet({.max_epochs = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = dir,
                         .logger = CSVLogger::make(dir)}));
  trainer.fit(model, dm);
  // The logger got the module's and the DataModule's hyperparameters, merged.
  std::ifstream yaml(trainer.log_dir() + "/hparams.yaml");
  std::stringstream text;
  text << yaml.rdbuf();
  EXPECT_NE(text.str().find("batch_size: 4"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("optimizer: \"sgd\""), std::string::npos) << text.str();

  // A checkpoint saved with the DataModule attached holds both; resuming hands the state
  // back to load_state_dict before training resumes.
  struct SaveAtEnd : Callback {
    std::string path;
    void on_train_end(Trainer& t, LightningModule&) override { t.save_checkpoint(path); }
  };
  auto saver = std::make_shared<SaveAtEnd>();
  saver->path = dir + "/dm.ckpt";
  Trainer t2(quiet({.max_epochs = 1,
                    .enable_checkpointing = false,
                    .default_root_dir = dir,
                    .callbacks = {saver},
                    .logger = false}));
  t2.fit(model, dm);
  const Checkpoint ckpt = read_checkpoint(saver->path);
  EXPECT_EQ(ckpt.metadata.at("datamodule"), "seen=16");
  EXPECT_EQ(hparams_from_json(ckpt.metadata.at("datamodule_hyper_parameters")),
            (HParams{{"batch_size", 4}, {"lr", 0.05}}));

  RecordingDataModule again(&log);
  RecordingModel model2(&log);
  Trainer t3(quiet(
      {.max_epochs = 2, .enable_checkpointing = false, .default_root_dir = dir, .logger = false}));
  t3.fit(model2, again, saver->path);
  EXPECT_EQ(again.loaded, "seen=16");
  EXPECT_EQ(t3.global_step(), 8);  // resumed after epoch 0's four steps
  RecordingDataModule for_test(&log);
  t3.test(model2, for_test, saver->path);
  EXPECT_EQ(for_test.loaded, "seen=16");

  // Hyperparameters the two disagree on are an error, as in Lightning.
  RecordingDataModule clash(&log);
  clash.save_hyperparameters({{"lr", 0.5}});
  Trainer t4(quiet(
      {.max_epochs = 1, .enable_checkpointing = false, .default_root_dir = dir, .logger = false}));
  EXPECT_THROW(t4.fit(model, clash), ValueError);
}
