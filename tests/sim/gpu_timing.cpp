// ember_gpu_timing: times a few large workloads on a device and prints one JSON object per
// workload (milliseconds, GB/s, TFLOP/s). scripts/gpu_check.sh runs it on `cuda` next to
// the same workloads in PyTorch; ctest runs it on `sim` with --quick to keep it working.
//
//   ember_gpu_timing [--device cuda|sim] [--quick] [--repeat N]
//
// Each workload is run once to warm up (allocations cached, cuBLAS loaded), then N
// times, each timed on the host around the op and a device synchronize; the median is
// reported. FLOPs and bytes count the minimum work (inputs read once, output written once).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tensor/ops.h"

namespace {

using namespace ember;

struct Workload {
  std::string name;
  double flops, bytes;
  std::function<Tensor()> run;
};

double median_ms(const Workload& w, Device device, int repeat) {
  Backend& be = backend(device);
  w.run();
  be.synchronize();
  std::vector<double> ms;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    Tensor out = w.run();
    be.synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cuda";
  bool quick = false;
  int repeat = 20;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      device_name = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: ember_gpu_timing [--device cuda|sim] [--quick] [--repeat N]\n");
      return 2;
    }
  }
  try {
    const Device device(device_name);
    if (!backend_available(device.type)) {
      std::fprintf(stderr, "ember_gpu_timing: device %s is not available\n", device_name.c_str());
      return 1;
    }
    if (quick) repeat = 1;
    const int64_t n = quick ? 4096 : int64_t{1} << 26;      // elementwise elements
    const int64_t r = quick ? 64 : 8192, c = quick ? 96 : 8192;  // rows x cols
    const int64_t m = quick ? 64 : 4096;                      // square matmul side
    const TensorOptions opt{.dtype = DType::f32, .device = device};
    manual_seed(0);
    Tensor a = randn({n}, opt), b = randn({n}, opt), x = randn({r, c}, opt);
    Tensor p = randn({m, m}, opt), q = randn({m, m}, opt);
    const double f4 = 4.0, nd = static_cast<double>(n), rc = static_cast<double>(r * c);
    const double md = static_cast<double>(m);
    std::vector<Workload> ws = {
        {"add_f32", nd, 3 * nd * f4, [&] { return a + b; }},
        {"sum_rows_f32", rc, (rc + static_cast<double>(r)) * f4, [&] { return x.sum({1}); }},
        {"softmax_rows_f32", 5 * rc, 2 * rc * f4, [&] { return x.softmax(1); }},
        {"randn_f32", 40 * nd, nd * f4, [&] { return randn({n}, opt); }},
        {"matmul_f32", 2 * md * md * md, 3 * md * md * f4, [&] { return p.matmul(q); }},
    };
    for (const Workload& w : ws) {
      const double ms = median_ms(w, device, repeat);
      std::printf("{\"name\": \"%s\", \"device\": \"%s\", \"gemm\": \"%s\", \"ms\": %.6g, \"gbps\": %.6g, "
                  "\"tflops\": %.6g}\n",
                  w.name.c_str(), device.str().c_str(),
                  std::getenv("EMBER_CUDA_GEMM") != nullptr ? std::getenv("EMBER_CUDA_GEMM") : "default", ms,
                  w.bytes / ms * 1e-6, w.flops / ms * 1e-9);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember_gpu_timing: %s\n", e.what());
    return 1;
  }
  return 0;
}
