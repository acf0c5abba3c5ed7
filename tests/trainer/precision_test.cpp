// The Trainer's `precision` (issue 16): Lightning's values, "64-true" (DoublePrecision),
// the half modes (autocast around each step, or the model in bf16/f16), and MixedPrecision's
// GradScaler plumbing (scaled backward, unscale before the hook and clipping, skipped steps, scaler
// state in checkpoints) through a test plugin that runs "16-mixed"'s scaling in f32.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_models.h"

using namespace trainer_test;
using ::testing::HasSubstr;

namespace {

TEST(Precision, ParsesLightningsValues) {
  EXPECT_EQ(parse_precision("32-true"), PrecisionMode::f32_true);
  EXPECT_EQ(parse_precision("32"), PrecisionMode::f32_true);
  EXPECT_EQ(parse_precision("64-true"), PrecisionMode::f64_true);
  EXPECT_EQ(parse_precision("64"), PrecisionMode::f64_true);
  EXPECT_EQ(parse_precision("bf16-mixed"), PrecisionMode::bf16_mixed);
  EXPECT_EQ(parse_precision("16-mixed"), PrecisionMode::f16_mixed);
  EXPECT_EQ(parse_precision("bf16-true"), PrecisionMode::bf16_true);
  EXPECT_EQ(parse_precision("16-true"), PrecisionMode::f16_true);
  EXPECT_STREQ(to_string(PrecisionMode::f16_mixed), "16-mixed");
  for (const char* bad : {"16", "bf16", "fp16", "32-mixed", ""}) {
    try {
      Trainer t(quiet({.logger = false, .precision = bad}));
      ADD_FAILURE() << "precision=\"" << bad << "\" was accepted";
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), HasSubstr("precision=\"" + std::string(bad) + "\""));
      EXPECT_THAT(e.what(), HasSubstr("\"64-true\""));
      EXPECT_THAT(e.what(), HasSubstr("\"16-mixed\""));
    }
  }
}

TEST(Precision, SixteenMixedOnTheCpuIsAnErrorAsInLightning) {
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 16});
  Regressor model;
  Trainer trainer(quiet({.max_steps = 1,
                         .accelerator = "cpu",
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("precision16cpu"),
                         .logger = false,
                         .precision = "16-mixed"}));
  try {
    trainer.fit(model, loader);
    ADD_FAILURE() << "16-mixed ran on the cpu";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("precision=\"16-mixed\""));
    EXPECT_THAT(e.what(), HasSubstr("bf16-mixed"));
  }
}

// Records what each step sees under a mixed or true half precision.
struct AmpProbe : Regressor {
  std::vector<DType> out_dtypes, loss_dtypes, param_dtypes, batch_dtypes, grad_dtypes;
  std::vector<bool> autocast_in_step, autocast_in_val, autocast_after_backward;
  explicit AmpProbe(RegressionOptions o = {}) : Regressor(o) {}
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    autocast_in_step.push_back(is_autocast_enabled(x.device().type));
    batch_dtypes.push_back(x.dtype());
    param_dtypes.push_back(linear->weight.dtype());
    Tensor out = forward(x);
    out_dtypes.push_back(out.dtype());
    Tensor loss = nn::F::mse_loss(out, y);
    loss_dtypes.push_back(loss.dtype());
    losses.push_back(loss.item<double>());
    return loss;
  }
  void on_after_backward() override {
    autocast_after_backward.push_back(is_autocast_enabled(linear->weight.device().type));
    grad_dtypes.push_back(linear->weight.grad().dtype());
  }
  void validation_step(const Batch& batch, int64_t) override {
    autocast_in_val.push_back(is_autocast_enabled(batch[0].device().type));
  }
};

// The mean training loss of epoch e (4 batches of 16 per epoch).
double epoch_mean(const AmpProbe& m, size_t e) {
  double s = 0;
  for (size_t i = 4 * e; i < 4 * e + 4; ++i) s += m.losses.at(i);
  return s / 4;
}

std::unique_ptr<AmpProbe> fit_amp(const std::string& precision, const std::string& accelerator,
                                  int64_t steps) {
  manual_seed(5);
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  auto model = std::make_unique<AmpProbe>(RegressionOptions{.lr = 0.05});
  TrainerOptions o = quiet({.max_steps = steps,
                            .limit_val_batches = 1,
                            .enable_checkpointing = false,
                            .default_root_dir = temp_dir("precision_amp"),
                            .logger = false,
                            .precision = precision});
  o.accelerator = accelerator;  // quiet() says cpu
  Trainer trainer(o);
  trainer.fit(*model, loader, loader);
  return model;
}

