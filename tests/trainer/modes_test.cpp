// Modes of submodules (Lightning 2.2+): fit does not call train(), the evaluation loops
// record every submodule's train/eval mode and put it back, and the *_model_eval/train hooks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "tests/trainer/test_models.h"

namespace {

using namespace trainer_test;

// A pre-trained encoder as a user injects it: it has its own Dropout.
struct Encoder : nn::Module {
  std::shared_ptr<nn::Linear> linear;
  std::shared_ptr<nn::Dropout> dropout;
  Encoder() {
    linear = register_module("linear", nn::Linear::make(4, 8));
    dropout = register_module("dropout", nn::Dropout::make(0.5));
  }
  Tensor forward(const Tensor& x) { return dropout->forward(linear->forward(x)); }
};

using Modes = std::map<std::string, bool>;
Modes modes_of(nn::Module& m) {
  Modes out;
  for (const auto& [name, mod] : m.named_modules()) out[name] = mod->is_training();
  return out;
}

// The module of the seed: an injected encoder and a head that trains.
struct Model : LightningModule {
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<nn::Dropout> dropout;
  std::shared_ptr<nn::Linear> head;
  std::vector<Modes> train_modes, eval_modes;  // seen by training_step / validation_step
  std::vector<bool> encoder_deterministic;     // two encoder passes in training_step agree
  explicit Model(std::shared_ptr<Encoder> enc) {
    encoder = register_module("encoder", std::move(enc));
    dropout = register_module("dropout", nn::Dropout::make(0.5));
    head = register_module("head", nn::Linear::make(8, 1));
  }
  Tensor forward(const Tensor& x) { return head->forward(dropout->forward(encoder->forward(x))); }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    train_modes.push_back(modes_of(*this));
    encoder_deterministic.push_back(equal(encoder->forward(x), encoder->forward(x)));
    return nn::F::mse_loss(forward(x), y);
  }
  void validation_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    eval_modes.push_back(modes_of(*this));
    log("val_loss", nn::F::mse_loss(forward(x), y));
  }
  void test_step(const Batch& batch, int64_t) override {
    eval_modes.push_back(modes_of(*this));
    auto [x, y] = batch.unpack<2>();
    log("test_loss", nn::F::mse_loss(forward(x), y));
  }
  Tensor predict_step(const Batch& batch, int64_t) override {
    eval_modes.push_back(modes_of(*this));
    return forward(batch[0]);
  }
  OptimizerConfig configure_optimizers() override {
    return optim::SGD::make(head->parameters(), {.lr = 0.01});
  }
};

std::shared_ptr<Encoder> frozen_encoder() {
  auto enc = std::make_shared<Encoder>();
  enc->eval();
  enc->requires_grad_(false);
  return enc;
}

const Modes kFrozen = {
    {"", true},        {"encoder", false}, {"encoder.linear", false}, {"encoder.dropout", false},
    {"dropout", true}, {"head", true}};

TEST(Modes, FrozenEncoderStaysInEvalThroughFitAndValidation) {
  auto data = regression_data(32);
  DataLoader train(data, {.batch_size = 8});  // 4 batches
  DataLoader val(data, {.batch_size = 16});
  Model model(frozen_encoder());
  Trainer trainer(quiet({.max_epochs = 2,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("modes_fit"),
                         .logger = false}));
  testing::internal::CaptureStderr();
  trainer.fit(model, train, val);
  const std::string err = testing::internal::GetCapturedStderr();
  // Lightning's warning at the start of training: encoder, its linear and its dropout.
  EXPECT_THAT(err, ::testing::HasSubstr("Found 3 module(s) in eval mode at the start of training"));

  ASSERT_EQ(model.train_modes.size(), 8u);
  // Batches 4..7 follow the validation of epoch 0 (and all follow the sanity check).
  for (size_t i = 0; i < model.train_modes.size(); ++i) {
    EXPECT_EQ(model.train_modes[i], kFrozen) << "training_step " << i;
    EXPECT_TRUE(model.encoder_deterministic[i]) << "the encoder's dropout ran at step " << i;
  }
  // Sanity check + two validations, each of 2 batches: everything in eval.
  ASSERT_EQ(model.eval_modes.size(), 6u);
  for (const auto& m : model.eval_modes)
    for (const auto& [name, training] : m) EXPECT_FALSE(training) << name;
  EXPECT_EQ(modes_of(model), kFrozen);  // after fit
}

TEST(Modes, FitKeepsAModelTheUserPutInEval) {
  // Lightning 2.2+ does not call train() at the start of fit: a model in eval() trains so.
  auto data = regression_data(16);
  DataLoader train(data, {.batch_size = 8});
  Model model(std::make_shared<Encoder>());
  model.eval();
  Trainer trainer(quiet({.max_epochs = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("modes_eval_fit"),
                         .logger = false}));
  testing::internal::CaptureStderr();
  trainer.fit(model, train);
  EXPECT_THAT(testing::internal::GetCapturedStderr(),
              ::testing::HasSubstr("Found 5 module(s) in eval mode"));
  ASSERT_EQ(model.train_modes.size(), 2u);
  for (const auto& [name, training] : model.train_modes[0]) EXPECT_FALSE(training) << name;
}

