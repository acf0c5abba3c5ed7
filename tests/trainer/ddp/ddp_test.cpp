// Trainer(strategy="ddp") across processes (issue 17): each test runs ember_ddp_trainer_worker,
// whose Trainer re-executes it for rank 1 (the launcher), on the loopback interface.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "tests/distributed/run_ranks.h"
#include "trainer/launcher.h"  // find_free_port

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct WorkerRun {
  int code;  // -1: killed at the limit (it hung)
  std::string err;
  double seconds;
};

// The worker's arguments: mode dir devices batch steps ckpt name.
std::vector<std::string> args(const std::string& mode, const std::string& dir, int devices,
                              int batch, int steps, const std::string& ckpt = "-",
                              const std::string& name = "result") {
  return {EMBER_DDP_TRAINER_WORKER, mode, dir, std::to_string(devices), std::to_string(batch),
          std::to_string(steps),    ckpt, name};
}

// Runs the worker (the launcher's parent; it starts the other ranks) with a hard limit; its
// stderr is returned.
WorkerRun worker(const std::vector<std::string>& argv, int limit_s = 90) {
  const ember::test::RanksResult r = ember::test::run_processes(
      {{argv, {"GLOO_SOCKET_IFNAME=lo"}}}, "trainer_" + argv.at(1), std::chrono::seconds(limit_s));
  return {r.codes.at(0), r.logs, r.seconds};
}