TEST(Precision, Bf16MixedRunsEachStepUnderAutocastWithF32Weights) {
  const auto holder = fit_amp("bf16-mixed", "cpu", 12);
  const AmpProbe& m = *holder;
  ASSERT_EQ(m.out_dtypes.size(), 12u);
  for (size_t i = 0; i < m.out_dtypes.size(); ++i) {
    EXPECT_TRUE(m.autocast_in_step[i]);
    EXPECT_FALSE(m.autocast_after_backward[i]);  // backward runs outside the region
    EXPECT_EQ(m.batch_dtypes[i], DType::f32);
    EXPECT_EQ(m.param_dtypes[i], DType::f32);  // master weights stay f32
    EXPECT_EQ(m.out_dtypes[i], DType::bf16);   // linear in bf16
    EXPECT_EQ(m.loss_dtypes[i], DType::f32);   // losses in f32
    EXPECT_EQ(m.grad_dtypes[i], DType::f32);   // f32 leaves get f32 gradients
  }
  ASSERT_FALSE(m.autocast_in_val.empty());
  for (bool on : m.autocast_in_val) EXPECT_TRUE(on);
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));   // restored after fit
  EXPECT_LT(epoch_mean(m, 2), 0.5 * epoch_mean(m, 0));  // it learns
}

TEST(Precision, SixteenMixedOnSimUsesF16AutocastAndTheScaler) {
  const auto holder = fit_amp("16-mixed", "sim", 16);
  const AmpProbe& m = *holder;
  ASSERT_EQ(m.out_dtypes.size(), 16u);
  for (size_t i = 0; i < m.out_dtypes.size(); ++i) {
    EXPECT_TRUE(m.autocast_in_step[i]);
    EXPECT_EQ(m.out_dtypes[i], DType::f16);
    EXPECT_EQ(m.param_dtypes[i], DType::f32);
    EXPECT_EQ(m.grad_dtypes[i], DType::f32);
  }
  // The scaler skips the first steps (65536 overflows f16) and backs off; then it learns.
  EXPECT_LT(epoch_mean(m, 3), 0.5 * epoch_mean(m, 0));
}

TEST(Precision, HalfTrueConvertsTheModelAndTheBatches) {
  for (const auto& [mode, dtype] :
       {std::pair{"bf16-true", DType::bf16}, std::pair{"16-true", DType::f16}}) {
    const auto holder = fit_amp(mode, "cpu", 12);
    const AmpProbe& m = *holder;
    ASSERT_EQ(m.out_dtypes.size(), 12u) << mode;
    for (size_t i = 0; i < m.out_dtypes.size(); ++i) {
      EXPECT_FALSE(m.autocast_in_step[i]) << mode;
      EXPECT_EQ(m.batch_dtypes[i], dtype) << mode;
      EXPECT_EQ(m.param_dtypes[i], dtype) << mode;
      EXPECT_EQ(m.out_dtypes[i], dtype) << mode;
      EXPECT_EQ(m.grad_dtypes[i], dtype) << mode;
    }
    EXPECT_LT(epoch_mean(m, 2), 0.5 * epoch_mean(m, 0)) << mode;  // it learns
  }
}

// Records the dtypes the training step sees.
struct DtypeProbe : Regressor {
  std::vector<DType> batch_dtypes, param_dtypes;
  Tensor training_step(const Batch& batch, int64_t i) override {
    batch_dtypes.push_back(batch[0].dtype());
    batch_dtypes.push_back(batch[1].dtype());
    param_dtypes.push_back(linear->weight.dtype());
    return Regressor::training_step(batch, i);
  }
};

TEST(Precision, SixtyFourTrueTrainsInF64) {
  manual_seed(3);
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  DtypeProbe model;
  Trainer trainer(quiet({.max_epochs = 3,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("precision64"),
                         .logger = false,
                         .precision = "64-true"}));
  trainer.fit(model, loader);
  ASSERT_FALSE(model.batch_dtypes.empty());
  for (DType d : model.batch_dtypes) EXPECT_EQ(d, DType::f64);
  for (DType d : model.param_dtypes) EXPECT_EQ(d, DType::f64);
  EXPECT_EQ(model.linear->bias.dtype(), DType::f64);
  EXPECT_LT(model.losses.back(), 0.5 * model.losses.front());  // it learns
}

// "16-mixed"'s plugin with the half-dtype check lifted: its GradScaler on f32.
struct ScaledF32 : MixedPrecision {
  explicit ScaledF32(double init_scale = 1024.0)
      : MixedPrecision(PrecisionMode::f16_mixed, {.init_scale = init_scale, .growth_interval = 2}) {
  }
  // f32 through and through: no autocast, and allowed on the cpu.
  void check_device(Device) const override {}
  std::unique_ptr<autocast> forward_context(Device) const override { return nullptr; }
};

