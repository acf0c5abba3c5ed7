// ember_gpu_timing: times a few large workloads on a device and prints one JSON object per
// workload (milliseconds, GB/s, TFLOP/s). scripts/gpu_check.sh runs it on `cuda` next to
// the same workloads in PyTorch; ctest runs it on `sim` with --quick to keep it working.
//
//   ember_gpu_timing [--device cuda|sim] [--quick] [--repeat N] [--workloads base|conv|all]
//
// `base`: add, row sum, softmax, randn, matmul. `conv`: ResNet-50's 3x3 convolutions at
// batch 32 (64 channels at 56x56, 128 at 28x28, 256 at 14x14, 512 at 7x7; stride 1,
// padding 1), each forward + backward-input + backward-weight (the three primitives of a
// training step, bias left out), run by whatever EMBER_CONV and EMBER_CONV_TF32 select;
// the rows say which ("conv": "ember", "ember_tf32" or "cudnn").
//
// Each workload is run once to warm up (allocations cached, cuBLAS loaded), then N
// times, each timed on the host around the op and a device synchronize; the median is
// reported. FLOPs and bytes count the minimum work (inputs read once, output written once).
// Attention rows (attention_fwdbwd_d{64,128}_{f32,bf16}): scaled_dot_product_attention
// forward and backward (autograd::grad of q, k, v) at batch 4, 16 heads, sequence 2048, not
// causal; FLOPs counted as FlashAttention's benchmarks do, 4 B H T^2 D for the forward and
// 2.5 times that for the backward. The bf16 rows run ember's bf16 tensor-core path (f32
// tensors, bf16 operands in shared memory) and exist on cuda only.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/backends.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace {

using namespace ember;

struct Workload {
  std::string name;
  double flops, bytes;
  std::function<Tensor()> run;
  bool bf16_attention = false;  // run with the bf16 attention kernels switched on
};

// Switches the bf16 attention kernels on or off for a scope.
class Bf16Attention {
 public:
  explicit Bf16Attention(bool on) {
    backends::cuda::attention = on ? backends::AttentionPath::bf16 : backends::AttentionPath::f32;
  }
  ~Bf16Attention() { backends::cuda::attention = before_; }
  Bf16Attention(const Bf16Attention&) = delete;
  Bf16Attention& operator=(const Bf16Attention&) = delete;

 private:
  backends::AttentionPath before_ = backends::cuda::attention;
};