// A worker run that exited with 0; else its code and stderr.
testing::AssertionResult succeeded(const WorkerRun& r) {
  if (r.code == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "exit code " << r.code << "\n" << r.err;
}

std::string fresh_dir(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("ember_ddp_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

// "key value" lines of a result file: scalars, and the parameters' values in order.
struct Result {
  std::map<std::string, double> scalars;
  std::vector<double> params;
};
Result read_result(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  Result r;
  std::string key, text;
  while (in >> key >> text) {
    const double v = std::stod(text);  // "nan" too (a run that never validated)
    if (key.starts_with("linear.")) r.params.push_back(v);
    else r.scalars[key] = v;
  }
  return r;
}

void expect_close(const std::vector<double>& a, const std::vector<double>& b, double rtol) {
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_LE(std::abs(a[i] - b[i]), 1e-14 + rtol * std::abs(b[i])) << "parameter value " << i;
}

}  // namespace

// 2 ranks x batch 8 take the same steps as 1 rank x batch 16: the same global batches (the
// ranks' shares of the loader's own order) and averaged gradients; f64 throughout.
TEST(DDPTrainer, TwoRanksEqualOneRankWithTwiceTheBatch) {
  const std::string dir = fresh_dir("equal");
  ASSERT_TRUE(succeeded(worker(args("train", dir, 1, 16, 6, "-", "one"))));
  ASSERT_TRUE(succeeded(worker(args("train", dir, 2, 8, 6, "-", "two"))));
  const Result a = read_result(dir + "/one.txt"), b = read_result(dir + "/two.txt");
  EXPECT_EQ(a.scalars.at("world_size"), 1);
  EXPECT_EQ(b.scalars.at("world_size"), 2);
  EXPECT_EQ(b.scalars.at("step"), 6);
  expect_close(b.params, a.params, 1e-12);
  // The losses logged with sync_dist are the global batch's (train) and data set's (val).
  EXPECT_NEAR(b.scalars.at("train_loss"), a.scalars.at("train_loss"),
              1e-12 * a.scalars.at("train_loss"));
  EXPECT_NEAR(b.scalars.at("val_loss"), a.scalars.at("val_loss"), 1e-12 * a.scalars.at("val_loss"));
  // A different batch split would not match: the comparison can fail.
  ASSERT_TRUE(succeeded(worker(args("train", dir, 1, 8, 6, "-", "other"))));
  const Result c = read_result(dir + "/other.txt");
  ASSERT_FALSE(c.params.empty());
  EXPECT_GT(std::abs(c.params[0] - a.params[0]), 1e-9);
  fs::remove_all(dir);
}

// num_nodes: two "nodes" of one process each (both on this machine, started by hand with
// NODE_RANK and rank 0's address, as on a cluster) train as one process with twice the batch.
TEST(DDPTrainer, TwoNodesEqualOneRankWithTwiceTheBatch) {
  const std::string dir = fresh_dir("nodes");
  ASSERT_TRUE(succeeded(worker(args("train", dir, 1, 16, 6, "-", "one"))));
  const std::string port = std::to_string(ember::find_free_port());
  std::vector<ember::test::ProcessSpec> nodes;
  for (int node = 0; node < 2; ++node)
    nodes.push_back({args("train", dir, 1, 8, 6, "-", "nodes"),
                     {"GLOO_SOCKET_IFNAME=lo", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port,
                      "EMBER_TEST_NUM_NODES=2", "NODE_RANK=" + std::to_string(node)}});
  const ember::test::RanksResult run = ember::test::run_processes(nodes, "trainer_nodes", 60s);
  ASSERT_EQ(run.codes, (std::vector<int>{0, 0})) << run.logs;
  const Result a = read_result(dir + "/one.txt"), b = read_result(dir + "/nodes.txt");
  EXPECT_EQ(b.scalars.at("world_size"), 2);
  expect_close(b.params, a.params, 1e-12);
  fs::remove_all(dir);
}

// sync_dist means over the ranks ("max" with reduce_fx); unsynced values stay the rank's own;
// all_gather stacks the ranks' tensors. The worker checks on every rank.
TEST(DDPTrainer, SyncDistAndAllGather) {
  const std::string dir = fresh_dir("sync");
  EXPECT_TRUE(succeeded(worker(args("sync", dir, 2, 8, 2))));
  fs::remove_all(dir);
}

// Rank 1 moves to its own folder after the Trainer is built: whatever it wrote under the
// relative default_root_dir would land there. Only rank zero's folder may fill up, with one
// version folder and one set of checkpoints.
TEST(DDPTrainer, OnlyRankZeroWritesLogsAndCheckpoints) {
  const std::string dir = fresh_dir("io");
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir);  // the parent's relative "root" is dir/root
  WorkerRun r = worker(args("io", dir, 2, 8, 4));
  fs::current_path(old_cwd);
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path logs = fs::path(dir) / "root" / "lightning_logs";
  EXPECT_TRUE(fs::exists(logs / "version_0" / "metrics.csv"));
  EXPECT_FALSE(fs::exists(logs / "version_1"));
  EXPECT_TRUE(fs::exists(logs / "version_0" / "checkpoints" / "last.ckpt"));
  int ckpts = 0;
  for (const auto& e : fs::directory_iterator(logs / "version_0" / "checkpoints"))
    ckpts += e.path().extension() == ".ckpt";
  EXPECT_GE(ckpts, 5);  // 4 steps (save_top_k=-1) and last
  const fs::path rank1 = fs::path(dir) / "cwd_rank1";
  ASSERT_TRUE(fs::is_directory(rank1));
  EXPECT_TRUE(fs::is_empty(rank1)) << "rank 1 wrote " << fs::directory_iterator(rank1)->path();
  fs::remove_all(dir);
}

// A loader with the user's DistributedSampler is not split again, and
// use_distributed_sampler=false leaves every loader whole; the worker checks the batch counts.
TEST(DDPTrainer, UserSamplerAndOptionOff) {
  const std::string dir = fresh_dir("sampler");
  EXPECT_TRUE(succeeded(worker(args("sampler", dir, 2, 8, 2))));
  fs::remove_all(dir);
}

// EarlyStopping's decision is any rank's (a monitor logged without sync_dist differs between
// them): both ranks stop after the first validation, instead of rank 0 training on alone.
TEST(DDPTrainer, EarlyStoppingStopsEveryRank) {
  const std::string dir = fresh_dir("stop");
  EXPECT_TRUE(succeeded(worker(args("stop", dir, 2, 8, 12), 60)));
  fs::remove_all(dir);
}

// A rank that dies makes the launcher's parent fail with the collective's error, naming the
// dead process, well within the test's limit (the group's timeout is 5 s).
TEST(DDPTrainer, KilledRankMakesTheOthersFail) {
  const std::string dir = fresh_dir("kill");
  WorkerRun r = worker(args("kill", dir, 2, 8, 6), 60);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.code, -1) << "killed by the test's limit: it hung";
  EXPECT_LT(r.seconds, 30);
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("signal 9"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// Resuming from the step-3 checkpoint under ddp (both ranks load it) ends where the
// straight 6-step run ends.
TEST(DDPTrainer, ResumeEqualsStraightRun) {
  const std::string dir = fresh_dir("resume");
  ASSERT_TRUE(succeeded(worker(args("train", dir, 2, 8, 6, "-", "straight"))));
  const std::string first_dir = dir + "/first";
  fs::create_directories(first_dir);
  ASSERT_TRUE(succeeded(worker(args("train", first_dir, 2, 8, 3, "-", "first"))));
  const std::string ckpt = first_dir + "/root/lightning_logs/version_0/checkpoints/last.ckpt";
  ASSERT_TRUE(fs::exists(ckpt));
  ASSERT_TRUE(succeeded(worker(args("train", first_dir, 2, 8, 6, ckpt, "resumed"))));
  const Result a = read_result(dir + "/straight.txt"), b = read_result(first_dir + "/resumed.txt");
  EXPECT_EQ(b.scalars.at("step"), 6);
  expect_close(b.params, a.params, 1e-12);
  // The step-3 weights differ from the final ones: the resumed run did train.
  const Result c = read_result(first_dir + "/first.txt");
  ASSERT_FALSE(c.params.empty());
  EXPECT_GT(std::abs(c.params[0] - a.params[0]), 1e-9);
  fs::remove_all(dir);
}

// The "index value value" rows a prediction writer wrote, in file order.
std::vector<std::pair<int64_t, std::vector<double>>> read_rows(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::vector<std::pair<int64_t, std::vector<double>>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    int64_t i = -1;
    s >> i;
    std::vector<double> v;
    for (std::string x; s >> x;) v.push_back(std::stod(x));
    rows.emplace_back(i, v);
  }
  return rows;
}

// predict under ddp as Lightning's: each rank predicts its unpadded share (positions r, r+2,
// ... of the loader), so the shares cover the data set exactly once; a BasePredictionWriter
// gets each batch's data set indices, and the ranks' written rows merged by index equal one
// process's predictions. Each rank also checks that predict returned its own share only.
TEST(DDPTrainer, PredictSharesMergeToOneProcessPredict) {
  const std::string dir = fresh_dir("predict");
  ASSERT_TRUE(succeeded(worker(args("predict", dir, 1, 4, 0, "-", "one"))));
  ASSERT_TRUE(succeeded(worker(args("predict", dir, 2, 4, 0, "-", "two"))));
  const auto single = read_rows(dir + "/one_batch_rank0.txt");
  ASSERT_EQ(single.size(), 37u);
  std::map<int64_t, std::vector<double>> reference;
  for (const auto& [i, v] : single) reference[i] = v;
  ASSERT_EQ(reference.size(), 37u);
  std::map<int64_t, int> seen;
  for (int r = 0; r < 2; ++r) {
    const std::string rank = std::to_string(r);
    const auto batch = read_rows(dir + "/two_batch_rank" + rank + ".txt");
    EXPECT_EQ(batch.size(), r == 0 ? 19u : 18u) << "rank " << r;
    for (size_t k = 0; k < batch.size(); ++k) {
      const auto& [i, v] = batch[k];
      EXPECT_EQ(i, r + 2 * static_cast<int64_t>(k)) << "rank " << r << " row " << k;
      ++seen[i];
      ASSERT_TRUE(reference.count(i)) << i;
      EXPECT_EQ(v.size(), 2u);
      EXPECT_EQ(v, reference[i]) << "sample " << i;
    }
    // The end-of-epoch write has the same rows (all batches, their indices, in order).
    const auto epoch = read_rows(dir + "/two_epoch_rank" + rank + ".txt");
    EXPECT_EQ(epoch, batch) << "rank " << r;
  }
  ASSERT_EQ(seen.size(), 37u);
  for (const auto& [i, count] : seen) EXPECT_EQ(count, 1) << "sample " << i;
  EXPECT_EQ(seen.begin()->first, 0);
  EXPECT_EQ(seen.rbegin()->first, 36);
  fs::remove_all(dir);
}

// predict's doubling of x, to check a writer's rows against the samples its indices name.
struct Doubler : ember::LightningModule {
  ember::Tensor predict_step(const ember::Batch& batch, int64_t) override { return batch[0] * 2.0; }
};

struct Recorder : ember::BasePredictionWriter {
  using BasePredictionWriter::BasePredictionWriter;
  std::vector<std::vector<int64_t>> batches, epoch;
  std::vector<ember::Tensor> preds, epoch_preds;
  void write_on_batch_end(ember::Trainer&, ember::LightningModule&, const ember::Tensor& p,
                          const std::vector<int64_t>& idx, const ember::Batch&, int64_t,
                          int64_t) override {
    batches.push_back(idx);
    preds.push_back(p);
  }
  void write_on_epoch_end(ember::Trainer&, ember::LightningModule&,
                          const std::vector<ember::Tensor>& p,
                          const std::vector<std::vector<int64_t>>& idx) override {
    epoch_preds = p;
    epoch = idx;
  }
};

// In one process, a shuffled loader: batch_indices are the data set indices of each batch's
// samples (the prediction of row j is 2 * x[indices[j]]), not positions; the epoch write
// gets every batch. A writer that does not override the method its interval calls fails.
TEST(PredictionWriter, BatchIndicesNameTheSamples) {
  using namespace ember;
  manual_seed(4);
  Tensor x = randn({10}, {.dtype = DType::f64});
  auto data = std::make_shared<TensorDataset>(std::vector<Tensor>{x});
  DataLoader loader(data, {.batch_size = 4, .shuffle = true, .seed = 3});
  auto writer = std::make_shared<Recorder>("batch_and_epoch");
  Trainer t({.accelerator = "cpu",
             .enable_progress_bar = false,
             .enable_model_summary = false,
             .callbacks = {writer},
             .logger = false,
             .precision = "64-true"});
  auto model = std::make_shared<Doubler>();
  const std::vector<Tensor> out = t.predict(model, loader);
  ASSERT_EQ(writer->batches.size(), 3u);
  EXPECT_EQ(writer->epoch, writer->batches);
  ASSERT_EQ(writer->epoch_preds.size(), 3u);
  const std::vector<double> xs = x.to_vector<double>();
  std::vector<int64_t> all;
  for (size_t b = 0; b < writer->batches.size(); ++b) {
    const std::vector<double> p = writer->preds[b].to_vector<double>();
    const std::vector<double> e = writer->epoch_preds[b].to_vector<double>();
    const std::vector<double> r = out.at(b).to_vector<double>();
    ASSERT_EQ(p.size(), writer->batches[b].size());
    for (size_t j = 0; j < p.size(); ++j) {
      const int64_t i = writer->batches[b][j];
      ASSERT_TRUE(i >= 0 && i < 10) << i;
      EXPECT_EQ(p[j], 2.0 * xs[static_cast<size_t>(i)]) << "batch " << b << " row " << j;
      all.push_back(i);
    }
    EXPECT_EQ(e, p);
    EXPECT_EQ(r, p);
  }
  std::vector<int64_t> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 10; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  EXPECT_NE(all, sorted) << "the loader did not shuffle: positions and indices agree";

  Trainer bare({.accelerator = "cpu",
                .enable_progress_bar = false,
                .enable_model_summary = false,
                .callbacks = {std::make_shared<BasePredictionWriter>("epoch")},
                .logger = false});
  try {
    bare.predict(model, loader);
    FAIL() << "predict returned";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("write_on_epoch_end"), std::string::npos) << e.what();
  }
}