// Plain SGD (lr 0.1); records the gradient norm the optimizer-step hook sees, and can
// poison the gradients of one batch after backward.
struct Probe : Regressor {
  std::vector<double> hook_norms;
  int64_t poison_step = -1;
  int64_t calls = 0;
  Probe() : Regressor({.lr = 0.1}) {}
  void on_after_backward() override {
    if (calls++ == poison_step)
      linear->weight.grad().narrow(1, 0, 1).fill_(std::numeric_limits<double>::quiet_NaN());
  }
  void on_before_optimizer_step(optim::Optimizer&) override {
    double s = 0;
    for (const Tensor& p : parameters())
      for (float g : p.grad().to_vector<float>()) s += double(g) * g;
    hook_norms.push_back(std::sqrt(s));
  }
  OptimizerConfig configure_optimizers() override {
    return optim::SGD::make(parameters(), {.lr = opts.lr});
  }
};

struct ProbeRun {
  nn::StateDict weights;
  std::vector<double> hook_norms;
};

ProbeRun fit_probe(std::shared_ptr<PrecisionPlugin> plugin, double clip, int64_t poison_step = -1,
                   int64_t steps = 4, const std::string& ckpt_save = "") {
  manual_seed(11);
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  Probe model;
  model.poison_step = poison_step;
  Trainer trainer(quiet({.max_steps = steps,
                         .gradient_clip_val = clip,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("precision_mixed"),
                         .logger = false,
                         .precision_plugin = std::move(plugin)}));
  trainer.fit(model, loader);
  if (!ckpt_save.empty()) trainer.save_checkpoint(ckpt_save);
  return {model.state_dict(), model.hook_norms};
}

void expect_same_weights(const nn::StateDict& a, const nn::StateDict& b) {
  for (const auto& [k, v] : a) {
    const std::vector<float> x = v.to_vector<float>(), y = b.at(k).to_vector<float>();
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], 1e-6) << k << "[" << i << "]";
  }
}

TEST(Precision, MixedUnscalesBeforeTheHookAndClipping) {
  // Clipping at 0.05 binds: clipping scaled gradients would leave a 1024 times smaller step.
  const ProbeRun plain = fit_probe(nullptr, 0.05);
  auto plugin = std::make_shared<ScaledF32>();
  const ProbeRun mixed = fit_probe(plugin, 0.05);
  expect_same_weights(mixed.weights, plain.weights);
  ASSERT_EQ(mixed.hook_norms.size(), plain.hook_norms.size());
  for (size_t i = 0; i < plain.hook_norms.size(); ++i)
    EXPECT_NEAR(mixed.hook_norms[i], plain.hook_norms[i], 1e-5 * plain.hook_norms[i]) << i;
  EXPECT_EQ(plugin->scaler()->get_scale(), 4096.0);  // 4 finite steps, growth every 2
}

TEST(Precision, MixedSkipsTheStepOfANaNGradient) {
  auto plugin = std::make_shared<ScaledF32>();
  const ProbeRun poisoned = fit_probe(plugin, 0.0, /*poison_step=*/0, /*steps=*/1);
  manual_seed(11);  // the probe's initial weights, as fit_probe makes them
  (void)regression_data(64);
  Probe untouched;
  expect_same_weights(poisoned.weights, untouched.state_dict());  // the only step was skipped
  EXPECT_EQ(plugin->scaler()->get_scale(), 512.0);                // and the scale backed off
}

TEST(Precision, MixedScalerStateIsCheckpointedUnderLightningsKey) {
  const std::string path = temp_dir("precision_ckpt") + "/mixed.ckpt";
  auto plugin = std::make_shared<ScaledF32>();
  fit_probe(plugin, 0.0, -1, /*steps=*/3, path);  // scale 2048, tracker 1
  const Checkpoint ckpt = read_checkpoint(path);
  ASSERT_TRUE(ckpt.tensors.contains("MixedPrecision.scale"));
  EXPECT_EQ(ckpt.tensors.at("MixedPrecision.scale").item<double>(), 2048.0);
  EXPECT_EQ(ckpt.tensors.at("MixedPrecision._growth_tracker").item<int64_t>(), 1);
  EXPECT_EQ(ckpt.tensors.at("MixedPrecision.growth_interval").item<int64_t>(), 2);
  EXPECT_FALSE(is_model_key("MixedPrecision.scale"));

  // A resumed fit restores the scaler: one more finite step completes the interval.
  manual_seed(11);
  auto data = regression_data(64);
  DataLoader loader(data, {.batch_size = 16});
  Probe model;
  auto fresh = std::make_shared<ScaledF32>(8.0);
  Trainer trainer(quiet({.max_steps = 4,
                         .enable_checkpointing = false,
                         .default_root_dir = temp_dir("precision_resume"),
                         .logger = false,
                         .precision_plugin = fresh}));
  trainer.fit(model, loader, path);
  EXPECT_EQ(fresh->scaler()->get_scale(), 4096.0);
}

}  // namespace
