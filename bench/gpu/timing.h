// How ember_gpu_bench times a workload: warm-up runs, then timed runs, each alone.
//
// On `cuda` each timed run sits between two CUDA events recorded on ember's stream (the
// one stream every op of the device runs on), as torch.cuda.Event does on PyTorch's
// current stream: the time is the stream's, from the first kernel the run queues to the
// end of its last, including any gap in which the GPU waited for the host to launch.
// Runs are queued back to back without a synchronization between them; the host waits
// once, after the last, and reads every pair. On `cpu` and `sim` (no events) each run is
// the wall time from a synchronized device to a synchronized device.
#pragma once

#include <functional>
#include <vector>

#include <ember/ember.h>

namespace ember::gpubench {

// Runs fn `warmup` times, synchronizes, then times `runs` runs; returns their times in
// milliseconds, in run order.
std::vector<double> time_runs(Device device, int warmup, int runs, const std::function<void()>& fn);

// The median of the times (the mean of the two middle ones for an even count).
double median(std::vector<double> ms);

// Whether this build can time `cuda` with events (EMBER_CUDA=ON).
bool have_cuda_events();

// The event timer of the cuda build (timing_cuda.cpp); only called when have_cuda_events().
std::vector<double> time_runs_cuda_events(int runs, const std::function<void()>& fn);

}  // namespace ember::gpubench
