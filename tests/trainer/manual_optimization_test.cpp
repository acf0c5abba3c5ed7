// Manual optimization (automatic_optimization(false)): a GAN-style module with two
// optimizers steps each over its own parameters, toggle_optimizer freezes the other's,
// global_step counts optimizer steps; the option errors; and the hook order of automatic
// and manual optimization against Lightning's (tests/tests_pytorch/models/test_hooks.py).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_models.h"

using namespace trainer_test;

namespace {

std::vector<std::vector<float>> values(const std::vector<Tensor>& ps) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : ps) out.push_back(p.to_vector<float>());
  return out;
}
bool all_grads_undefined(const std::vector<Tensor>& ps) {
  for (const Tensor& p : ps)
    if (p.grad().defined()) return false;
  return true;
}
// What plain SGD (no momentum) makes of `before` with gradients `grads`.
std::vector<std::vector<float>> sgd(const std::vector<std::vector<float>>& before,
                                    const std::vector<std::vector<float>>& grads, double lr) {
  auto out = before;
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < out[i].size(); ++j)
      out[i][j] = static_cast<float>(before[i][j] - lr * grads[i][j]);
  return out;
}
std::vector<std::vector<float>> grads_of(const std::vector<Tensor>& ps) {
  std::vector<std::vector<float>> out;
  for (const Tensor& p : ps) out.push_back(p.grad().to_vector<float>());
  return out;
}
void expect_near(const std::vector<std::vector<float>>& a,
                 const std::vector<std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a[i].size(); ++j) EXPECT_NEAR(a[i][j], b[i][j], 1e-6);
}

// A generator and a discriminator over 4 features, each with its own SGD.
struct Gan : LightningModule {
  std::shared_ptr<nn::Linear> gen, disc;
  const double lr_g = 0.1, lr_d = 0.05;
  std::vector<int64_t> steps_seen;  // global_step at each training_step's start
  int64_t checked_steps = 0;
  Gan() {
    automatic_optimization(false);
    gen = register_module("gen", nn::Linear::make(4, 4));
    disc = register_module("disc", nn::Linear::make(4, 1));
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    const Tensor real = batch[0];
    LightningOptimizer g_opt = optimizer(0), d_opt = optimizer(1);
    EXPECT_EQ(optimizers().size(), 2u);
    steps_seen.push_back(global_step());

    // Discriminator: the generator's parameters are frozen while it steps.
    toggle_optimizer(d_opt);
    EXPECT_FALSE(gen->parameters()[0].requires_grad());
    EXPECT_TRUE(disc->parameters()[0].requires_grad());
    const Tensor d_loss = (disc->forward(gen->forward(real)) - disc->forward(real)).mean();
    d_opt.zero_grad();
    manual_backward(d_loss);
    EXPECT_TRUE(all_grads_undefined(gen->parameters()));
    const auto g_before = values(gen->parameters());
    const auto d_expected = sgd(values(disc->parameters()), grads_of(disc->parameters()), lr_d);
    d_opt.step();
    d_opt.zero_grad();
    expect_near(values(disc->parameters()), d_expected);
    expect_near(values(gen->parameters()), g_before);  // untouched by d_opt
    untoggle_optimizer(d_opt);
    EXPECT_TRUE(gen->parameters()[0].requires_grad());

    // Generator: the discriminator is frozen.
    toggle_optimizer(g_opt);
    const Tensor g_loss = -disc->forward(gen->forward(real)).mean();
    g_opt.zero_grad();
    manual_backward(g_loss);
    EXPECT_TRUE(all_grads_undefined(disc->parameters()));
    const auto d_before = values(disc->parameters());
    const auto g_expected = sgd(values(gen->parameters()), grads_of(gen->parameters()), lr_g);
    g_opt.step();
    g_opt.zero_grad();
    expect_near(values(gen->parameters()), g_expected);
    expect_near(values(disc->parameters()), d_before);
    untoggle_optimizer(g_opt);
    ++checked_steps;
    log("g_loss", g_loss);
    return g_loss;  // shown only; the Trainer does not step it
  }
  OptimizerConfig configure_optimizers() override {
    return OptimizerList{optim::SGD::make(gen->parameters(), {.lr = lr_g}),
                         optim::SGD::make(disc->parameters(), {.lr = lr_d})};
  }
};

TrainerOptions gan_options(TrainerOptions o = {}) {
  o.enable_checkpointing = false;
  o.logger = false;
  return quiet(o);
}

}  // namespace

TEST(ManualOptimization, GanStepsEachOptimizerOverItsParameters) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});  // 4 batches
  Gan model;
  Trainer trainer(gan_options({.max_epochs = 2}));
  trainer.fit(model, loader);
  EXPECT_EQ(model.checked_steps, 8);
  // Each optimizer.step() is a global step, as in Lightning's manual loop.
  EXPECT_EQ(trainer.global_step(), 16);
  EXPECT_THAT(model.steps_seen, ::testing::ElementsAre(0, 2, 4, 6, 8, 10, 12, 14));
  for (const Tensor& p : model.parameters()) EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(trainer.optimizers().size(), 2u);
}

