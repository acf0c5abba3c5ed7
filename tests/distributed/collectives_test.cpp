// Collectives between processes on the loopback interface: the test starts 2 or 3
// ember_dist_worker processes with torchrun's variables and checks their exit codes (each
// worker checks its results against references itself; see dist_worker.cpp).
#include <gtest/gtest.h>

#include <chrono>

#include "distributed/process_group.h"
#include "run_ranks.h"
#include "tensor/ops.h"

using namespace std::chrono_literals;
using ember::test::free_port;

namespace {

ember::test::RanksResult run_ranks(const std::string& scenario, int world, int timeout_ms,
                                   std::chrono::seconds deadline) {
  return ember::test::run_ranks(EMBER_DIST_WORKER, scenario, world, timeout_ms, deadline);
}

}  // namespace

TEST(Collectives, TwoRanksMatchTheReferences) {
  auto r = run_ranks("collectives", 2, 20000, 60s);
  EXPECT_EQ(r.codes, (std::vector<int>{0, 0})) << r.logs;
}

TEST(Collectives, ThreeRanksMatchTheReferences) {
  auto r = run_ranks("collectives", 3, 20000, 60s);
  EXPECT_EQ(r.codes, (std::vector<int>{0, 0, 0})) << r.logs;
}

TEST(Collectives, ARankThatExitsMakesTheOthersThrow) {
  // The peer's sockets close: the survivors fail at once, well inside the timeout.
  auto r = run_ranks("early_exit", 3, 3000, 30s);
  EXPECT_EQ(r.codes, (std::vector<int>{0, 0, 0})) << r.logs;
  EXPECT_LT(r.seconds, 15) << r.logs;
}

TEST(Collectives, ARankThatHangsMakesTheOthersTimeOut) {
  auto r = run_ranks("hang", 2, 1500, 30s);
  EXPECT_EQ(r.codes, (std::vector<int>{0, 0})) << r.logs;
}

// In one process: a group of one rank, and init_process_group's argument errors.
TEST(InitProcessGroup, SingleRankGlooAndArgumentErrors) {
  namespace dist = ember::distributed;
  using ember::DType;
  dist::ClusterEnvironment env;  // rank 0 of 1
  env.port = free_port();
  auto pg = dist::init_process_group({.backend = "gloo", .timeout = 5s, .env = env});
  EXPECT_EQ(pg->rank(), 0);
  EXPECT_EQ(pg->world_size(), 1);
  EXPECT_EQ(pg->backend_name(), "gloo");
  ember::Tensor t = ember::from_vector(std::vector<double>{1.5, -2.0, 3.25});
  pg->all_reduce(t, dist::ReduceOp::avg)->wait();
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{1.5, -2.0, 3.25}));
  // Non-contiguous tensors, bad roots and wrong sizes are refused at the call.
  ember::Tensor m = ember::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_THROW(pg->all_reduce(m.transpose(0, 1)), ember::ValueError);
  EXPECT_THROW(pg->broadcast(m, 1), ember::ValueError);
  EXPECT_THROW(pg->reduce_scatter_tensor(ember::from_vector(std::vector<float>{1, 2}), m),
               ember::ShapeError);
  EXPECT_THROW(pg->all_reduce(ember::from_vector(std::vector<int64_t>{1}), dist::ReduceOp::avg),
               ember::DTypeError);
  pg->barrier()->wait();
#if !EMBER_HAVE_CUDA
  EXPECT_THROW(dist::init_process_group({.backend = "nccl", .env = env}), ember::ValueError);
#endif
  EXPECT_THROW(dist::init_process_group({.backend = "mpi", .env = env}), ember::ValueError);
}

// Two groups over one store (as DDP's and a user's would be) keep their keys apart.
TEST(InitProcessGroup, TwoGroupsShareAStore) {
  namespace dist = ember::distributed;
  auto store = std::make_shared<dist::TCPStore>(
      "127.0.0.1", dist::TCPStoreOptions{.port = 0, .is_master = true, .timeout = 5s});
  auto a = dist::make_gloo_process_group(store, 0, 1, 5s);
  auto b = dist::make_gloo_process_group(store, 0, 1, 5s);
  a->barrier()->wait();
  b->barrier()->wait();
  EXPECT_GE(store->num_keys(), 2);  // one address key per group
}

// A rank whose store never answers fails in init_process_group, naming itself.
TEST(InitProcessGroup, UnreachableStoreNamesTheRank) {
  namespace dist = ember::distributed;
  dist::ClusterEnvironment env;
  env.world_size = 2;
  env.rank = 1;
  env.port = free_port();  // nobody serves it
  try {
    dist::init_process_group({.backend = "gloo", .timeout = 400ms, .env = env});
    FAIL() << "init_process_group returned";
  } catch (const dist::DistStoreError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("rank 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cannot connect"), std::string::npos) << msg;
    EXPECT_NE(msg.find("timeout 0.400 s"), std::string::npos) << msg;
  }
}
