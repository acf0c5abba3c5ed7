// Several validation and test loaders: the hooks' dataloader_idx, Lightning's
// "/dataloader_idx_i" suffix, one returned metric map per loader, per-loader limits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_models.h"

using namespace trainer_test;

namespace {

using Log = std::vector<std::string>;

// The mean squared error of `model` over a whole dataset, in f64.
double reference_mse(Regressor& model, const TensorDataset& data) {
  std::vector<int64_t> all(static_cast<size_t>(data.size()));
  for (int64_t i = 0; i < data.size(); ++i) all[static_cast<size_t>(i)] = i;
  const Batch b = data.get_batch(all);
  NoGradGuard no_grad;
  Tensor x = b[0].to(DType::f64), y = b[1].to(DType::f64);
  Tensor w = model.linear->weight.to(DType::f64), bias = model.linear->bias.to(DType::f64);
  Tensor err = x.matmul(w.t()) + bias - y;
  return (err * err).mean().item<double>();
}

// Logs val_loss per loader (through the three-index step), one name unsuffixed, and an
// epoch-level metric; records every call with its indices.
struct TwoLoaderModel : Regressor {
  Log* calls;
  explicit TwoLoaderModel(Log* l) : calls(l) {}
  // Regressor overrides the two-index form; a class that adds the other form brings the
  // inherited one into scope, as C++ asks for any overload set.
  using Regressor::validation_step;
  void validation_step(const Batch& batch, int64_t batch_idx, int64_t dataloader_idx) override {
    calls->push_back("validation_step:" + std::to_string(batch_idx) + ":" +
                     std::to_string(dataloader_idx));
    EXPECT_EQ(trainer().dataloader_idx(), dataloader_idx);
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(forward(x), y);
    log("val_loss", loss);
    log("shared", static_cast<double>(dataloader_idx), {.add_dataloader_idx = false});
  }
  void on_validation_batch_start(const Batch&, int64_t batch_idx, int64_t dl) override {
    calls->push_back("on_validation_batch_start:" + std::to_string(batch_idx) + ":" +
                     std::to_string(dl));
  }
  void on_validation_epoch_end() override {
    calls->push_back("on_validation_epoch_end");
    log("epoch_level", 7.0);
  }
};

// A callback that overrides only the old two-index batch hook still sees every batch.
struct CountingCallback : Callback {
  int64_t val_batches = 0, test_batches = 0;
  std::vector<int64_t> dataloader_idx;
  void on_validation_batch_end(Trainer& t, LightningModule&, const Batch&, int64_t) override {
    ++val_batches;
    dataloader_idx.push_back(t.dataloader_idx());
  }
  void on_test_batch_end(Trainer&, LightningModule&, const Batch&, int64_t, int64_t dl) override {
    ++test_batches;
    dataloader_idx.push_back(dl);
  }
};

}  // namespace

TEST(MultiLoader, ValidateRunsEachLoaderAndReturnsOneMapPerLoader) {
  auto a = regression_data(8, 1), b = regression_data(6, 2);
  DataLoader la(a, {.batch_size = 4}), lb(b, {.batch_size = 2});
  Log log;
  TwoLoaderModel model(&log);
  auto counter = std::make_shared<CountingCallback>();
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .default_root_dir = temp_dir("multi_validate"),
                         .callbacks = {counter},
                         .logger = false}));
  const std::vector<MetricMap> out = trainer.validate(model, {la, lb});
  ASSERT_EQ(out.size(), 2u);
  // Loader 0's two batches, then loader 1's three, batch_idx restarting at 0.
  EXPECT_THAT(log, ::testing::ElementsAre("on_validation_batch_start:0:0", "validation_step:0:0",
                                          "on_validation_batch_start:1:0", "validation_step:1:0",
                                          "on_validation_batch_start:0:1", "validation_step:0:1",
                                          "on_validation_batch_start:1:1", "validation_step:1:1",
                                          "on_validation_batch_start:2:1", "validation_step:2:1",
                                          "on_validation_epoch_end"));
  EXPECT_EQ(counter->val_batches, 5);
  EXPECT_EQ(counter->dataloader_idx, (std::vector<int64_t>{0, 0, 1, 1, 1}));

  // Map i: loader i's suffixed names, and the unsuffixed ones (in every map).
  EXPECT_NEAR(out[0].at("val_loss/dataloader_idx_0"), reference_mse(model, *a), 1e-5);
  EXPECT_NEAR(out[1].at("val_loss/dataloader_idx_1"), reference_mse(model, *b), 1e-5);
  EXPECT_FALSE(out[0].count("val_loss/dataloader_idx_1"));
  EXPECT_FALSE(out[1].count("val_loss/dataloader_idx_0"));
  EXPECT_FALSE(out[0].count("val_loss"));
  for (const MetricMap& m : out) {
    EXPECT_EQ(m.at("epoch_level"), 7.0);  // epoch-end hooks: no suffix
    // add_dataloader_idx=false: one name over both loaders, weighted by batch size
    // (8 samples of loader 0 logged 0, 6 of loader 1 logged 1).
    EXPECT_NEAR(m.at("shared"), 6.0 / 14.0, 1e-6);
    EXPECT_FALSE(m.count("shared/dataloader_idx_0"));
  }
  EXPECT_TRUE(trainer.callback_metrics().count("val_loss/dataloader_idx_1"));
}

