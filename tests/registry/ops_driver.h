// ember_ops: the one driver of the op-case registry (scripts/ops.sh runs it).
//
//   ember_ops [--list] [--device cpu|sim|cuda] [--filter REGEX] [--perf] [--min-time S]
//
// --list prints the selected cases as family/case. The default (check) mode runs each
// case on every built device (or only --device) against its f64 reference, sim in both
// schedules, sim and cuda against the cpu too, with host allocations poisoned, and
// gradcheck in f64 for the differentiable cases; one PASS/FAIL line per case, then a
// summary. --perf times each case on one device (default cpu) and prints ms, GB/s,
// GFLOP/s and the fraction of the machine's roofline.
#pragma once

#include <string>
#include <vector>

#include "registry/op_cases.h"

namespace ember::cases {

struct DriverOptions {
  bool list = false;
  bool perf = false;
  std::string device;       // "" = every built device (check) or cpu (perf)
  std::string filter;       // ECMAScript regex searched in "family/case"
  double min_time = 0.2;    // perf: seconds of timed runs per case, at least
  int min_runs = 3;         // perf: timed runs per case, at least
  bool skip_peaks = false;  // perf: leave the peaks unknown (quick smoke runs)
};

// "family/case": the name --list prints and --filter matches.
std::string full_name(const OpCase& c);

// True when cuda is built into this binary.
bool cuda_built();
// Prints why cuda cannot run and returns the exit status: 0 ("skipped"), or 1 when
// EMBER_REQUIRE_CUDA=1 (a GPU machine, where a missing device is a failure).
int report_missing_cuda();

int run_checks(const std::vector<const OpCase*>& cases, const DriverOptions& opt);
int run_perf(const std::vector<const OpCase*>& cases, const DriverOptions& opt);

}  // namespace ember::cases