// BasePredictionWriter's intervals are Lightning's WriteInterval values.
TEST(DDPTrainer, PredictionWriterIntervals) {
  EXPECT_TRUE(ember::BasePredictionWriter().on_batch());
  EXPECT_FALSE(ember::BasePredictionWriter().on_epoch());
  EXPECT_TRUE(ember::BasePredictionWriter("epoch").on_epoch());
  EXPECT_FALSE(ember::BasePredictionWriter("epoch").on_batch());
  const ember::BasePredictionWriter both("batch_and_epoch");
  EXPECT_TRUE(both.on_batch() && both.on_epoch());
  try {
    ember::BasePredictionWriter w("step");
    FAIL();
  } catch (const ember::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("\"step\""), std::string::npos) << e.what();
  }
}

// Option errors name the option and the value, before anything starts.
TEST(DDPTrainer, OptionErrors) {
  using ember::Trainer;
  EXPECT_THROW(Trainer({.strategy = "fsdp"}), ember::ValueError);
  EXPECT_THROW(Trainer({.strategy = "ddp", .devices = 0}), ember::ValueError);
  EXPECT_THROW(Trainer({.strategy = "ddp", .num_nodes = 0}), ember::ValueError);
  EXPECT_THROW(ember::TrainerOptions({.devices = "all"}), ember::ValueError);
  try {
    Trainer t({.strategy = "horovod"});
    FAIL();
  } catch (const ember::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("horovod"), std::string::npos) << e.what();
  }
  // ddp with one device is a group of one (Lightning runs it too).
  Trainer one({.enable_progress_bar = false, .strategy = "ddp", .devices = 1});
  EXPECT_EQ(one.world_size(), 1);
  EXPECT_EQ(one.strategy().name(), "ddp");
  Trainer single;
  EXPECT_EQ(single.strategy().name(), "single_device");
  EXPECT_EQ(single.world_size(), 1);
  EXPECT_EQ(single.global_rank(), 0);
  EXPECT_TRUE(single.is_global_zero());
}
