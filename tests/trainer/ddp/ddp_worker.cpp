// A program that trains with Trainer(strategy="ddp") for ddp_test.cpp: the Trainer's launcher
// re-executes it for the other ranks. The exit code says how it went (0: as expected),
// stderr says why not.
//
//   ember_ddp_trainer_worker <mode> <dir> <devices> <batch> <steps> [ckpt] [extra]
//   train   fit a linear model (f64) on 64 samples, validate on 40; rank zero writes the
//           weights and the final losses to <dir>/<extra>.txt (a checkpoint each step
//           with save_last, to resume from [ckpt] when it is not "-")
//   sync    log with and without sync_dist and all_gather; every rank checks the values
//   kill    rank 1 kills itself (SIGKILL) in its third training step
//   stop    EarlyStopping on a metric only rank 1 wants to stop on: every rank stops
//   sampler a loader with the user's DistributedSampler is read as it is; with
//           use_distributed_sampler=false every rank reads the whole loader
//   io      like train; ranks other than zero move to <dir>/cwd_rank<r> after the Trainer is
//           built, so a relative path written by them would land there
//   predict predict 37 samples in batches of <batch>; a BasePredictionWriter writes each
//           rank's rows ("index value value") to <dir>/<name>_batch_rank<r>.txt per batch
//           and <dir>/<name>_epoch_rank<r>.txt at the end; each rank checks its count
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <ember/ember.h>

using namespace ember;

namespace {

int g_failures = 0;
#define CHECK_W(cond, ...)                                               \
  do {                                                                   \
    if (!(cond)) {                                                       \
      ++g_failures;                                                      \
      std::fprintf(stderr, "ddp_worker line %d: %s: ", __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                 \
      std::fprintf(stderr, "\n");                                        \
    }                                                                    \
  } while (0)

std::string g_mode;

struct Linear4 : LightningModule {
  std::shared_ptr<nn::Linear> linear;
  Linear4() { linear = register_module("linear", nn::Linear::make(4, 2)); }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor loss = nn::F::mse_loss(linear->forward(x), y);
    log("train_loss", loss, {.sync_dist = true});
    const Trainer& t = trainer();
    if (g_mode == "kill" && t.global_rank() == 1 && t.global_step() == 2) std::raise(SIGKILL);
    if (g_mode == "stop") log("flag", static_cast<double>(t.global_rank()));  // not synced
    if (g_mode == "sync") {
      log("synced", static_cast<double>(t.global_rank() + 1), {.sync_dist = true});
      log("synced_max", static_cast<double>(t.global_rank() + 1),
          {.reduce_fx = "max", .sync_dist = true});
      log("local", static_cast<double>(t.global_rank() + 1));
      Tensor mine = full({2}, static_cast<double>(t.global_rank() + 10), {.dtype = DType::f32});
      Tensor all = all_gather(mine);  // (world, 2)
      CHECK_W(all.dim() == 2 && all.size(0) == t.world_size() && all.size(1) == 2,
              "all_gather gave %s", str(all.sizes()).c_str());
      for (int64_t r = 0; r < all.size(0); ++r)
        CHECK_W(all.select(0, r).sum().item<double>() == 2.0 * static_cast<double>(r + 10),
                "all_gather row %lld", static_cast<long long>(r));
    }
    return loss;
  }
  Tensor predict_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    return linear->forward(x);
  }
  void validation_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    log("val_loss", nn::F::mse_loss(linear->forward(x), y), {.sync_dist = true});
  }
  OptimizerConfig configure_optimizers() override {
    return optim::SGD::make(parameters(), {.lr = 0.05, .momentum = 0.9});
  }
};

