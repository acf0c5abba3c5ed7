// Schedulers composed on one optimizer inside the Trainer (issue 18): a ChainedScheduler of
// LinearLR warmup and ExponentialLR, stepped per optimizer step, against torch's recursive
// formulas; resuming from a checkpoint mid-schedule continues it exactly.
#include <gtest/gtest.h>

#include <cmath>

#include "test_models.h"

namespace trainer_test {
namespace {

// The rate every training batch starts with.
struct RateRecorder : Callback {
  std::vector<double> rates;
  void on_train_batch_start(Trainer& t, LightningModule&, const Batch&, int64_t) override {
    rates.push_back(t.optimizer()->param_groups()[0].lr());
  }
};

struct WarmupDecay : Regressor {
  WarmupDecay() : Regressor({.lr = 0.1}) {}
  OptimizerConfig configure_optimizers() override {
    auto opt = optim::SGD::make(parameters(), {.lr = 0.1, .momentum = 0.9});
    auto warm = std::make_shared<optim::LinearLR>(opt, 0.25, 1.0, 3);
    auto decay = std::make_shared<optim::ExponentialLR>(opt, 0.9);
    std::vector<std::shared_ptr<optim::LRScheduler>> both{warm, decay};
    return {opt,
            {.scheduler = std::make_shared<optim::ChainedScheduler>(both), .interval = "step"}};
  }
};

// Rate of optimizer step s: 0.1 * (LinearLR's factor at s) * 0.9^s.
double want(int s) { return 0.1 * (0.25 + 0.75 * std::min(s, 3) / 3.0) * std::pow(0.9, s); }

TEST(ChainedSchedulers, ComposeInTheTrainer) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 8});  // 4 steps an epoch
  WarmupDecay model;
  auto rec = std::make_shared<RateRecorder>();
  Trainer trainer(quiet({.max_epochs = 2,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("chained"),
                         .callbacks = {rec},
                         .logger = false}));
  trainer.fit(model, loader);
  ASSERT_EQ(rec->rates.size(), 8u);
  for (int s = 0; s < 8; ++s) EXPECT_NEAR(rec->rates[static_cast<size_t>(s)], want(s), 1e-15);
  EXPECT_NEAR(trainer.optimizer()->param_groups()[0].lr(), want(8), 1e-15);
}

TEST(ChainedSchedulers, ResumeContinuesTheSchedule) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 8});
  const std::string root = temp_dir("chained_resume");
  {
    WarmupDecay model;
    Trainer first(quiet({.max_epochs = 1, .default_root_dir = root, .logger = false}));
    first.fit(model, loader);
    first.save_checkpoint(root + "/mid.ckpt");
  }
  WarmupDecay model;
  auto rec = std::make_shared<RateRecorder>();
  Trainer second(
      quiet({.max_epochs = 3, .default_root_dir = root, .callbacks = {rec}, .logger = false}));
  second.fit(model, loader, root + "/mid.ckpt");
  ASSERT_EQ(rec->rates.size(), 8u);  // epochs 2 and 3: steps 4..11
  for (int s = 4; s < 12; ++s)
    EXPECT_NEAR(rec->rates[static_cast<size_t>(s - 4)], want(s), 1e-15) << "step " << s;
}

}  // namespace
}  // namespace trainer_test
