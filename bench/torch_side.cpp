// LibTorch bodies of the workloads (see workload.h). All LibTorch code lives in this one
// translation unit: its headers take ~15 s to compile and emit warnings of their own.
// It includes no ember header, so the two libraries meet only through workload.h.
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <benchmark/benchmark.h>
#include <torch/autograd.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/pooling.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/types.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "workload.h"

namespace ember_bench::torch_side {
namespace {

void keep(const torch::Tensor& t) {
  benchmark::DoNotOptimize(t.data_ptr());
  benchmark::ClobberMemory();
}

}  // namespace

Setup add(Dims a_dims, Dims b_dims) {
  return [a_dims, b_dims]() -> Body {
    torch::Tensor a = torch::randn(a_dims), b = torch::randn(b_dims);
    return [a, b] { keep(a + b); };
  };
}

Setup matmul(int64_t m, int64_t k, int64_t n) {
  return [m, k, n]() -> Body {
    torch::Tensor a = torch::randn({m, k});  // (m, k)
    torch::Tensor b = torch::randn({k, n});  // (k, n)
    return [a, b] { keep(torch::matmul(a, b)); };
  };
}

Setup conv2d_fwdbwd(Dims x_dims, Dims w_dims, int64_t pad) {
  return [x_dims, w_dims, pad]() -> Body {
    torch::Tensor x = torch::randn(x_dims).requires_grad_();
    torch::Tensor w = torch::randn(w_dims).requires_grad_();
    torch::Tensor b = torch::randn({w_dims[0]}).requires_grad_();
    return [x, w, b, pad] {
      torch::Tensor y = torch::conv2d(x, w, b, /*stride=*/1, /*padding=*/pad);
      for (const torch::Tensor& t : torch::autograd::grad({y.sum()}, {x, w, b})) keep(t);
    };
  };
}

Setup attention_fwdbwd(Dims qkv, double scale) {
  return [qkv, scale]() -> Body {
    torch::Tensor q = torch::randn(qkv).requires_grad_();
    torch::Tensor k = torch::randn(qkv).requires_grad_();
    torch::Tensor v = torch::randn(qkv).requires_grad_();
    return [q, k, v, scale] {
      torch::Tensor y = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * scale, -1).matmul(v);
      for (const torch::Tensor& t : torch::autograd::grad({y.sum()}, {q, k, v})) keep(t);
    };
  };
}

namespace {
// The same parameters and gradients as ember's side: tensors x numel f32, grads set.
std::vector<torch::Tensor> params_with_grads(int64_t tensors, int64_t numel) {
  std::vector<torch::Tensor> params;
  for (int64_t i = 0; i < tensors; ++i) {
    torch::Tensor p = torch::randn({numel}).requires_grad_();
    p.mutable_grad() = torch::randn({numel});
    params.push_back(p);
  }
  return params;
}
}  // namespace

Setup adam_step(int64_t tensors, int64_t numel) {
  return [tensors, numel]() -> Body {
    auto params = params_with_grads(tensors, numel);
    auto opt = std::make_shared<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
    opt->step();
    return [opt, params] {
      opt->step();
      keep(params.front());
    };
  };
}

Setup sgd_momentum_step(int64_t tensors, int64_t numel) {
  return [tensors, numel]() -> Body {
    auto params = params_with_grads(tensors, numel);
    auto opt =
        std::make_shared<torch::optim::SGD>(params, torch::optim::SGDOptions(1e-3).momentum(0.9));
    opt->step();
    return [opt, params] {
      opt->step();
      keep(params.front());
    };
  };
}

