// The list of workloads. Names are a contract (reports, CI, bench/results/): add new
// ones, never rename. FLOPs and bytes are per iteration and count the minimum work:
// every input element read once and every output element written once.
#include "workload.h"

namespace ember_bench {
namespace {

constexpr double kF32 = 4;  // bytes per f32 element

double numel(const Dims& d) {
  double n = 1;
  for (int64_t s : d) n *= static_cast<double>(s);
  return n;
}

Workload add(std::string name, std::string description, const Dims& a, const Dims& b,
             const Dims& out) {
  return {std::move(name),
          std::move(description),
          numel(out),
          kF32 * (numel(a) + numel(b) + numel(out)),
          ember_side::add(a, b),
          torch_side::add(a, b)};
}

Workload matmul(std::string name, std::string description, int64_t m, int64_t k, int64_t n) {
  const double dm = static_cast<double>(m), dk = static_cast<double>(k),
               dn = static_cast<double>(n);
  return {std::move(name),
          std::move(description),
          2 * dm * dk * dn,
          kF32 * (dm * dk + dk * dn + dm * dn),
          ember_side::matmul(m, k, n),
          torch_side::matmul(m, k, n)};
}

// conv2d forward + backward (x, w and bias) at stride 1: FLOPs of the three GEMM-shaped
// products, 2 N K P Q C R S each; bytes of x, w, bias read, out written, and dx, dw, dbias
// written.
Workload conv2d_fwdbwd(std::string name, std::string description, const Dims& x, const Dims& w,
                       int64_t pad) {
  const double P = static_cast<double>(x[2] + 2 * pad - w[2] + 1),
               Q = static_cast<double>(x[3] + 2 * pad - w[3] + 1);
  const double out = static_cast<double>(x[0] * w[0]) * P * Q;
  const double macs = out * static_cast<double>(w[1] * w[2] * w[3]);
  return {std::move(name),
          std::move(description),
          3 * 2 * macs,
          kF32 * (2 * numel(x) + 2 * numel(w) + 2 * static_cast<double>(w[0]) + out),
          ember_side::conv2d_fwdbwd(x, w, pad),
          torch_side::conv2d_fwdbwd(x, w, pad)};
}

// Attention forward + backward over (B, H, T, D) operands: six T x T x D products
// (2 forward, 4 backward) of 2 B H T^2 D FLOPs each; bytes of q, k, v read, out written,
// dq, dk, dv written.
Workload attention_fwdbwd(std::string name, std::string description, const Dims& qkv,
                          double scale) {
  const double bh = static_cast<double>(qkv[0] * qkv[1]), t = static_cast<double>(qkv[2]),
               d = static_cast<double>(qkv[3]);
  return {std::move(name),
          std::move(description),
          6 * 2 * bh * t * t * d,
          kF32 * 7 * numel(qkv),
          ember_side::attention_fwdbwd(qkv, scale),
          torch_side::attention_fwdbwd(qkv, scale)};
}

// One optimizer step over tensors x numel f32 parameters. Adam reads param, grad and both
// moments and writes param and moments: 28 bytes and about 12 FLOPs per parameter. SGD
// with momentum reads param, grad, buffer and writes param, buffer: 20 bytes, 4 FLOPs.
Workload optimizer_step(std::string name, std::string description, int64_t tensors, int64_t n,
                        bool adam) {
  const double params = static_cast<double>(tensors * n);
  return {std::move(name),
          std::move(description),
          params * (adam ? 12.0 : 4.0),
          params * (adam ? 28.0 : 20.0),
          adam ? ember_side::adam_step(tensors, n) : ember_side::sgd_momentum_step(tensors, n),
          adam ? torch_side::adam_step(tensors, n) : torch_side::sgd_momentum_step(tensors, n)};
}

// One seed training step: FLOPs of the forward products (conv, the 57600x128 linear, the
// output projection, attention's three projections and two T x T products) times three
// (forward, and the two gradient products of the backward); bytes of the parameters and
// Adam's state (28 per parameter) and the inputs.
Workload seed_train_step(std::string name, std::string description, bool attention) {
  using S = SeedShape;
  const double n = S::batch, code = S::code, vocab = S::vocab, t = S::tokens;
  const double conv_macs =
      n * S::filters * S::conv_out * S::conv_out * S::channels * S::kernel * S::kernel;
  const double linear_macs = n * S::flat * code + n * t * code * vocab;
  const double attention_macs = attention ? 3 * n * code * code + 2 * n * n * code : 0;
  const double params = S::filters * (S::channels * S::kernel * S::kernel + 1) +
                        (S::flat + 1) * code + vocab * code + (code + 1) * vocab +
                        (attention ? 3 * (code + 1) * code : 0);
  const double inputs = n * S::channels * S::image * S::image + 2 * n * t;
  return {std::move(name),
          std::move(description),
          3 * 2 * (conv_macs + linear_macs + attention_macs),
          28 * params + kF32 * inputs,
          ember_side::seed_train_step(attention),
          torch_side::seed_train_step(attention)};
}

// One ResNet training step: FLOPs of the convolutions and fc (forward MACs x 2, times
// three for the forward and the two gradient products of the backward); bytes of the
// parameters with SGD's momentum state (20 per parameter) and the input images.
Workload resnet_train_step(std::string name, std::string description) {
  using S = ResNetShape;
  const double n = S::batch;
  double hw = S::image * S::image;            // the current feature map's pixels
  double macs = n * S::stem * hw * 1 * 9;     // conv1, 1 -> 16
  double params = S::stem * 9 + 2 * S::stem;  // conv1 and bn1
  double in = S::stem;
  for (int i = 0; i < 3; ++i) {
    const double out = S::widths[i];
    hw /= static_cast<double>(S::strides[i] * S::strides[i]);
    macs += n * out * hw * (in * 9 + out * 9);  // the block's two 3x3 convolutions
    params += (in + out) * out * 9 + 4 * out;   // their weights, bn1 and bn2
    if (S::strides[i] != 1 || in != out) {      // 1x1 downsample and its BatchNorm2d
      macs += n * out * hw * in;
      params += in * out + 2 * out;
    }
    in = out;
  }
  macs += n * in * S::classes;
  params += (in + 1) * S::classes;
  return {std::move(name),
          std::move(description),
          3 * 2 * macs,
          20 * params + kF32 * n * S::image * S::image,
          ember_side::resnet_train_step(),
          torch_side::resnet_train_step()};
}

// Pooling forward + backward of sum(): max 3x3/2 pad 1 reads x, writes out and indices
// (i64), reads the gradient and indices, writes dx (9 comparisons per output); the global
// average reads x, writes one mean per plane, writes dx (one add per element).
Workload pool2d_fwdbwd(std::string name, std::string description, const Dims& x, bool max) {
  const double in = numel(x);
  const double out = max ? static_cast<double>(x[0] * x[1]) * static_cast<double>((x[2] + 1) / 2) *
                               static_cast<double>((x[3] + 1) / 2)
                         : static_cast<double>(x[0] * x[1]);
  return {std::move(name),
          std::move(description),
          max ? 9 * out : in,
          kF32 * 2 * in + (max ? (kF32 + 8) * 2 * out : kF32 * 2 * out),
          ember_side::pool2d_fwdbwd(x, max),
          torch_side::pool2d_fwdbwd(x, max)};
}

// One GPT training step: FLOPs of the matrix products (2 per MAC, x3 for the backward) and
// of attention's two (T x T) products, causal or not (the fused kernel skips no work on
// the CPU); bytes of the parameters with AdamW's state (28 per parameter) and the tokens.
Workload gpt_train_step(std::string name, std::string description) {
  using S = GPTShape;
  const double bt = S::batch * S::context, C = S::n_embd;
  const double block_macs = bt * 12 * C * C + 2 * S::batch * S::context * S::context * C;
  const double macs = S::n_layer * block_macs + bt * C * S::vocab;  // + the tied head
  const double params = S::n_layer * (12 * C * C + 13 * C) + (S::vocab + S::context) * C + 2 * C;
  return {std::move(name),          std::move(description),       3 * 2 * macs,
          28 * params + 2 * 8 * bt, ember_side::gpt_train_step(), torch_side::gpt_train_step()};
}

std::vector<Workload> make_workloads() {
  std::vector<Workload> w;
  // Per-op overhead: validation, allocation, dispatch, autograd checks. No real math.
  // 1 FLOP, 12 bytes.
  w.push_back(
      add("add_1elem", "add of two 1-element f32 tensors (dispatch overhead)", {1}, {1}, {1}));
  // 268 MFLOP (2 * 512^3), 3.1 MB (three 512x512 f32 matrices).
  w.push_back(matmul("matmul_512", "512x512 @ 512x512 f32 matrix product", 512, 512, 512));
  // The seed's image encoder convolution and a ResNet 3x3 layer, forward + backward of sum().
  // conv_seed: 299 MFLOP, 8.2 MB; conv_resnet: 5.55 GFLOP, 19.6 MB.
  w.push_back(conv2d_fwdbwd("conv_seed_fwdbwd",
                            "conv2d 32x3x32x32, 64 filters 3x3, no padding; fwd + bwd",
                            {32, 3, 32, 32}, {64, 3, 3, 3}, 0));
  w.push_back(conv2d_fwdbwd("conv_resnet_fwdbwd",
                            "conv2d 8x64x56x56, 64 filters 3x3, padding 1; fwd + bwd",
                            {8, 64, 56, 56}, {64, 64, 3, 3}, 1));
  // softmax(q k^T / 8) v: ember's fused attention against LibTorch's matmul-softmax-matmul.
  // 1.61 GFLOP (six 32 x 256 x 256 x 64 products), 14.7 MB (q, k, v, out, dq, dk, dv).
  w.push_back(attention_fwdbwd("attention_fwdbwd",
                               "attention q,k,v 4x8x256x64, softmax(q k^T/8) v; fwd + bwd",
                               {4, 8, 256, 64}, 1.0 / 8.0));
  // Memory-bound optimizer steps: ten parameters of a million f32 each, gradients set.
  // Adam: 120 MFLOP, 280 MB; SGD with momentum: 40 MFLOP, 200 MB.
  w.push_back(
      optimizer_step("adam_10M", "Adam step over 10 x 1M f32 parameters", 10, 1000000, true));
  w.push_back(optimizer_step("sgd_momentum_10M",
                             "SGD (momentum 0.9) step over 10 x 1M f32 parameters", 10, 1000000,
                             false));
  // The seed's model, end to end: what a first user trains on a laptop. 1.75 GFLOP, 208 MB
  // (7.40 M parameters with Adam's state); with attention 1.76 GFLOP, 209 MB.
  w.push_back(seed_train_step("seed_train_step",
                              "seed Example 1 model, batch 32, 16 tokens: Adam train step", false));
  // The same step with both libraries on one thread: beside the threaded row, the parallel
  // efficiency (FLOPs and bytes as the threaded row; its roofline is the 1-thread one).
  w.push_back(seed_train_step("seed_train_step_1thread",
                              "seed Example 1 model, train step, both libraries on 1 thread",
                              false));
  w.back().threads = 1;
  w.push_back(seed_train_step("seed_train_step_attention",
                              "seed model with Example 2's attention decoder: Adam train step",
                              true));
  // The Fashion-MNIST example's ResNet: convolutions, BatchNorm, pooling, SGD. 7.18 GFLOP,
  // 2.0 MB (its 78 k parameters with momentum; the activations are not counted).
  w.push_back(resnet_train_step(
      "resnet_train_step",
      "Fashion-MNIST ResNet 16/32/64, batch 128 of 1x28x28: SGD (Nesterov) train step"));
  // Pooling: the ResNet stem's max pool and a ResNet-18 head's global average pool.
  // max: 14.5 MFLOP, 89.9 MB; global average: 0.8 MFLOP, 6.6 MB.
  w.push_back(pool2d_fwdbwd("maxpool_3x3s2_fwdbwd",
                            "max_pool2d 32x64x56x56, 3x3 stride 2 padding 1; fwd + bwd",
                            {32, 64, 56, 56}, true));
  w.push_back(pool2d_fwdbwd("global_avgpool_fwdbwd",
                            "adaptive_avg_pool2d 32x512x7x7 to 1x1; fwd + bwd", {32, 512, 7, 7},
                            false));
  // examples/char_lm's GPT (issue 15): embeddings, LayerNorm, causal attention, AdamW.
  // 22.9 GFLOP, 23.1 MB (its 0.8 M parameters with AdamW's state, and the tokens).
  w.push_back(gpt_train_step(
      "gpt_train_step",
      "char_lm GPT 4x128, 4 heads, batch 32 of 128 tokens, tied head: AdamW train step"));
  return w;
}

}  // namespace

const std::vector<Workload>& workloads() {
  static const std::vector<Workload> all = make_workloads();
  return all;
}

}  // namespace ember_bench
