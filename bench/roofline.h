// The machine's roofline, measured by the bench itself: peak f32 FLOP/s (an FMA loop) and
// memory bandwidth (stream-style copy, triad and in-place update over arrays far larger
// than the caches).
// A row's roofline fraction is the time its declared FLOPs and bytes need at these rates
// (the larger of the two) over the time it took.
#pragma once

#include <optional>

namespace ember_bench {

struct Roofline {
  double flops = 0;  // f32 FLOP/s (an FMA counts 2)
  double bytes = 0;  // bytes/s, the best of copy, triad and update (STREAM's counting: no
                     // write-allocate traffic; see roofline.cpp)
  double copy_bytes = 0, triad_bytes = 0, update_bytes = 0;
};

// Measured with `threads` OpenMP threads (ember's runtime), best of a few trials.
Roofline measure_roofline(int threads);

// The fraction of the roofline that `seconds` per iteration reaches for a workload of
// `flops` and `bytes` per iteration: 1 means at the machine's limit.
std::optional<double> roofline_fraction(const Roofline& roof, double flops, double bytes,
                                        std::optional<double> seconds);

}  // namespace ember_bench