namespace {
// The seed's captioning model as torch::nn modules, shaped as examples/seed_models.h.
struct SeedModel : torch::nn::Module {
  using S = SeedShape;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::Linear encode{nullptr}, query{nullptr}, key{nullptr}, value{nullptr}, project{nullptr};
  torch::nn::Embedding embedding{nullptr};
  bool attention;
  explicit SeedModel(bool attention_) : attention(attention_) {
    conv = register_module(
        "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(S::channels, S::filters, S::kernel)));
    encode = register_module("encode", torch::nn::Linear(S::flat, S::code));
    embedding = register_module("embedding", torch::nn::Embedding(S::vocab, S::code));
    if (attention) {
      query = register_module("query", torch::nn::Linear(S::code, S::code));
      key = register_module("key", torch::nn::Linear(S::code, S::code));
      value = register_module("value", torch::nn::Linear(S::code, S::code));
    }
    project = register_module("project", torch::nn::Linear(S::code, S::vocab));
  }
  torch::Tensor forward(const torch::Tensor& image, const torch::Tensor& text) {
    torch::Tensor code = encode(conv(image).flatten(1));  // (N, 128)
    if (attention) {
      torch::Tensor q = query(code), k = key(code), v = value(code);
      const double scale = 1.0 / std::sqrt(static_cast<double>(S::code));
      code = torch::softmax(q.matmul(k.transpose(-2, -1)) * scale, -1).matmul(v);
    }
    return project(embedding(text) + code.unsqueeze(1));  // (N, T, vocab)
  }
};
}  // namespace

Setup seed_train_step(bool attention) {
  return [attention]() -> Body {
    using S = SeedShape;
    torch::manual_seed(0);
    auto model = std::make_shared<SeedModel>(attention);
    auto opt =
        std::make_shared<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(1e-3));
    const torch::Tensor image = torch::randn({S::batch, S::channels, S::image, S::image});
    const torch::Tensor text = torch::randint(0, S::vocab, {S::batch, S::tokens});
    const torch::Tensor target = torch::randint(0, S::vocab, {S::batch, S::tokens});
    opt->zero_grad();  // torch's Adam creates its state lazily: one step before timing
    torch::nn::functional::cross_entropy(model->forward(image, text).transpose(1, 2), target)
        .backward();
    opt->step();
    return [model, opt, image, text, target] {
      opt->zero_grad();
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(image, text).transpose(1, 2), target);
      loss.backward();
      opt->step();
      benchmark::DoNotOptimize(loss.item<float>());
    };
  };
}

namespace {
// The Fashion-MNIST example's ResNet (examples/fashion_mnist/model.h) in LibTorch's C++
// API: torchvision's BasicBlock and stem, He normal (fan_out) convolution weights.
torch::nn::Conv2d resnet_conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  torch::nn::Conv2d c(
      torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
  torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
  return c;
}

struct BasicBlock : torch::nn::Module {
  BasicBlock(int64_t in, int64_t planes, int64_t stride)
      : conv1(register_module("conv1", resnet_conv(in, planes, 3, stride))),
        bn1(register_module("bn1", torch::nn::BatchNorm2d(planes))),
        conv2(register_module("conv2", resnet_conv(planes, planes, 3, 1))),
        bn2(register_module("bn2", torch::nn::BatchNorm2d(planes))) {
    if (stride != 1 || in != planes)
      downsample =
          register_module("downsample", torch::nn::Sequential(resnet_conv(in, planes, 1, stride),
                                                              torch::nn::BatchNorm2d(planes)));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // (N, in, H, W) -> (N, planes, H/s, W/s)
    torch::Tensor out = torch::relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    return torch::relu(out + (downsample ? downsample->forward(x) : x));
  }
  // In construction order: register_module runs in the initializer list.
  torch::nn::Conv2d conv1;
  torch::nn::BatchNorm2d bn1;
  torch::nn::Conv2d conv2;
  torch::nn::BatchNorm2d bn2;
  torch::nn::Sequential downsample{nullptr};
};

struct ResNet : torch::nn::Module {
  ResNet() {
    using S = ResNetShape;
    conv1 = register_module("conv1", resnet_conv(1, S::stem, 3, 1));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(S::stem));
    int64_t in = S::stem;
    for (int i = 0; i < 3; ++i) {
      layers.push_back(
          register_module("layer" + std::to_string(i + 1),
                          std::make_shared<BasicBlock>(in, S::widths[i], S::strides[i])));
      in = S::widths[i];
    }
    avgpool = register_module("avgpool",
                              torch::nn::AdaptiveAvgPool2d(torch::nn::AdaptiveAvgPool2dOptions(1)));
    fc = register_module("fc", torch::nn::Linear(in, S::classes));
  }
  torch::Tensor forward(const torch::Tensor& x) {  // (N, 1, 28, 28) -> (N, 10) logits
    torch::Tensor h = torch::relu(bn1(conv1(x)));
    for (const auto& layer : layers) h = layer->forward(h);
    return fc(avgpool(h).flatten(1));
  }
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<std::shared_ptr<BasicBlock>> layers;
  torch::nn::AdaptiveAvgPool2d avgpool{nullptr};
  torch::nn::Linear fc{nullptr};
};
}  // namespace

