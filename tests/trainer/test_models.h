// Small LightningModules and data for the trainer tests.
#pragma once

#include <unistd.h>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <ember/ember.h>

namespace trainer_test {

using namespace ember;

// y = x w^T + b + noise, 64 samples of 4 features.
inline std::shared_ptr<TensorDataset> regression_data(int64_t n = 64, uint64_t seed = 7) {
  const PhiloxState saved = get_rng_state();
  manual_seed(seed);
  Tensor x = randn({n, 4});
  Tensor w = from_vector<float>({1.5f, -2.0f, 0.5f, 3.0f}, {1, 4});
  Tensor y = x.matmul(w.t()) + 0.25 + randn({n, 1}) * 0.1;
  set_rng_state(saved);
  return std::make_shared<TensorDataset>(std::vector<Tensor>{x, y});
}

struct RegressionOptions {
  double lr = 0.05;
  std::string optimizer = "sgd";  // sgd or adam
  std::string scheduler{};        // "", "step", "epoch", "plateau"
  int64_t frequency = 1;
  double dropout = 0.0;
};

// A linear model with MSE; logs train_loss (step) and val_loss (epoch).
struct Regressor : LightningModule {
  std::shared_ptr<nn::Linear> linear;
  std::shared_ptr<nn::Dropout> dropout;
  RegressionOptions opts;
  std::vector<double> losses;  // every training loss, in order
  explicit Regressor(RegressionOptions o = {}) : opts(o) {
    linear = register_module("linear", nn::Linear::make(4, 1));
    dropout = register_module("dropout", nn::Dropout::make(o.dropout));
    save_hyperparameters({{"lr", o.lr}, {"optimizer", o.optimizer}});
  }
  Tensor forward(const Tensor& x) { return linear->forward(dropout->forward(x)); }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(forward(x), y);
    losses.push_back(loss.item<double>());
    log("train_loss", loss, {.prog_bar = true});
    return loss;
  }
  void validation_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    log("val_loss", nn::F::mse_loss(forward(x), y), {.prog_bar = true});
  }
  void test_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    log("test_loss", nn::F::mse_loss(forward(x), y));
  }
  Tensor predict_step(const Batch& batch, int64_t) override { return forward(batch[0]); }
  OptimizerConfig configure_optimizers() override {
    std::shared_ptr<optim::Optimizer> opt;
    if (opts.optimizer == "adam") opt = optim::Adam::make(parameters(), {.lr = opts.lr});
    else opt = optim::SGD::make(parameters(), {.lr = opts.lr, .momentum = 0.9});
    if (opts.scheduler == "step" || opts.scheduler == "epoch")
      return {opt,
              {.scheduler = std::make_shared<optim::StepLR>(opt, 1, 0.5),
               .interval = opts.scheduler,
               .frequency = opts.frequency}};
    if (opts.scheduler == "plateau")
      return {opt,
              {.plateau = std::make_shared<optim::ReduceLROnPlateau>(
                   opt, optim::ReduceLROnPlateauOptions{.patience = 0}),
               .monitor = "val_loss"}};
    return opt;
  }
};

// This process's scratch folder, removed when the process exits (checkpoints of the main
// job's model are ~90 MB each).
inline std::filesystem::path temp_root() {
  return std::filesystem::temp_directory_path() /
         ("ember_trainer_test_" + std::to_string(::getpid()));
}
struct TempRootCleaner {
  ~TempRootCleaner() {
    std::error_code ec;
    std::filesystem::remove_all(temp_root(), ec);
  }
};
inline TempRootCleaner temp_root_cleaner;

// A fresh, empty folder under the test temp dir.
inline std::string temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p = temp_root() / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// Trainer options that keep tests quiet and fast.
inline TrainerOptions quiet(TrainerOptions o) {
  o.enable_progress_bar = false;
  o.enable_model_summary = false;
  o.accelerator = "cpu";
  return o;
}

}  // namespace trainer_test
