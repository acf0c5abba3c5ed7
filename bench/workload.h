// The benchmark registry: named workloads timed in ember and in LibTorch.
//
// A workload is one op family (add, matmul, ...) at fixed shapes. Each library side
// provides a `Setup` per op family: it builds the inputs (outside the timed loop) and
// returns the `Body` that the timed loop calls once per iteration. The shapes live in
// one place (workloads.cpp), so both libraries always run the same problem.
//
// This header includes neither ember nor LibTorch: ember_side.cpp sees only ember,
// torch_side.cpp (the one slow-to-compile translation unit) sees only LibTorch.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ember_bench {

using Dims = std::vector<int64_t>;    // a tensor shape, outermost first
using Body = std::function<void()>;   // one timed iteration
using Setup = std::function<Body()>;  // prepares inputs, returns the timed body

struct Workload {
  std::string name;         // "matmul_512": the contract with reports and CI
  std::string description;  // one line for the README-style table
  double flops = 0;         // floating-point operations per iteration
  double bytes = 0;         // bytes that must move per iteration (inputs read + output written)
  Setup ember;
  Setup libtorch;
  // Threads both libraries run this workload on; 0: the bench's --threads (all cores).
  // The `_1thread` rows set 1, so beside the threaded row they give the parallel efficiency.
  int threads = 0;
};

// Every workload, in report order (defined in workloads.cpp).
const std::vector<Workload>& workloads();

// The seed model's shapes, shared by both sides.
struct SeedShape {
  static constexpr int64_t batch = 32, channels = 3, image = 32, filters = 64, kernel = 3;
  static constexpr int64_t code = 128, vocab = 100, tokens = 16;
  static constexpr int64_t conv_out = image - kernel + 1;         // 30
  static constexpr int64_t flat = filters * conv_out * conv_out;  // 57600
};

// The Fashion-MNIST example's ResNet (examples/fashion_mnist/model.h) and its batch.
struct ResNetShape {
  static constexpr int64_t batch = 128, image = 28, classes = 10, stem = 16;
  static constexpr int64_t widths[3] = {16, 32, 64}, strides[3] = {1, 2, 2};
  static constexpr double lr = 0.1, momentum = 0.9, weight_decay = 5e-4;
};

// examples/char_lm's default GPT (examples/char_lm/model.h; issue 15) and its batch: the
// vocabulary is the 114 bytes of Debian's fortunes, the tokens random.
struct GPTShape {
  static constexpr int64_t batch = 32, context = 128, vocab = 114;
  static constexpr int64_t n_layer = 4, n_head = 4, n_embd = 128;
  static constexpr double lr = 1e-3, beta1 = 0.9, beta2 = 0.99, weight_decay = 0.1;
};

// ---- op families, one Setup factory per library ---------------------------------------
// Inputs are f32 on the CPU, drawn from each library's own randn.
namespace ember_side {
Setup add(Dims a, Dims b);                      // a + b (broadcasting)
Setup matmul(int64_t m, int64_t k, int64_t n);  // (m, k) @ (k, n)
// conv2d(x, w, bias) with stride 1 and `pad` zero padding, then the gradients of
// out.sum() for x, w and bias: x (N, C, H, W), w (K, C, R, S).
Setup conv2d_fwdbwd(Dims x, Dims w, int64_t pad);
// softmax(q k^T * scale) v for q, k, v of the shape qkv (B, H, T, D), then the gradients of
// out.sum() for q, k and v.
Setup attention_fwdbwd(Dims qkv, double scale);
// One optimizer step over `tensors` f32 parameters of `numel` elements with gradients set:
// Adam (lr 1e-3), or SGD with momentum 0.9 (lr 1e-3).
Setup adam_step(int64_t tensors, int64_t numel);
Setup sgd_momentum_step(int64_t tensors, int64_t numel);
// One training step of the seed's captioning model (examples/seed_models.h): conv 3->64
// 3x3 on 32x32 images, linear 57600->128, embedding 100x128, linear 128->100 (and, with
// `attention`, the q/k/v projections and matmul-softmax-matmul of Example 2's decoder);
// batch 32, captions of 16 tokens, Adam at lr 1e-3. The step: zero_grad, forward,
// cross-entropy over output.transpose(1, 2), backward, optimizer step.
Setup seed_train_step(bool attention);
// One training step of the Fashion-MNIST example's ResNet in train mode (batch statistics,
// running statistics updated): zero_grad, forward of a (128, 1, 28, 28) batch,
// cross-entropy against random labels, backward, SGD (momentum 0.9, Nesterov, weight
// decay 5e-4 on every parameter).
Setup resnet_train_step();
// 2-D pooling of x (N, C, H, W), then the gradient of out.sum() for x: max (3x3, stride 2,
// padding 1: the ResNet stem's) or global average (adaptive_avg_pool2d to 1x1).
Setup pool2d_fwdbwd(Dims x, bool max);
// One AdamW step of GPTShape's GPT (issue 15): decay on the 2-D+ parameters only.
Setup gpt_train_step();
}  // namespace ember_side

namespace torch_side {
Setup add(Dims a, Dims b);
Setup matmul(int64_t m, int64_t k, int64_t n);
Setup conv2d_fwdbwd(Dims x, Dims w, int64_t pad);
Setup attention_fwdbwd(Dims qkv, double scale);   // as matmul -> softmax -> matmul
Setup adam_step(int64_t tensors, int64_t numel);  // torch::optim::Adam
Setup sgd_momentum_step(int64_t tensors, int64_t numel);
Setup seed_train_step(bool attention);  // the same model, built from torch::nn modules
Setup resnet_train_step();              // the same ResNet, built from torch::nn modules
Setup pool2d_fwdbwd(Dims x, bool max);
// The same GPT from torch::nn modules; attention as matmul -> causal mask -> softmax ->
// matmul (LibTorch 1.13 has no public scaled_dot_product_attention).
Setup gpt_train_step();

// Sets LibTorch's intra-op thread count; returns LibTorch's description of its
// parallel setup (at::get_parallel_info) for the log.
std::string set_threads(int threads);
// Sets LibTorch's intra-op thread count (and OpenBLAS's) without the description: cheap
// enough to call around each workload that runs on fewer threads.
void set_num_threads(int threads);
std::string version();  // "1.13.1"
// The BLAS LibTorch was built with, from at::show_config()'s BLAS_INFO ("open", "mkl").
std::string blas();
// at::show_config(): LibTorch's build configuration, for the log.
std::string config();
}  // namespace torch_side

}  // namespace ember_bench
