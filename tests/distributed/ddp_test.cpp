// DistributedDataParallel between 2 or 3 ember_ddp_worker processes on the loopback
// interface (each worker checks itself; see ddp_worker.cpp for what each scenario asserts).
// A 20 s collective timeout and a 90 s deadline turn a reducer bug into a failure, not a hang.
#include <gtest/gtest.h>

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

}  // namespace
