// The cuda device's roofline from its attributes (built with the cuda device only):
// peak f32 FLOP/s = 2 x FP32 lanes per SM x SMs x the peak clock, and bandwidth =
// 2 (double data rate) x the peak memory clock x the bus width, as NVIDIA's bandwidth
// sample computes it. These are datasheet peaks, not measured ones: a case's roofline
// fraction on cuda is against what the hardware promises.
#include <cuda_runtime_api.h>

#include "registry/machine_peaks.h"

namespace ember::cases {
namespace {

// FP32 FMA lanes per multiprocessor by compute capability (CUDA programming guide,
// "Arithmetic Instructions"); 0 when not known.
int fp32_lanes_per_sm(int major, int minor) {
  if (major == 6) return minor == 0 ? 64 : 128;
  if (major == 7) return 64;
  if (major == 8) return minor == 0 ? 64 : 128;
  if (major >= 9) return 128;
  return 0;
}

int attribute(cudaDeviceAttr a) {
  int v = 0;
  if (cudaDeviceGetAttribute(&v, a, 0) != cudaSuccess) {
    cudaGetLastError();  // clear it: the peaks are then unknown, nothing else fails
    return 0;
  }
  return v;
}

}  // namespace

MachinePeaks cuda_device_peaks() {
  MachinePeaks p;
  const int lanes = fp32_lanes_per_sm(attribute(cudaDevAttrComputeCapabilityMajor),
                                      attribute(cudaDevAttrComputeCapabilityMinor));
  const double sms = attribute(cudaDevAttrMultiProcessorCount);
  const double clock_hz = 1e3 * attribute(cudaDevAttrClockRate);
  const double mem_clock_hz = 1e3 * attribute(cudaDevAttrMemoryClockRate);
  const double bus_bytes = attribute(cudaDevAttrGlobalMemoryBusWidth) / 8.0;
  p.flops = 2.0 * lanes * sms * clock_hz;
  p.bandwidth = 2.0 * mem_clock_hz * bus_bytes;
  return p;
}

}  // namespace ember::cases