TEST(MultiLoader, OneLoaderKeepsNamesAndTwoArgumentModulesGetSuffixes) {
  auto a = regression_data(8, 1), b = regression_data(6, 2);
  DataLoader la(a, {.batch_size = 4}), lb(b, {.batch_size = 3});
  Regressor model;  // overrides the two-index validation_step/test_step only
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .default_root_dir = temp_dir("multi_single"),
                         .logger = false}));
  const auto one = trainer.validate(model, la);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NEAR(one[0].at("val_loss"), reference_mse(model, *a), 1e-5);
  EXPECT_FALSE(one[0].count("val_loss/dataloader_idx_0"));

  auto counter = std::make_shared<CountingCallback>();
  Trainer t2(quiet({.limit_test_batches = 1,
                    .enable_checkpointing = false,
                    .default_root_dir = temp_dir("multi_test"),
                    .callbacks = {counter},
                    .logger = false}));
  const auto two = t2.test(model, {la, lb});
  ASSERT_EQ(two.size(), 2u);
  // limit_test_batches=1 applies to each loader: rows 0..3 of a, 0..2 of b.
  EXPECT_EQ(counter->test_batches, 2);
  EXPECT_EQ(counter->dataloader_idx, (std::vector<int64_t>{0, 1}));
  EXPECT_NEAR(two[0].at("test_loss/dataloader_idx_0"),
              reference_mse(model, TensorDataset(a->get_batch({0, 1, 2, 3}).tensors())), 1e-5);
  EXPECT_NEAR(two[1].at("test_loss/dataloader_idx_1"),
              reference_mse(model, TensorDataset(b->get_batch({0, 1, 2}).tensors())), 1e-5);
}

TEST(MultiLoader, FitValidatesEveryLoaderAndSanityChecksEach) {
  auto train = regression_data(16, 3), a = regression_data(8, 1), b = regression_data(12, 2);
  DataLoader lt(train, {.batch_size = 4}), la(a, {.batch_size = 2}), lb(b, {.batch_size = 2});
  Log log;
  TwoLoaderModel model(&log);
  Trainer trainer(quiet({.max_epochs = 1,
                         .num_sanity_val_steps = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("multi_fit"),
                         .logger = false}));
  trainer.fit(model, lt, {la, lb});
  // Sanity check: one batch of each loader; then the whole of both (4 + 6 batches).
  const auto steps = std::count_if(log.begin(), log.end(), [](const std::string& s) {
    return s.starts_with("validation_step");
  });
  EXPECT_EQ(steps, 2 + 4 + 6);
  EXPECT_EQ(log[1], "validation_step:0:0");
  EXPECT_EQ(log[3], "validation_step:0:1");
  const MetricMap& m = trainer.callback_metrics();
  EXPECT_NEAR(m.at("val_loss/dataloader_idx_0"), reference_mse(model, *a), 1e-5);
  EXPECT_NEAR(m.at("val_loss/dataloader_idx_1"), reference_mse(model, *b), 1e-5);
}

TEST(MultiLoader, ListErrors) {
  std::shared_ptr<DataLoader> none;
  EXPECT_THROW(LoaderList({none}), ValueError);
  auto a = std::make_shared<DataLoader>(regression_data(4));
  LoaderList list{a, a};
  EXPECT_EQ(list.size(), 2u);
}
