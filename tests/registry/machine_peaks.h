// The machine's roofline for ember_ops --perf. The host's is measured once: peak f32
// FLOP/s (an FMA loop on every OpenMP thread) and memory bandwidth (a stream-style copy of
// a buffer several times the last-level cache). A case's roofline fraction is its time
// lower bound, max(flops / peak_flops, bytes / peak_bandwidth), over its measured time.
#pragma once

namespace ember::cases {

struct MachinePeaks {
  double flops = 0;       // f32 FLOP/s (an FMA counts 2); 0 when unknown
  double bandwidth = 0;   // bytes/s, read + written; 0 when unknown
  double copy_bytes = 0;  // host: the size of the copied buffer
  int threads = 0;        // host: the threads of the FMA loop and the copy
};

MachinePeaks measure_host_peaks();
// The cuda device's datasheet peaks from its attributes (cuda_peaks.cpp, cuda builds only).
MachinePeaks cuda_device_peaks();

// The fraction of the roofline a run of `seconds` reaches; negative when the peaks are
// unknown or the case does no work.
double roofline_fraction(const MachinePeaks& peaks, double flops, double bytes, double seconds);

}  // namespace ember::cases