// Writes a rank's predictions with their data set indices, per batch and at the end.
struct FileWriter : BasePredictionWriter {
  std::string prefix;
  explicit FileWriter(std::string p) : BasePredictionWriter("batch_and_epoch"), prefix(p) {}
  std::string path(const Trainer& t, const char* what) const {
    return prefix + "_" + what + "_rank" + std::to_string(t.global_rank()) + ".txt";
  }
  static void rows(std::ofstream& out, const Tensor& pred, const std::vector<int64_t>& idx) {
    CHECK_W(pred.size(0) == static_cast<int64_t>(idx.size()), "%lld rows, %zu indices",
            static_cast<long long>(pred.size(0)), idx.size());
    for (size_t i = 0; i < idx.size(); ++i) {
      out << idx[i];
      for (double v : pred.select(0, static_cast<int64_t>(i)).to_vector<double>()) out << " " << v;
      out << "\n";
    }
  }
  void write_on_batch_end(Trainer& t, LightningModule&, const Tensor& pred,
                          const std::vector<int64_t>& idx, const Batch&, int64_t,
                          int64_t) override {
    std::ofstream out(path(t, "batch"), std::ios::app);
    out.precision(17);
    rows(out, pred, idx);
  }
  void write_on_epoch_end(Trainer& t, LightningModule&, const std::vector<Tensor>& preds,
                          const std::vector<std::vector<int64_t>>& idx) override {
    std::ofstream out(path(t, "epoch"));
    out.precision(17);
    CHECK_W(preds.size() == idx.size(), "%zu predictions, %zu index lists", preds.size(),
            idx.size());
    for (size_t i = 0; i < preds.size() && i < idx.size(); ++i) rows(out, preds[i], idx[i]);
  }
};

