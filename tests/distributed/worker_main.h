// The shared part of the distributed test workers (dist_worker.cpp, ddp_worker.cpp), one
// rank each, started by run_ranks.h: EXPECT_W counts a failed check and says on stderr which
// rank and line; worker_main joins the gloo group (timeout from EMBER_TEST_TIMEOUT_MS, default
// 20 s) and runs the scenario argv[1] names. Exit code 0: as expected; 1: a check failed or
// something threw (stderr says what); 2: a bad command line.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "distributed/process_group.h"

namespace ember::test {

inline int g_failures = 0;
inline int g_rank = 0;

#define EXPECT_W(cond, ...)                                                                 \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      ++ember::test::g_failures;                                                            \
      std::fprintf(stderr, "rank %d: line %d: %s: ", ember::test::g_rank, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                    \
      std::fprintf(stderr, "\n");                                                           \
    }                                                                                       \
  } while (0)

// What a scenario returns when its checks are done: 0 when none failed.
inline int worker_result() { return g_failures == 0 ? 0 : 1; }

using Scenario = std::function<int(std::shared_ptr<distributed::ProcessGroup>)>;

inline int worker_main(int argc, char** argv, const std::map<std::string, Scenario>& scenarios) {
  if (argc < 2 || !scenarios.count(argv[1])) {
    std::string names;
    for (const auto& [name, run] : scenarios) names += (names.empty() ? "" : "|") + name;
    std::fprintf(stderr, "usage: %s %s\n", argv[0], names.c_str());
    return 2;
  }
  const char* ms = std::getenv("EMBER_TEST_TIMEOUT_MS");
  const auto timeout = std::chrono::milliseconds(ms ? std::atoll(ms) : 20000);
  try {
    auto pg = distributed::init_process_group({.backend = "gloo", .timeout = timeout});
    g_rank = static_cast<int>(pg->rank());
    return scenarios.at(argv[1])(pg);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", g_rank, e.what());
    return 1;
  }
}

}  // namespace ember::test
