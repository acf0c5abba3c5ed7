// log() on a device: values stay there until the progress bar, a logger or a callback
// reads them, and reduce to exactly what the same values logged on the cpu give.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "test_models.h"

using namespace trainer_test;

namespace {

// Logs tensors of known values, made on the module's device: step i of epoch e logs
// a = 10e + i + 0.25 (exact in f32) with every reduction; validation logs its batch size.
struct DeviceLogging : Regressor {
  MetricMap epoch_end_seen;  // what on_train_epoch_end of epoch 0 saw
  Tensor value(double v) const { return scalar_tensor(v, {.device = device()}); }
  Tensor training_step(const Batch& batch, int64_t i) override {
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(forward(x), y);
    const double a = 10.0 * static_cast<double>(current_epoch()) + static_cast<double>(i) + 0.25;
    log("a", value(a), {.prog_bar = true});
    log("b", value(a), {.on_step = true, .on_epoch = true});
    log("mx", value(a), {.on_step = false, .on_epoch = true, .reduce_fx = "max"});
    log("mn", value(-a), {.on_step = false, .on_epoch = true, .reduce_fx = "min"});
    log("s", value(1.0), {.on_step = false, .on_epoch = true, .reduce_fx = "sum"});
    log("w", value(a), {.on_epoch = true, .batch_size = i + 1});  // a weighted mean
    if (i % 2) log("mixed", value(a), {.on_epoch = true});        // host and device values alike
    else log("mixed", a, {.on_epoch = true});
    return loss;
  }
  void validation_step(const Batch& batch, int64_t i) override {
    log("vbs", value(static_cast<double>(batch.batch_size())));
    log("vi", value(static_cast<double>(i)), {.on_step = true, .prog_bar = true});
  }
  void on_train_epoch_end() override {
    if (current_epoch() == 0) epoch_end_seen = trainer().callback_metrics();
  }
};

// Reads nothing back itself: logs the loss, returns it.
struct Unread : Regressor {
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(forward(x), y);
    log("train_loss", loss, {.prog_bar = true});
    return loss;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct FitResult {
  MetricMap epoch_end_seen, callback, pbar, logged;
  std::string csv;
};

FitResult fit_on(const std::string& accelerator) {
  auto data = regression_data(40);
  DataLoader train(data, {.batch_size = 10});  // 4 batches
  DataLoader val(data, {.batch_size = 16});    // 16, 16, 8
  DeviceLogging model;
  const std::string root = temp_dir("device_logging_" + accelerator);
  TrainerOptions o = quiet({.max_epochs = 2,
                            .num_sanity_val_steps = 0,
                            .log_every_n_steps = 2,
                            .enable_checkpointing = false,
                            .default_root_dir = root});
  o.accelerator = accelerator;
  Trainer trainer(o);
  trainer.fit(model, train, val);
  return {model.epoch_end_seen, trainer.callback_metrics(), trainer.progress_bar_metrics(),
          trainer.logged_metrics(), read_file(root + "/lightning_logs/version_0/metrics.csv")};
}

}  // namespace

TEST(DeviceLogging, ReducesExactlyAsTheSameValuesOnTheCpu) {
  const FitResult cpu = fit_on("cpu");
  const FitResult sim = fit_on("sim");
  // Epoch 0: a = 0.25 .. 3.25.
  EXPECT_DOUBLE_EQ(cpu.epoch_end_seen.at("b_epoch"), 1.75);
  EXPECT_DOUBLE_EQ(cpu.epoch_end_seen.at("mx"), 3.25);
  EXPECT_DOUBLE_EQ(cpu.epoch_end_seen.at("mn"), -3.25);
  EXPECT_DOUBLE_EQ(cpu.epoch_end_seen.at("s"), 4.0);
  EXPECT_DOUBLE_EQ(cpu.epoch_end_seen.at("w_epoch"), (0.25 + 2 * 1.25 + 3 * 2.25 + 4 * 3.25) / 10);
  EXPECT_EQ(sim.epoch_end_seen, cpu.epoch_end_seen);
  EXPECT_EQ(sim.callback, cpu.callback);
  EXPECT_EQ(sim.pbar, cpu.pbar);
  EXPECT_EQ(sim.logged, cpu.logged);
  EXPECT_EQ(sim.csv, cpu.csv);
  EXPECT_TRUE(sim.pbar.count("a"));
  EXPECT_TRUE(sim.pbar.count("vi_epoch"));
}

TEST(DeviceLogging, ATrainingStepOnSimReadsNothingBackUntilALoggerWrites) {
  auto data = regression_data(40);
  DataLoader train(data, {.batch_size = 8});  // 5 batches
  Unread model;
  auto prof = ProfilerCallback::make({.skip_first = 1, .active = 3, .out = nullptr});
  TrainerOptions o = quiet({.max_epochs = 1,
                            .log_every_n_steps = 3,
                            .enable_checkpointing = false,
                            .default_root_dir = temp_dir("device_logging_profile"),
                            .callbacks = {prof}});
  o.accelerator = "sim";
  Trainer trainer(o);
  trainer.fit(model, train);
  // Batches 1, 2, 3; the loggers write the step metrics after batch 2 (every 3rd step).
  const std::vector<profiler::TransferCounts>& steps = prof->step_transfers();
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].d2h, 0);
  EXPECT_EQ(steps[1].d2h, 1);  // train_loss, read once for both loggers' row
  EXPECT_EQ(steps[2].d2h, 0);
  for (const auto& s : steps) EXPECT_EQ(s.syncs, 0);
  EXPECT_TRUE(trainer.callback_metrics().count("train_loss"));
}