std::shared_ptr<TensorDataset> data(int64_t n, uint64_t seed) {
  manual_seed(seed);
  Tensor x = randn({n, 4}, {.dtype = DType::f64});
  Tensor w = randn({2, 4}, {.dtype = DType::f64});
  Tensor y = x.matmul(w.t()) + randn({n, 2}, {.dtype = DType::f64}) * 0.1;
  return std::make_shared<TensorDataset>(std::vector<Tensor>{x, y});
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 6) {
    std::fprintf(stderr,
                 "usage: ember_ddp_trainer_worker mode dir devices batch steps [ckpt] [name]\n");
    return 2;
  }
  g_mode = argv[1];
  const std::string dir = argv[2];
  const int64_t devices = std::atoll(argv[3]), batch = std::atoll(argv[4]),
                steps = std::atoll(argv[5]);
  const std::string ckpt = argc > 6 && std::string(argv[6]) != "-" ? argv[6] : "";
  const std::string name = argc > 7 ? argv[7] : "result";
  // ddp_test's two "nodes" on this machine (each started with NODE_RANK, MASTER_ADDR/PORT).
  const char* nodes_env = std::getenv("EMBER_TEST_NUM_NODES");
  const int64_t num_nodes = nodes_env ? std::atoll(nodes_env) : 1;
  try {
    const bool io = g_mode == "io";
    std::vector<std::shared_ptr<Callback>> callbacks = {
        ModelCheckpoint::make({.save_top_k = -1, .save_last = true, .every_n_train_steps = 1})};
    if (g_mode == "stop")
      callbacks.push_back(
          EarlyStopping::make({.monitor = "flag", .mode = "max", .stopping_threshold = 0.5}));
    Trainer trainer({.max_steps = steps,
                     .accelerator = "cpu",
                     .num_sanity_val_steps = 0,
                     .log_every_n_steps = 1,
                     .seed = 7,
                     .enable_progress_bar = false,
                     .enable_model_summary = io,
                     .default_root_dir = io ? "root" : dir + "/root",
                     .callbacks = callbacks,
                     .precision = "64-true",
                     .strategy = devices * num_nodes > 1 ? "ddp" : "auto",
                     .devices = devices,
                     .num_nodes = num_nodes,
                     .use_distributed_sampler = g_mode != "sampler",
                     .process_group_timeout = std::chrono::seconds(5)});
    if (io && trainer.global_rank() != 0) {
      const std::string cwd = dir + "/cwd_rank" + std::to_string(trainer.global_rank());
      std::filesystem::create_directories(cwd);
      if (::chdir(cwd.c_str()) != 0) return 3;
    }
    auto model = std::make_shared<Linear4>();
    DataLoader train(data(64, 11), {.batch_size = batch, .shuffle = true, .seed = 5});
    DataLoader val(data(40, 12), {.batch_size = 8});
    if (g_mode == "predict") {
      Trainer predictor({.accelerator = "cpu",
                         .seed = 7,
                         .enable_progress_bar = false,
                         .enable_model_summary = false,
                         .callbacks = {std::make_shared<FileWriter>(dir + "/" + name)},
                         .logger = false,
                         .precision = "64-true",
                         .strategy = devices > 1 ? "ddp" : "auto",
                         .devices = devices,
                         .process_group_timeout = std::chrono::seconds(5)});
      auto predicted = std::make_shared<Linear4>();  // the same weights on every rank (seed)
      DataLoader loader(data(37, 13), {.batch_size = batch});
      const std::vector<Tensor> mine = predictor.predict(predicted, loader);
      // Each rank's own predictions: the ranks' shares, unpadded, are 19 and 18 of 37.
      const int64_t world = predictor.world_size(), rank = predictor.global_rank();
      int64_t n = 0;
      for (const Tensor& p : mine) n += p.size(0);
      CHECK_W(n == (37 - rank + world - 1) / world, "rank %lld predicted %lld samples",
              static_cast<long long>(rank), static_cast<long long>(n));
      return g_failures == 0 ? 0 : 1;
    }
    if (g_mode == "sampler") {
      // Not split by the Trainer (the option is off): 64 / 8 batches on every rank.
      trainer.fit(model, train, val, ckpt);
      CHECK_W(trainer.num_training_batches() == 8, "%lld batches",
              static_cast<long long>(trainer.num_training_batches()));
      // The user's own share, which the Trainer must not split again: 32 / 8 batches.
      Trainer again({.max_steps = 2,
                     .accelerator = "cpu",
                     .enable_progress_bar = false,
                     .enable_checkpointing = false,
                     .logger = false,
                     .precision = "64-true",
                     .strategy = "ddp",
                     .devices = devices});
      auto share = std::make_shared<DistributedSampler>(
          64, DistributedSamplerOptions{.num_replicas = again.world_size(),
                                        .rank = again.global_rank()});
      DataLoader mine(data(64, 11), {.batch_size = batch, .sampler = share});
      again.fit(model, mine);
      CHECK_W(again.num_training_batches() == 4, "%lld batches",
              static_cast<long long>(again.num_training_batches()));
      return g_failures == 0 ? 0 : 1;
    }
    trainer.fit(model, train, val, ckpt);
    if (g_mode == "stop")  // after the first epoch's validation (4 batches of 8 per rank)
      CHECK_W(trainer.global_step() == 4, "stopped at step %lld",
              static_cast<long long>(trainer.global_step()));
    if (g_mode == "sync") {
      const double world = static_cast<double>(trainer.world_size());
      const double rank = static_cast<double>(trainer.global_rank());
      CHECK_W(trainer.callback_metric("synced") == (world + 1) / 2, "synced %g",
              trainer.callback_metric("synced").value_or(-1));
      CHECK_W(trainer.callback_metric("synced_max") == world, "synced_max %g",
              trainer.callback_metric("synced_max").value_or(-1));
      CHECK_W(trainer.callback_metric("local") == rank + 1, "local %g",
              trainer.callback_metric("local").value_or(-1));
    }
    if (trainer.is_global_zero()) {
      std::ofstream out(dir + "/" + name + ".txt");
      out.precision(17);
      out << "world_size " << trainer.world_size() << "\n";
      out << "step " << trainer.global_step() << "\n";
      out << "train_loss " << trainer.callback_metric("train_loss").value_or(NAN) << "\n";
      out << "val_loss " << trainer.callback_metric("val_loss").value_or(NAN) << "\n";
      for (const auto& [k, v] : model->named_parameters())
        for (double x : v.contiguous().view({-1}).to_vector<double>()) out << k << " " << x << "\n";
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ddp_worker: %s\n", e.what());
    return 1;
  }
  return g_failures == 0 ? 0 : 1;
}
