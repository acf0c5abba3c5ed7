// Collectives between processes on the loopback interface: the test starts 2 or 3
// ember_dist_worker processes with torchrun's variables and checks their exit codes (each
// worker checks its results against references itself; see dist_worker.cpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

#include "distributed/process_group.h"
#include "tensor/ops.h"

extern char** environ;

using namespace std::chrono_literals;

namespace {

struct Result {
  std::vector<int> codes;  // exit codes, -1: killed at the deadline
  std::string logs;        // every rank's stderr
  double seconds;
};

// A port that was free a moment ago (a store bound it, then let it go).
int free_port() {
  ember::distributed::TCPStore s("127.0.0.1", {.port = 0, .is_master = true, .timeout = 2s});
  return s.port();
}

Result run_ranks(const std::string& scenario, int world, int timeout_ms,
                 std::chrono::seconds deadline) {
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(world));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(world));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("GLOO_SOCKET_IFNAME=lo");
    env.push_back("EMBER_TEST_TIMEOUT_MS=" + std::to_string(timeout_ms));
    env.push_back("OMP_NUM_THREADS=1");
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    logs.push_back(testing::TempDir() + "ember_dist_" + scenario + "_" + std::to_string(r) + "_" +
                   std::to_string(::getpid()) + ".log");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::string exe = EMBER_DIST_WORKER;
    std::vector<char*> argv{exe.data(), const_cast<char*>(scenario.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << exe;
    pids.push_back(pid);
  }
  Result res{std::vector<int>(static_cast<size_t>(world), -1), "", 0};
  size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() - start < deadline) {
    for (size_t i = 0; i < pids.size(); ++i) {
      if (pids[i] <= 0) continue;
      int status = 0;
      if (::waitpid(pids[i], &status, WNOHANG) == pids[i]) {
        res.codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        pids[i] = 0;
        --left;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  for (pid_t pid : pids) {  // past the deadline: a hang, which the test reports
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (size_t r = 0; r < logs.size(); ++r) {
    std::ifstream f(logs[r]);
    std::stringstream ss;
    ss << f.rdbuf();
    if (!ss.str().empty()) res.logs += "[rank " + std::to_string(r) + "] " + ss.str();
    std::remove(logs[r].c_str());
  }
  return res;
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
