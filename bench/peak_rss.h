// Peak resident memory of one workload in a fresh process: the child side (run the
// workload's setup and kPeakRssIterations iterations of one library, print what
// /proc/self/status says) and the parent side (run a program as that child, read it).
// ember_bench's own children have both libraries loaded; ember_standalone's and
// libtorch_standalone's have one (docs/performance.md, "Peak memory, each library alone").
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "workload.h"

namespace ember_bench {

inline constexpr int kPeakRssIterations = 20;

// A line of /proc/self/status in MiB: "VmHWM" (peak resident set) or "VmRSS" (now).
inline double status_mb(std::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ':')
      return std::strtod(line.c_str() + key.size() + 1, nullptr) / 1024.0;
  return 0;
}

// The child side: spec is "WORKLOAD:LIBRARY" (ember or libtorch); `set_threads(n)` sets the
// library's thread count for a workload with its own. Prints "base_rss_mb X" (resident
// before the workload's setup: the program with its libraries loaded) and "peak_rss_mb Y".
template <typename SetThreads>
int run_peak_rss_child(const std::string& spec, SetThreads&& set_threads) {
  const size_t colon = spec.find(':');
  const std::string name = spec.substr(0, colon),
                    library = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (library != "ember" && library != "libtorch") {
    std::cerr << "peak-rss child: expected WORKLOAD:ember or WORKLOAD:libtorch, got " << spec
              << "\n";
    return 2;
  }
  for (const Workload& w : workloads()) {
    if (w.name != name) continue;
    if (w.threads != 0) set_threads(w.threads);
    const double base = status_mb("VmRSS");
    Body body = library == "ember" ? w.ember() : w.libtorch();
    for (int i = 0; i < kPeakRssIterations; ++i) body();
    std::cout << "base_rss_mb " << base << "\npeak_rss_mb " << status_mb("VmHWM") << "\n";
    return 0;
  }
  std::cerr << "peak-rss child: no workload " << name << "\n";
  return 2;
}

// A peak-memory child's resident MiB: before the workload, and the peak.
struct ChildRss {
  double base_mb = 0, peak_mb = 0;
};

// This program's path (/proc/self/exe), or `sibling` in the same folder.
inline std::optional<std::string> program_path(const std::string& sibling = "") {
  char exe[4096];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (len <= 0) return std::nullopt;
  std::string path(exe, static_cast<size_t>(len));
  if (sibling.empty()) return path;
  const size_t slash = path.rfind('/');
  return path.substr(0, slash + 1) + sibling;
}

// Runs `program` as a peak-memory child of `workload` in `library` on `threads` threads.
inline std::optional<ChildRss> child_peak_rss(const std::string& program,
                                              const std::string& workload,
                                              const std::string& library, int threads) {
  const std::string cmd = "'" + program + "' --threads " + std::to_string(threads) +
                          " --peak-rss-child " + workload + ":" + library;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::optional<double> base, peak;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), pipe) != nullptr) {
    const std::string_view line(buf);
    if (line.starts_with("base_rss_mb ")) base = std::strtod(buf + 12, nullptr);
    if (line.starts_with("peak_rss_mb ")) peak = std::strtod(buf + 12, nullptr);
  }
  if (pclose(pipe) != 0 || !base || !peak) return std::nullopt;
  return ChildRss{*base, *peak};
}

}  // namespace ember_bench
