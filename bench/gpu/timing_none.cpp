// The build without the cuda device: no events (timing.h). `cuda` tensors cannot exist in
// this build, so time_runs never gets here; the stub keeps the call site one path.
#include "timing.h"

namespace ember::gpubench {

bool have_cuda_events() { return false; }

std::vector<double> time_runs_cuda_events(int, const std::function<void()>&) {
  fail<DeviceError>("ember_gpu_bench", "this build has no cuda device (EMBER_CUDA=OFF)");
}

}  // namespace ember::gpubench