Setup pool2d_fwdbwd(Dims x_dims, bool max) {
  return [x_dims, max]() -> Body {
    torch::Tensor x = torch::randn(x_dims).requires_grad_();
    return [x, max] {
      torch::Tensor y = max ? torch::max_pool2d(x, {3, 3}, /*stride=*/{2, 2}, /*padding=*/{1, 1})
                            : torch::adaptive_avg_pool2d(x, {1, 1});
      keep(torch::autograd::grad({y.sum()}, {x})[0]);
    };
  };
}

Setup resnet_train_step() {
  return []() -> Body {
    using S = ResNetShape;
    torch::manual_seed(0);
    auto model = std::make_shared<ResNet>();
    model->train();
    auto opt =
        std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(S::lr)
                                                                     .momentum(S::momentum)
                                                                     .weight_decay(S::weight_decay)
                                                                     .nesterov(true));
    const torch::Tensor images = torch::randn({S::batch, 1, S::image, S::image});
    const torch::Tensor labels = torch::randint(0, S::classes, {S::batch});
    auto step = [model, opt, images, labels] {
      opt->zero_grad();
      torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward(images), labels);
      loss.backward();
      opt->step();
      return loss.item<float>();
    };
    step();  // SGD's momentum buffers are created by the first step: outside the timing
    return [step] { benchmark::DoNotOptimize(step()); };
  };
}

namespace {
// examples/char_lm/model.h's GPT in torch::nn: the same layout, init and tied head.
struct GPTBlock : torch::nn::Module {
  GPTBlock() {
    using S = GPTShape;
    const int64_t C = S::n_embd;
    const double proj_std = 0.02 / std::sqrt(2.0 * S::n_layer);
    ln_1 = register_module("ln_1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
    c_attn = register_module("c_attn", linear(C, 3 * C, 0.02));
    attn_proj = register_module("attn_proj", linear(C, C, proj_std));
    ln_2 = register_module("ln_2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
    c_fc = register_module("c_fc", linear(C, 4 * C, 0.02));
    mlp_proj = register_module("mlp_proj", linear(4 * C, C, proj_std));
  }
  static torch::nn::Linear linear(int64_t in, int64_t out, double std) {
    torch::nn::Linear l(in, out);
    torch::nn::init::normal_(l->weight, 0.0, std);
    torch::nn::init::zeros_(l->bias);
    return l;
  }
  torch::Tensor attention(const torch::Tensor& x) {  // (B, T, C)
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), nh = GPTShape::n_head;
    std::vector<torch::Tensor> qkv = c_attn(x).split(C, 2);
    auto heads = [&](const torch::Tensor& t) { return t.view({B, T, nh, C / nh}).transpose(1, 2); };
    torch::Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
    torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(C / nh));
    torch::Tensor future = torch::ones({T, T}, torch::kBool).triu(1);
    att = torch::softmax(att.masked_fill(future, -INFINITY), -1);
    return attn_proj(torch::matmul(att, v).transpose(1, 2).contiguous().view({B, T, C}));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = x + attention(ln_1(x));
    return h + mlp_proj(torch::gelu(c_fc(ln_2(h)), "tanh"));
  }
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  torch::nn::Linear c_attn{nullptr}, attn_proj{nullptr}, c_fc{nullptr}, mlp_proj{nullptr};
};

struct GPT : torch::nn::Module {
  GPT() {
    using S = GPTShape;
    wte = register_module("wte", torch::nn::Embedding(S::vocab, S::n_embd));
    wpe = register_module("wpe", torch::nn::Embedding(S::context, S::n_embd));
    torch::nn::init::normal_(wte->weight, 0.0, 0.02);
    torch::nn::init::normal_(wpe->weight, 0.0, 0.02);
    for (int64_t i = 0; i < S::n_layer; ++i)
      blocks.push_back(register_module("h" + std::to_string(i), std::make_shared<GPTBlock>()));
    ln_f = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({S::n_embd})));
  }
  torch::Tensor forward(const torch::Tensor& idx) {  // (B, T) -> (B, T, vocab)
    torch::Tensor h = wte(idx) + wpe(torch::arange(idx.size(1)));
    for (const auto& b : blocks) h = b->forward(h);
    return torch::nn::functional::linear(ln_f(h), wte->weight);  // the tied head
  }
  torch::nn::Embedding wte{nullptr}, wpe{nullptr};
  std::vector<std::shared_ptr<GPTBlock>> blocks;
  torch::nn::LayerNorm ln_f{nullptr};
};
}  // namespace