TEST(ManualOptimization, MaxStepsCountsOptimizerSteps) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  Gan model;
  Trainer trainer(gan_options({.max_steps = 6}));
  trainer.fit(model, loader);
  EXPECT_EQ(trainer.global_step(), 6);
  EXPECT_EQ(model.checked_steps, 3);
}

TEST(ManualOptimization, OptionErrorsAsLightning) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});
  {
    Gan model;
    Trainer trainer(gan_options({.max_epochs = 1, .gradient_clip_val = 0.5}));
    try {
      trainer.fit(model, loader);
      FAIL() << "expected a ValueError";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("Automatic gradient clipping is not supported "
                                                 "for manual optimization. Remove "
                                                 "`Trainer(gradient_clip_val=0.5)`"));
    }
  }
  {
    Gan model;
    Trainer trainer(gan_options({.max_epochs = 1, .accumulate_grad_batches = 2}));
    try {
      trainer.fit(model, loader);
      FAIL() << "expected a ValueError";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("Automatic gradient accumulation is not "
                                                 "supported for manual optimization"));
    }
  }
  {
    Gan model;
    Trainer trainer(gan_options(
        {.max_epochs = 1, .callbacks = {GradientAccumulationScheduler::make({{0, 2}})}}));
    try {
      trainer.fit(model, loader);
      FAIL() << "expected a ValueError";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("`GradientAccumulationScheduler` is not "
                                                 "supported for manual optimization"));
    }
  }
  {
    // Several optimizers with automatic optimization: Lightning 2.x refuses.
    Gan model;
    model.automatic_optimization(true);
    Trainer trainer(gan_options({.max_epochs = 1}));
    try {
      trainer.fit(model, loader);
      FAIL() << "expected a ValueError";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), ::testing::HasSubstr("only supported with manual optimization"));
    }
  }
  {
    // manual_backward needs manual optimization.
    struct AutoBackward : Regressor {
      Tensor training_step(const Batch& batch, int64_t i) override {
        Tensor loss = Regressor::training_step(batch, i);
        manual_backward(loss);
        return loss;
      }
    } model;
    Trainer trainer(gan_options({.max_epochs = 1}));
    EXPECT_THROW(trainer.fit(model, loader), ValueError);
    EXPECT_THROW(model.optimizer(5), IndexError);
  }
}

// ---- hook order ---------------------------------------------------------------------------

namespace {

using Log = std::vector<std::string>;

struct Recorder : Callback {
  Log* log;
  explicit Recorder(Log* l) : log(l) {}
  void on_train_batch_start(Trainer&, LightningModule&, const Batch&, int64_t) override {
    log->push_back("Callback.on_train_batch_start");
  }
  void on_train_batch_end(Trainer&, LightningModule&, const Tensor&, const Batch&,
                          int64_t) override {
    log->push_back("Callback.on_train_batch_end");
  }
  void on_before_backward(Trainer&, LightningModule&, const Tensor&) override {
    log->push_back("Callback.on_before_backward");
  }
  void on_after_backward(Trainer&, LightningModule&) override {
    log->push_back("Callback.on_after_backward");
  }
  void on_before_zero_grad(Trainer&, LightningModule&, optim::Optimizer&) override {
    log->push_back("Callback.on_before_zero_grad");
  }
  void on_before_optimizer_step(Trainer&, LightningModule&, optim::Optimizer&) override {
    log->push_back("Callback.on_before_optimizer_step");
  }
};

// Records the module's hooks; manual: steps itself.
struct HookModel : Regressor {
  Log log;
  bool manual = false;
  explicit HookModel(bool m) : manual(m) { automatic_optimization(!m); }
  Tensor training_step(const Batch& batch, int64_t i) override {
    log.push_back("training_step");
    Tensor loss = Regressor::training_step(batch, i);
    if (!manual) return loss;
    LightningOptimizer opt = optimizer();
    opt.zero_grad();
    manual_backward(loss);
    opt.step([&] {
      log.push_back("closure");
      return Tensor();
    });
    log.push_back("training_step end");
    return loss;
  }
  bool on_train_batch_start(const Batch&, int64_t) override {
    log.push_back("on_train_batch_start");
    return true;
  }
  void on_train_batch_end(const Tensor&, const Batch&, int64_t) override {
    log.push_back("on_train_batch_end");
  }
  void on_before_backward(const Tensor&) override { log.push_back("on_before_backward"); }
  void on_after_backward() override { log.push_back("on_after_backward"); }
  void on_before_zero_grad(optim::Optimizer&) override { log.push_back("on_before_zero_grad"); }
  void on_before_optimizer_step(optim::Optimizer&) override {
    log.push_back("on_before_optimizer_step");
  }
  void optimizer_step(int64_t epoch, int64_t batch_idx, LightningOptimizer& opt,
                      const Closure& closure) override {
    log.push_back("optimizer_step");
    Regressor::optimizer_step(epoch, batch_idx, opt, closure);
    log.push_back("optimizer_step end");
  }
  void optimizer_zero_grad(int64_t epoch, int64_t batch_idx, optim::Optimizer& opt) override {
    log.push_back("optimizer_zero_grad");
    Regressor::optimizer_zero_grad(epoch, batch_idx, opt);
  }
};

Log one_batch_log(bool manual, int64_t accumulate = 1, int64_t batches = 1) {
  auto data = regression_data(8 * batches);
  DataLoader loader(data, {.batch_size = 8});
  HookModel model(manual);
  Trainer trainer(gan_options({.max_epochs = 1,
                               .accumulate_grad_batches = accumulate,
                               .callbacks = {std::make_shared<Recorder>(&model.log)}}));
  trainer.fit(model, loader);
  return model.log;
}

}  // namespace