double median_ms(const Workload& w, Device device, int repeat) {
  Backend& be = backend(device);
  const Bf16Attention bf16(w.bf16_attention);
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

// ResNet-50's 3x3 layers (quick: small stand-ins that keep the program working on sim).
std::vector<Workload> conv_workloads(const TensorOptions& opt, bool quick) {
  struct Layer {
    int64_t c, hw;
  };
  const std::vector<Layer> layers =
      quick ? std::vector<Layer>{{8, 8}, {16, 4}} : std::vector<Layer>{{64, 56}, {128, 28}, {256, 14}, {512, 7}};
  const int64_t n = quick ? 2 : 32;
  const Conv2dParams p{.pad_h = 1, .pad_w = 1};
  std::vector<Workload> ws;
  for (const Layer& l : layers) {
    Tensor x = randn({n, l.c, l.hw, l.hw}, opt), w = randn({l.c, l.c, 3, 3}, opt);
    Tensor g = randn({n, l.c, l.hw, l.hw}, opt);
    const double macs = static_cast<double>(n * l.c * l.hw * l.hw * l.c * 9);
    const double io = static_cast<double>(2 * n * l.c * l.hw * l.hw + l.c * l.c * 9) * 4.0;  // x, out, w
    ws.push_back({"conv3x3_c" + std::to_string(l.c) + "_" + std::to_string(l.hw) + "_fwdbwd", 3 * 2 * macs, 3 * io,
                  [x, w, g, p] {
                    raw::conv2d_forward(x, w, Tensor(), p);
                    raw::conv2d_backward_input(x.sizes(), g, w, p);
                    return raw::conv2d_backward_weight(w.sizes(), g, x, p);
                  }});
  }
  return ws;
}

// Which convolution the environment selects (tensor/backends.h).
std::string conv_choice(const Device& device) {
  const char* impl = std::getenv("EMBER_CONV");
  const char* tf32 = std::getenv("EMBER_CONV_TF32");
  if (!device.is_cuda() || (impl != nullptr && std::strcmp(impl, "ember") == 0))
    return (device.is_cuda() && tf32 != nullptr && std::strcmp(tf32, "1") == 0) ? "ember_tf32" : "ember";
  return "cudnn";
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cuda";
  bool quick = false;
  int repeat = 20;
  std::string which = "all";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      device_name = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--workloads") == 0 && i + 1 < argc &&
               (std::strcmp(argv[i + 1], "base") == 0 || std::strcmp(argv[i + 1], "conv") == 0 ||
                std::strcmp(argv[i + 1], "all") == 0)) {
      which = argv[++i];
    } else {
      std::fprintf(stderr, "usage: ember_gpu_timing [--device cuda|sim] [--quick] [--repeat N] "
                           "[--workloads base|conv|all]\n");
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
    std::vector<Workload> ws;
    if (which != "conv") ws = {
        {"add_f32", nd, 3 * nd * f4, [&] { return a + b; }},
        {"sum_rows_f32", rc, (rc + static_cast<double>(r)) * f4, [&] { return x.sum({1}); }},
        {"softmax_rows_f32", 5 * rc, 2 * rc * f4, [&] { return x.softmax(1); }},
        {"randn_f32", 40 * nd, nd * f4, [&] { return randn({n}, opt); }},
        {"matmul_f32", 2 * md * md * md, 3 * md * md * f4, [&] { return p.matmul(q); }},
    };
    // Attention: q, k, v (B, H, T, D), forward + backward.
    const int64_t ab = quick ? 1 : 4, ah = quick ? 2 : 16, at = quick ? 40 : 2048;
    std::vector<Tensor> attn_inputs;  // q, k, v, grad_out per head dim
    for (int64_t d : {int64_t{64}, int64_t{128}}) {
      if (which == "conv") break;
      for (int i = 0; i < 4; ++i) attn_inputs.push_back(randn({ab, ah, at, d}, opt));
      const size_t base = attn_inputs.size() - 4;
      const double bht = static_cast<double>(ab * ah * at), dd = static_cast<double>(d);
      const double flops = 3.5 * 4 * bht * static_cast<double>(at) * dd, bytes = 12 * bht * dd * f4;
      auto run = [&attn_inputs, base] {
        Tensor aq = attn_inputs[base].detach().requires_grad_();
        Tensor ak = attn_inputs[base + 1].detach().requires_grad_();
        Tensor av = attn_inputs[base + 2].detach().requires_grad_();
        Tensor y = scaled_dot_product_attention(aq, ak, av);
        return autograd::grad({y}, {aq, ak, av}, {attn_inputs[base + 3]})[0];
      };
      const std::string name = "attention_fwdbwd_d" + std::to_string(d);
      ws.push_back({name + "_f32", flops, bytes, run});
      if (device.is_cuda()) ws.push_back({name + "_bf16", flops, bytes, run, true});
    }
    const size_t base_rows = ws.size();
    if (which != "base")
      for (Workload& w : conv_workloads(opt, quick)) ws.push_back(std::move(w));
    const char* gemm = std::getenv("EMBER_CUDA_GEMM");
    const std::string gemm_field = std::string("\"gemm\": \"") + (gemm != nullptr ? gemm : "default") + "\"";
    const std::string conv_field = "\"conv\": \"" + conv_choice(device) + "\"";
    for (size_t i = 0; i < ws.size(); ++i) {
      const Workload& w = ws[i];
      const double ms = median_ms(w, device, repeat);
      const std::string& choice = i < base_rows ? gemm_field : conv_field;
      std::printf("{\"name\": \"%s\", \"device\": \"%s\", %s, \"ms\": %.6g, \"gbps\": %.6g, \"tflops\": %.6g}\n",
                  w.name.c_str(), device.str().c_str(), choice.c_str(), ms, w.bytes / ms * 1e-6, w.flops / ms * 1e-9);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember_gpu_timing: %s\n", e.what());
    return 1;
  }
  return 0;
}
