// ember::backends: process-wide choices of how the GPU devices compute, in the spirit of
// torch.backends (not to be confused with tensor/backend.h, the device interface).
//
//   ember::backends::cuda::matmul = ember::backends::GemmImpl::ember;  // no cuBLAS
//   ember::backends::sim::schedule = ember::backends::SimSchedule::shuffled;
//   ember::backends::cuda::matmul_allow_tf32 = true;  // torch.backends.cuda.matmul.allow_tf32
//
// Each option is a Setting: typed, read and written from any thread (an atomic), and
// read by the kernels at each call, so a change applies to the next op. Its initial value
// may come from an environment variable, read once, at the option's first use, and only
// in tensor/backends.cpp; a value set from C++ replaces it. The defaults and variables:
//
//   option                   default     environment
//   cuda::matmul             cublas      EMBER_CUDA_GEMM=tiled (or =ember)
//   cuda::conv               automatic   EMBER_CONV=cudnn|ember (anything else: ValueError)
//   cuda::matmul_allow_tf32  false       EMBER_MATMUL_TF32=1 (else off)
//   cudnn::allow_tf32        true        EMBER_CONV_TF32=1 (anything else: off)
//   cuda::attention          f32         EMBER_ATTENTION_BF16=1
//   cuda::sync_launches      false       EMBER_CUDA_SYNC=1
//   cudnn::benchmark         false       EMBER_CUDNN_BENCHMARK=1
//   sim::schedule, sim::seed sequential  EMBER_SIM_SCHEDULE=shuffled[:seed] (seed 0x5EED)
//   sim::workers             0           EMBER_SIM_WORKERS=N (at least 1)
//   sim::stack_kb            0           EMBER_SIM_STACK_KB=N (at least 16)
//
// The cuda options steer the kernels of kernels/cuda wherever they run: the `cuda` device,
// and the `sim` device for what it can emulate (the attention path); cuBLAS and cuDNN
// exist only on `cuda`, so `sim` always runs ember's own GEMM and convolution.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

namespace ember::backends {

// One option: a value of type T, with its environment variable.
template <typename T>
class Setting {
 public:
  // Turns the variable's text into *out; returns false to keep the default.
  using Parser = bool (*)(const char* text, T* out);
  constexpr Setting(const char* env, T initial, Parser parse) noexcept
      : env_(env), parse_(parse), value_(initial) {}
  Setting(const Setting&) = delete;
  Setting& operator=(const Setting&) = delete;

  T get() const;
  void set(T value);
  Setting& operator=(T value) {
    set(value);
    return *this;
  }
  operator T() const { return get(); }  // reads like the value: `if (sim::workers > 0)`

  // The environment variable that gives the initial value.
  const char* env_name() const { return env_; }

 private:
  void load() const;  // applies the environment variable, once

  const char* env_;
  Parser parse_;
  mutable std::atomic<T> value_;
  mutable std::once_flag loaded_;
};

// The GEMM behind matmul on `cuda`: cuBLAS, or ember's tiled kernel (kernels/cuda/matmul.cu,
// which `sim` always runs).
enum class GemmImpl : uint8_t { cublas, ember };

// f32 conv2d on `cuda`: cuDNN where it loads, else ember's implicit-GEMM kernels
// (automatic); or one named: cudnn (a DeviceError where cuDNN cannot be loaded, no quiet
// fallback) or ember (kernels/cuda/conv2d.cu). f64, and everything on `sim`, runs ember's.
enum class ConvImpl : uint8_t { automatic, cudnn, ember };

// f32 attention: the f32 SIMT kernels, or the bf16 tensor-core kernels (products of bf16
// roundings, f32 accumulation) where the head dims are equal and 32, 64 or 128 on sm_80+;
// `sim` emulates those lane by lane. Other shapes and dtypes take the SIMT kernels.
enum class AttentionPath : uint8_t { f32, bf16 };

// The order in which the simulator resumes a block's threads: thread-index order, or a
// random order between barriers (reseeded per block from the seed), which turns a missing
// __syncthreads() into a wrong answer.
enum class SimSchedule : uint8_t { sequential, shuffled };

namespace cuda {
extern Setting<GemmImpl> matmul;
extern Setting<ConvImpl> conv;
// torch.backends.cuda.matmul.allow_tf32 (issue 16): f32 matmul on `cuda` may use TF32
// tensor cores (cuBLAS's TF32 math mode, sm_80+). Off by default, as PyTorch: a GEMM's
// long sums lose most to TF32's 10-bit mantissa. ember's tiled GEMM ignores it.
extern Setting<bool> matmul_allow_tf32;
extern Setting<AttentionPath> attention;
// Synchronize after every kernel launch, so an error names the kernel that caused it.
extern Setting<bool> sync_launches;
}  // namespace cuda

namespace cudnn {
// torch.backends.cudnn.benchmark: time cuDNN's convolution algorithms for each new shape and
// keep the fastest, instead of taking the heuristics' first choice. Off by default; the
// Trainer's `benchmark` option sets it (false when deterministic and unset).
extern Setting<bool> benchmark;
// torch.backends.cudnn.allow_tf32 (issue 16): f32 convolutions on `cuda` may use TF32
// tensor cores (sm_80+), in cuDNN and ember's implicit-GEMM kernels alike. On by default,
// as PyTorch; EMBER_CONV_TF32 (the older switch) still sets the initial value.
extern Setting<bool> allow_tf32;
}  // namespace cudnn

namespace cuda {
// The former name of cudnn::allow_tf32 (the same setting).
inline Setting<bool>& conv_tf32 = cudnn::allow_tf32;
}  // namespace cuda

namespace sim {
extern Setting<SimSchedule> schedule;
extern Setting<uint64_t> seed;  // of the shuffled schedule
// OS threads that run the blocks of one launch; 0: OpenMP's thread count.
extern Setting<int> workers;
// Stack of each simulated thread (fiber) created from now on, in KiB (at least 16); 0: the
// simulator's default, 64 KiB (256 under AddressSanitizer).
extern Setting<int> stack_kb;
}  // namespace sim

extern template class Setting<bool>;
extern template class Setting<int>;
extern template class Setting<uint64_t>;
extern template class Setting<GemmImpl>;
extern template class Setting<ConvImpl>;
extern template class Setting<AttentionPath>;
extern template class Setting<SimSchedule>;

}  // namespace ember::backends