TEST(OptimizationHooks, AutomaticOrderAsLightning) {
  // Lightning's _auto_train_batch: optimizer_step wraps the closure (training_step,
  // zero_grad, backward), then on_before_optimizer_step and the step.
  EXPECT_THAT(one_batch_log(false),
              ::testing::ElementsAre(
                  "Callback.on_train_batch_start", "on_train_batch_start", "optimizer_step",
                  "training_step", "Callback.on_before_zero_grad", "on_before_zero_grad",
                  "optimizer_zero_grad", "Callback.on_before_backward", "on_before_backward",
                  "Callback.on_after_backward", "on_after_backward",
                  "Callback.on_before_optimizer_step", "on_before_optimizer_step",
                  "optimizer_step end", "Callback.on_train_batch_end", "on_train_batch_end"));
}

TEST(OptimizationHooks, AccumulatingBatchRunsTheClosureWithoutOptimizerStep) {
  const Log log = one_batch_log(false, 2, 2);
  const Log first(log.begin(), log.begin() + 12);
  EXPECT_THAT(first, ::testing::ElementsAre("Callback.on_train_batch_start", "on_train_batch_start",
                                            "training_step", "Callback.on_before_zero_grad",
                                            "on_before_zero_grad", "optimizer_zero_grad",
                                            "Callback.on_before_backward", "on_before_backward",
                                            "Callback.on_after_backward", "on_after_backward",
                                            "Callback.on_train_batch_end", "on_train_batch_end"));
  // The second batch steps, without zeroing (mid-window).
  const Log second(log.begin() + 12, log.end());
  EXPECT_THAT(second, ::testing::Contains("optimizer_step"));
  EXPECT_THAT(second, ::testing::Not(::testing::Contains("optimizer_zero_grad")));
}

TEST(OptimizationHooks, ManualOrderAsLightning) {
  // Lightning's _manual_train_batch: no zero_grad/optimizer_step hooks; manual_backward
  // runs the backward hooks and step(closure) the closure, then on_before_optimizer_step.
  EXPECT_THAT(one_batch_log(true),
              ::testing::ElementsAre(
                  "Callback.on_train_batch_start", "on_train_batch_start", "training_step",
                  "Callback.on_before_backward", "on_before_backward", "Callback.on_after_backward",
                  "on_after_backward", "closure", "Callback.on_before_optimizer_step",
                  "on_before_optimizer_step", "training_step end", "Callback.on_train_batch_end",
                  "on_train_batch_end"));
}

TEST(OptimizationHooks, OptimizerStepOverrides) {
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});  // 4 batches
  // Steps only on even batches (Lightning's docs example); a global step still counts.
  struct EvenSteps : Regressor {
    int64_t real_steps = 0;
    void optimizer_step(int64_t, int64_t batch_idx, LightningOptimizer& opt,
                        const Closure& closure) override {
      if (batch_idx % 2 == 0) {
        opt.step(closure);
        ++real_steps;
      } else {
        closure();
      }
    }
  } even;
  Trainer t1(gan_options({.max_epochs = 1}));
  t1.fit(even, loader);
  EXPECT_EQ(even.real_steps, 2);
  EXPECT_EQ(t1.global_step(), 4);
  EXPECT_EQ(even.losses.size(), 4u);

  // Not calling the closure is an error, as in Lightning.
  struct NoClosure : Regressor {
    void optimizer_step(int64_t, int64_t, LightningOptimizer& opt, const Closure&) override {
      opt.step();
    }
  } none;
  Trainer t2(gan_options({.max_epochs = 1}));
  try {
    t2.fit(none, loader);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("The closure hasn't been executed"));
  }
}
