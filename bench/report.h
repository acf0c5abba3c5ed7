// Collects Google Benchmark runs into one row per workload (ember vs LibTorch) and
// writes them as a table and as JSON.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "roofline.h"
#include "workload.h"

namespace ember_bench {

// Prints what the console reporter prints and remembers each benchmark's time.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  explicit CollectingReporter(bool color) : ConsoleReporter(color ? OO_ColorTabular : OO_Tabular) {}
  void ReportRuns(const std::vector<Run>& runs) override;

  // Seconds per iteration of a benchmark ("ember/matmul_512"): the median aggregate
  // when repetitions were asked for, else the median of the iteration runs.
  std::optional<double> seconds(const std::string& benchmark) const;
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::map<std::string, std::vector<double>> iteration_seconds_;
  std::map<std::string, double> median_seconds_;
  std::vector<std::string> errors_;
};

struct Row {
  const Workload* workload;
  std::optional<double> ember_s, libtorch_s;  // seconds per iteration; empty if not run
};

// The machine's roofline on all the bench's threads and on one (the `_1thread` rows).
struct Rooflines {
  int threads = 0;
  Roofline all, one;
  const Roofline& of(const Workload& w) const { return w.threads == 1 ? one : all; }
};

// Prints both rooflines, as measured.
void print_rooflines(std::ostream& os, const Rooflines& roofs);

std::vector<Row> collect_rows(const CollectingReporter& reporter);
void print_table(std::ostream& os, const std::vector<Row>& rows, const Rooflines& roofs);

// "AMD EPYC 7B13, 2 cores, Linux 6.1.0-18-amd64 x86_64, Debian GNU/Linux 12 (bookworm)"
std::string machine_description();

// The 1-minute load average (/proc/loadavg), when known.
std::optional<double> load_average();

// Peak resident memory of a fresh process running a workload's setup and `iterations`
// iterations, for each library (VmHWM, MiB).
struct PeakRss {
  std::string workload;
  int iterations = 0;
  double ember_mb = 0, libtorch_mb = 0;
  // Resident before the workload's setup (the program with both libraries loaded).
  double ember_base_mb = 0, libtorch_base_mb = 0;
  // The peak with each library in a program of its own (ember_standalone,
  // libtorch_standalone): what a program using only that library holds.
  double ember_alone_mb = 0, libtorch_alone_mb = 0;
};

// Writes {"machine": ..., "threads": ..., "libtorch_version": ..., "libtorch_blas": ...,
// "roofline": {...}, "results": [...]}, plus "<workload>_peak_rss_mb": {"ember": ...,
// "libtorch": ..., "ember_base": ..., "libtorch_base": ..., "ember_alone": ...,
// "libtorch_alone": ..., "iterations": ...} for each peak. Throws std::runtime_error when the file
// cannot be written.
void write_json(const std::string& path, const std::vector<Row>& rows, const Rooflines& roofs,
                const std::vector<PeakRss>& peaks = {});

}  // namespace ember_bench
