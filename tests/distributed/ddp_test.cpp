// DistributedDataParallel between 2 or 3 ember_ddp_worker processes on the loopback
// interface (each worker checks itself; see ddp_worker.cpp for what each scenario asserts).
// A 20 s collective timeout and a 90 s deadline turn a reducer bug into a failure, not a hang.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include "run_ranks.h"

using namespace std::chrono_literals;

namespace {

ember::test::RanksResult run(const std::string& scenario, int world) {
  return ember::test::run_ranks(EMBER_DDP_WORKER, scenario, world, 20000, 90s);
}

std::vector<int> zeros(int n) { return std::vector<int>(static_cast<size_t>(n), 0); }

TEST(DistributedDataParallel, TwoRanksEqualOneRankWithTheirBatches) {
  auto r = run("equivalence", 2);
  EXPECT_EQ(r.codes, zeros(2)) << r.logs;
}

TEST(DistributedDataParallel, ThreeRanksEqualOneRankWithTheirBatches) {
  auto r = run("equivalence", 3);
  EXPECT_EQ(r.codes, zeros(3)) << r.logs;
}

TEST(DistributedDataParallel, NoSyncAccumulatesLocallyThenAverages) {
  auto r = run("no_sync", 3);
  EXPECT_EQ(r.codes, zeros(3)) << r.logs;
}

TEST(DistributedDataParallel, AnUnusedParameterIsReportedAtTheNextForward) {
  auto r = run("unused", 2);
  EXPECT_EQ(r.codes, zeros(2)) << r.logs;
}

TEST(DistributedDataParallel, FindUnusedParametersAveragesWithZeros) {
  auto r = run("find_unused", 3);
  EXPECT_EQ(r.codes, zeros(3)) << r.logs;
}

TEST(DistributedDataParallel, BuffersComeFromRankZero) {
  auto r = run("buffers", 2);
  EXPECT_EQ(r.codes, zeros(2)) << r.logs;
}

TEST(DistributedDataParallel, DifferentModelsFailAtConstruction) {
  auto r = run("mismatch", 2);
  EXPECT_EQ(r.codes, zeros(2)) << r.logs;
}

// In one process (a group of one rank): torch's bucket sizes, and the argument errors.
TEST(DistributedDataParallel, BucketsFollowTorchsSizeRule) {
  namespace dist = ember::distributed;
  namespace nn = ember::nn;
  dist::ClusterEnvironment env;  // rank 0 of 1
  env.port = ember::test::free_port();
  auto pg = dist::init_process_group({.backend = "gloo", .timeout = 5s, .env = env});
  // f32 weights of 480 000, 800 000 and 400 000 bytes.
  auto model = nn::Sequential::make(
      {nn::Linear::make(300, 400), nn::Linear::make(400, 500), nn::Linear::make(500, 200)});
  using Names = std::vector<std::vector<std::string>>;
  {
    // The first bucket closes at 1 MiB, the others at 25 MiB: all the rest fits in one.
    dist::DistributedDataParallel ddp(model, pg);
    EXPECT_EQ(ddp.stats().buckets,
              (Names{{"2.bias", "2.weight", "1.bias", "1.weight"}, {"0.bias", "0.weight"}}));
    EXPECT_EQ(ddp.stats().bucket_bytes, (std::vector<int64_t>{1202800, 481600}));
    // One rank: backward leaves the gradient as it is (the mean of one) and counts.
    ember::manual_seed(3);
    ember::Tensor x = ember::randn({2, 300});
    ddp.forward(x).sum().backward();
    EXPECT_EQ(ddp.stats().reductions, 1);
    ember::Tensor w = model->named_parameters()[0].second;
    ember::Tensor want = ember::autograd::grad({model->forward(x).sum()}, {w})[0];
    EXPECT_TRUE(ember::allclose(w.grad(), want, 1e-6, 1e-7));
  }
  {
    // A 0.3 MiB cap caps the first bucket too.
    dist::DistributedDataParallel ddp(model, pg, {.bucket_cap_mb = 0.3});
    EXPECT_EQ(ddp.stats().buckets,
              (Names{{"2.bias", "2.weight"}, {"1.bias", "1.weight"}, {"0.bias", "0.weight"}}));
  }
  EXPECT_THROW(dist::DistributedDataParallel(model, pg, {.bucket_cap_mb = 0}), ember::ValueError);
  EXPECT_THROW(dist::DistributedDataParallel(nullptr, pg), ember::ValueError);
  EXPECT_THROW(dist::DistributedDataParallel(model, nullptr), ember::ValueError);
}

}  // namespace
