// Starts `world` processes of a worker with torchrun's variables on the loopback interface
// and collects their exit codes and stderr; a rank still running at the deadline is killed
// (a hang fails the test instead of blocking it).
#pragma once

#include <fcntl.h>
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
  std::vector<int> codes;  // exit codes, -1: killed at the deadline
  std::string logs;        // every rank's stderr
  double seconds = 0;
};

// A port that was free a moment ago (a store bound it, then let it go).
inline int free_port() {
  distributed::TCPStore s("127.0.0.1",
                          {.port = 0, .is_master = true, .timeout = std::chrono::seconds(2)});
  return s.port();
}

inline RanksResult run_ranks(const std::string& exe, const std::string& scenario, int world,
                             int timeout_ms, std::chrono::seconds deadline) {
  using namespace std::chrono_literals;
  const int port = free_port();
  const auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<std::string> logs;
  for (int r = 0; r < world; ++r) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    for (const std::string& kv :
         {"RANK=" + std::to_string(r), "WORLD_SIZE=" + std::to_string(world),
          "LOCAL_RANK=" + std::to_string(r), "LOCAL_WORLD_SIZE=" + std::to_string(world),
          std::string("MASTER_ADDR=127.0.0.1"), "MASTER_PORT=" + std::to_string(port),
          std::string("GLOO_SOCKET_IFNAME=lo"),
          "EMBER_TEST_TIMEOUT_MS=" + std::to_string(timeout_ms), std::string("OMP_NUM_THREADS=1")})
      env.push_back(kv);
    std::vector<char*> envp;
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    logs.push_back(::testing::TempDir() + "ember_ddp_" + scenario + "_" + std::to_string(r) + "_" +
                   std::to_string(::getpid()) + ".log");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, logs.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    std::string path = exe;
    std::vector<char*> argv{path.data(), const_cast<char*>(scenario.c_str()), nullptr};
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, path.c_str(), &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << exe;
    pids.push_back(pid);
  }
  RanksResult res{std::vector<int>(static_cast<size_t>(world), -1), "", 0};
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
  for (pid_t pid : pids) {
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

}  // namespace ember::test