Setup gpt_train_step() {
  return []() -> Body {
    using S = GPTShape;
    torch::manual_seed(0);
    auto model = std::make_shared<GPT>();
    model->train();
    std::vector<torch::Tensor> decay, no_decay;
    for (const torch::Tensor& p : model->parameters())
      (p.dim() >= 2 ? decay : no_decay).push_back(p);
    auto options = [](double wd) {
      return std::make_unique<torch::optim::AdamWOptions>(
          torch::optim::AdamWOptions(S::lr).betas({S::beta1, S::beta2}).weight_decay(wd));
    };
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, options(S::weight_decay));
    groups.emplace_back(no_decay, options(0.0));
    auto opt = std::make_shared<torch::optim::AdamW>(
        std::move(groups), torch::optim::AdamWOptions(S::lr).betas({S::beta1, S::beta2}));
    const torch::Tensor x = torch::randint(0, S::vocab, {S::batch, S::context});
    const torch::Tensor y = torch::randint(0, S::vocab, {S::batch, S::context});
    auto step = [model, opt, x, y] {
      opt->zero_grad();
      torch::Tensor logits = model->forward(x);
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits.view({-1, S::vocab}), y.view({-1}));
      loss.backward();
      opt->step();
      return loss.item<float>();
    };
    step();  // AdamW's moments are created by the first step: outside the timing
    return [step] { benchmark::DoNotOptimize(step()); };
  };
}

namespace {
using SetFn = void (*)(int);
using GetFn = int (*)();
// OpenBLAS's own thread count, when LibTorch computes matmul with it (Debian's build);
// looked up at run time because the bench does not link OpenBLAS itself (LibTorch does).
SetFn openblas_set() {
  static const auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return fn;
}
}  // namespace

void set_num_threads(int threads) {
  // at::set_num_threads sets OpenMP's count (and MKL's, when present) but not OpenBLAS's,
  // which Debian's LibTorch calls for matmul. OpenBLAS read OPENBLAS_NUM_THREADS when it
  // was loaded, so set it through its API.
  at::set_num_threads(threads);
  if (SetFn set_blas = openblas_set()) set_blas(threads);
}

std::string set_threads(int threads) {
  set_num_threads(threads);
  std::string info = at::get_parallel_info();
  if (openblas_set() != nullptr) {
    if (auto* get_blas = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"))) {
      info += "OpenBLAS threads: " + std::to_string(get_blas()) + "\n";
    }
  }
  return info;
}

std::string config() { return at::show_config(); }

std::string blas() {
  // show_config() lists "BLAS_INFO=open, LAPACK_INFO=..." on its build-settings line.
  const std::string c = at::show_config();
  const std::string key = "BLAS_INFO=";
  const size_t at = c.find(key);
  if (at == std::string::npos) return openblas_set() != nullptr ? "OpenBLAS" : "unknown";
  const size_t end = c.find_first_of(", \n", at + key.size());
  std::string name = c.substr(at + key.size(), end - at - key.size());
  if (name == "open") name = "OpenBLAS";
  // Debian's build calls the system's BLAS through its generic interface: name the library
  // that answers (libopenblas0-pthread, which the bench's bootstrap installs).
  if (name == "generic" && openblas_set() != nullptr) name = "OpenBLAS (generic BLAS interface)";
  if (name == "mkl") name = "MKL";
  return name;
}

std::string version() { return TORCH_VERSION; }

}  // namespace ember_bench::torch_side
