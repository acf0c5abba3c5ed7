// Starts test processes and collects their exit codes and stderr; a process still running at
// the deadline is killed (a hang fails the test instead of blocking it). run_ranks starts
// `world` ranks of a worker with torchrun's variables on the loopback interface
// (collectives_test.cpp, ddp_test.cpp); run_processes any commands with extra variables
// (tests/trainer/ddp/ddp_test.cpp, whose Trainer launches its own ranks).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "distributed/store.h"

extern char** environ;

namespace ember::test {

struct RanksResult {
  std::vector<int> codes;  // exit codes (128 + signal when killed), -1: killed at the deadline
  std::string logs;        // every process's stderr, each after "[rank i] "
  double seconds = 0;
};

// One process: its arguments (argv[0] is the program) and the variables added to ours.
struct ProcessSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;
};

// A port that was free a moment ago (a store bound it, then let it go).
inline int free_port() {
  distributed::TCPStore s("127.0.0.1",
                          {.port = 0, .is_master = true, .timeout = std::chrono::seconds(2)});
  return s.port();
}

// Starts every process at once (stdout to /dev/null, stderr to a log named after `tag`) and
// waits for all until `deadline`.
inline RanksResult run_processes(const std::vector<ProcessSpec>& procs, const std::string& tag,
                                 std::chrono::seconds deadline) {
  using namespace std::chrono_literals;
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (size_t r = 0; r < procs.size(); ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    env.insert(env.end(), procs[r].env.begin(), procs[r].env.end());
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    logs.push_back(::testing::TempDir() + "ember_ranks_" + tag + "_" + std::to_string(r) + "_" +
                   std::to_string(::getpid()) + ".log");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::vector<std::string> args = procs[r].argv;
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << args[0];
    pids.push_back(rc == 0 ? pid : 0);
  }
  RanksResult res{std::vector<int>(procs.size(), -1), "", 0};
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

// `world` ranks of `exe scenario`, rendezvousing at a fresh port; the workers read their
// group's timeout from EMBER_TEST_TIMEOUT_MS.
inline RanksResult run_ranks(const std::string& exe, const std::string& scenario, int world,
                             int timeout_ms, std::chrono::seconds deadline) {
  const int port = free_port();
  std::vector<ProcessSpec> procs;
  for (int r = 0; r < world; ++r)
    procs.push_back(
        {{exe, scenario},
         {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(world),
          "LOCAL_RANK=" + std::to_string(r), "LOCAL_WORLD_SIZE=" + std::to_string(world),
          "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port), "GLOO_SOCKET_IFNAME=lo",
          "EMBER_TEST_TIMEOUT_MS=" + std::to_string(timeout_ms), "OMP_NUM_THREADS=1"}});
  return run_processes(procs, scenario, deadline);
}

}  // namespace ember::test