TEST(Modes, ValidateTestPredictRestoreEverySubmodule) {
  auto data = regression_data(16);
  DataLoader loader(data, {.batch_size = 8});
  Model model(frozen_encoder());
  // A mode no single flag can describe: a training module under an eval one.
  model.encoder->linear->train();
  Modes before = modes_of(model);
  before["encoder.linear"] = true;
  ASSERT_EQ(before, modes_of(model));
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .default_root_dir = temp_dir("modes_eval"),
                         .logger = false}));
  trainer.validate(model, loader);
  EXPECT_EQ(modes_of(model), before) << "after validate";
  trainer.test(model, loader);
  EXPECT_EQ(modes_of(model), before) << "after test";
  trainer.predict(model, loader);
  EXPECT_EQ(modes_of(model), before) << "after predict";
  ASSERT_EQ(model.eval_modes.size(), 6u);
  for (const auto& m : model.eval_modes)
    for (const auto& [name, training] : m) EXPECT_FALSE(training) << name;
}

// Monte Carlo dropout through the hooks: the head's dropout stays on in evaluation, and the
// overridden *_model_train hooks leave the model as evaluation left it.
struct HookModel : Model {
  std::vector<std::string>* log;
  HookModel(std::vector<std::string>* l) : Model(std::make_shared<Encoder>()), log(l) {}
  void on_validation_model_eval() override {
    log->push_back("on_validation_model_eval");
    eval();
    dropout->train();
  }
  void on_validation_model_train() override { log->push_back("on_validation_model_train"); }
  void on_test_model_eval() override {
    log->push_back("on_test_model_eval");
    LightningModule::on_test_model_eval();
  }
  void on_test_model_train() override {
    log->push_back("on_test_model_train");
    LightningModule::on_test_model_train();  // the default restores
  }
  void on_predict_model_eval() override {
    log->push_back("on_predict_model_eval");
    LightningModule::on_predict_model_eval();
  }
  void on_validation_start() override { log->push_back("on_validation_start"); }
  void on_validation_end() override { log->push_back("on_validation_end"); }
  void on_test_start() override { log->push_back("on_test_start"); }
  void on_test_end() override { log->push_back("on_test_end"); }
  void on_predict_start() override { log->push_back("on_predict_start"); }
  void on_predict_end() override { log->push_back("on_predict_end"); }
};

TEST(Modes, ModelEvalAndTrainHooksCanBeOverridden) {
  auto data = regression_data(8);
  DataLoader loader(data, {.batch_size = 8});
  std::vector<std::string> log;
  HookModel model(&log);
  Trainer trainer(quiet({.enable_checkpointing = false,
                         .default_root_dir = temp_dir("modes_hooks"),
                         .logger = false}));
  trainer.validate(model, loader);
  EXPECT_THAT(log, ::testing::ElementsAre("on_validation_model_eval", "on_validation_start",
                                          "on_validation_end", "on_validation_model_train"));
  ASSERT_EQ(model.eval_modes.size(), 1u);
  EXPECT_TRUE(model.eval_modes[0].at("dropout"));  // the override kept it on
  EXPECT_FALSE(model.eval_modes[0].at("head"));
  // The override replaced the restore: the model stays as evaluation left it.
  EXPECT_FALSE(model.is_training());
  EXPECT_TRUE(model.dropout->is_training());

  model.train();
  log.clear();
  trainer.test(model, loader);
  EXPECT_THAT(log, ::testing::ElementsAre("on_test_model_eval", "on_test_start", "on_test_end",
                                          "on_test_model_train"));
  for (const auto& [name, training] : modes_of(model)) EXPECT_TRUE(training) << name;

  log.clear();
  trainer.predict(model, loader);
  EXPECT_THAT(
      log, ::testing::ElementsAre("on_predict_model_eval", "on_predict_start", "on_predict_end"));
  for (const auto& [name, training] : modes_of(model)) EXPECT_TRUE(training) << name;
}

TEST(Modes, ModuleModeRestoresSharedModules) {
  // a -> {b, c}, c -> b (shared): restoring b before c would let c.train() overwrite b.
  struct Node : nn::Module {};
  auto a = std::make_shared<Node>();
  auto b = std::make_shared<Node>();
  auto c = std::make_shared<Node>();
  a->register_module("b", b);
  a->register_module("c", c);
  c->register_module("b", b);
  b->eval();
  ModuleMode mode;
  mode.capture(*a);
  a->eval();
  mode.restore(*a);
  EXPECT_TRUE(a->is_training());
  EXPECT_TRUE(c->is_training());
  EXPECT_FALSE(b->is_training());
  // A module added since the capture keeps its mode.
  auto d = std::make_shared<Node>();
  d->eval();
  c->register_module("d", d);
  a->eval();
  mode.restore(*a);
  EXPECT_TRUE(c->is_training());
  EXPECT_FALSE(d->is_training());
}

}  // namespace
