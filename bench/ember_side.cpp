// ember bodies of the workloads (see workload.h). Inputs are made once per Setup call,
// outside the timed loop; each body runs the op once and keeps its result alive long
// enough for the optimizer to treat it as used.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "examples/char_lm/model.h"
#include "examples/fashion_mnist/model.h"
#include "examples/seed_models.h"
#include "nn/functional.h"
#include "optim/adam.h"
#include "optim/sgd.h"
#include "tensor/ops.h"
#include "workload.h"

namespace ember_bench::ember_side {
namespace {

// The bodies must not be optimised into nothing: the op's output buffer escapes.
void keep(const ember::Tensor& t) {
  benchmark::DoNotOptimize(t.raw_data());
  benchmark::ClobberMemory();
}

// A benchmark of a wrong result is worthless: check a few entries of c = a @ b against
// dot products in double before timing.
void check_matmul(const ember::Tensor& a, const ember::Tensor& b, const ember::Tensor& c) {
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  if (c.sizes() != ember::Shape{m, n}) {
    throw std::runtime_error("bench matmul: result has shape " + ember::str(c.sizes()));
  }
  const ember::Tensor ac = a.contiguous(), bc = b.contiguous(), cc = c.contiguous();
  const float* pa = ac.data_ptr<float>();  // (m, k)
  const float* pb = bc.data_ptr<float>();  // (k, n)
  const float* pc = cc.data_ptr<float>();  // (m, n)
  const int64_t probes[][2] = {{0, 0}, {m - 1, n - 1}, {m / 2, n / 3}, {m / 3, n - 1}, {m - 1, 0}};
  for (const auto& p : probes) {
    double want = 0;
    for (int64_t i = 0; i < k; ++i) want += double(pa[p[0] * k + i]) * double(pb[i * n + p[1]]);
    const double got = pc[p[0] * n + p[1]];
    if (!(std::abs(got - want) <= 1e-3 * std::sqrt(double(k)) + 1e-4 * std::abs(want))) {
      throw std::runtime_error("bench matmul: c[" + std::to_string(p[0]) + ", " +
                               std::to_string(p[1]) + "] = " + std::to_string(got) + ", expected " +
                               std::to_string(want));
    }
  }
}

// Checks a few outputs of y = conv2d(x, w, b) (stride 1, padding p) against sums in double.
void check_conv(const ember::Tensor& x, const ember::Tensor& w, const ember::Tensor& b,
                const ember::Conv2dParams& p, const ember::Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t K = w.size(0), R = w.size(2), S = w.size(3), P = y.size(2), Q = y.size(3);
  const std::vector<float> xv = x.to_vector<float>(), wv = w.to_vector<float>(),
                           bv = b.to_vector<float>();
  const std::vector<float> yv = y.to_vector<float>();
  const int64_t probes[][4] = {
      {0, 0, 0, 0}, {N - 1, K - 1, P - 1, Q - 1}, {N / 2, K / 3, P / 2, Q / 3}};
  for (const auto& pr : probes) {
    double want = bv[static_cast<size_t>(pr[1])];
    for (int64_t c = 0; c < C; ++c)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t h = pr[2] - p.pad_h + r, ww = pr[3] - p.pad_w + s;
          if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
          want += double(wv[static_cast<size_t>(((pr[1] * C + c) * R + r) * S + s)]) *
                  double(xv[static_cast<size_t>(((pr[0] * C + c) * H + h) * W + ww)]);
        }
    const double got = yv[static_cast<size_t>(((pr[0] * K + pr[1]) * P + pr[2]) * Q + pr[3])];
    if (!(std::abs(got - want) <= 1e-3 * std::sqrt(double(C * R * S)) + 1e-4 * std::abs(want)))
      throw std::runtime_error("bench conv2d: out[" + std::to_string(pr[0]) + ", " +
                               std::to_string(pr[1]) + ", ...] = " + std::to_string(got) +
                               ", expected " + std::to_string(want));
  }
}

// Checks y = attention(q, k, v) against the explicit matmul -> softmax -> matmul.
void check_attention(const ember::Tensor& q, const ember::Tensor& k, const ember::Tensor& v,
                     double scale, const ember::Tensor& y) {
  const ember::Tensor want =
      ember::matmul(ember::softmax(ember::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
  if (!ember::allclose(y, want, 1e-4, 1e-5))
    throw std::runtime_error(
        "bench attention: the fused result differs from matmul-softmax-matmul");
}

}  // namespace

Setup add(Dims a_dims, Dims b_dims) {
  return [a_dims, b_dims]() -> Body {
    ember::Tensor a = ember::randn(a_dims), b = ember::randn(b_dims);
    return [a, b] { keep(a + b); };
  };
}

Setup matmul(int64_t m, int64_t k, int64_t n) {
  return [m, k, n]() -> Body {
    ember::Tensor a = ember::randn({m, k});  // (m, k)
    ember::Tensor b = ember::randn({k, n});  // (k, n)
    check_matmul(a, b, ember::matmul(a, b));
    return [a, b] { keep(ember::matmul(a, b)); };
  };
}

Setup conv2d_fwdbwd(Dims x_dims, Dims w_dims, int64_t pad) {
  return [x_dims, w_dims, pad]() -> Body {
    ember::Tensor x = ember::randn(x_dims), w = ember::randn(w_dims), b = ember::randn({w_dims[0]});
    x.requires_grad_();
    w.requires_grad_();
    b.requires_grad_();
    const ember::Conv2dParams p{.pad_h = pad, .pad_w = pad};
    check_conv(x, w, b, p, ember::conv2d(x, w, b, p));
    return [x, w, b, p] {
      ember::Tensor y = ember::conv2d(x, w, b, p);
      ember::autograd::TensorList g = ember::autograd::grad({y.sum()}, {x, w, b});
      for (const ember::Tensor& t : g) keep(t);
    };
  };
}

Setup attention_fwdbwd(Dims qkv, double scale) {
  return [qkv, scale]() -> Body {
    ember::Tensor q = ember::randn(qkv), k = ember::randn(qkv), v = ember::randn(qkv);
    q.requires_grad_();
    k.requires_grad_();
    v.requires_grad_();
    check_attention(q, k, v, scale,
                    ember::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale));
    return [q, k, v, scale] {
      ember::Tensor y = ember::scaled_dot_product_attention(q, k, v, {}, 0.0, false, scale);
      ember::autograd::TensorList g = ember::autograd::grad({y.sum()}, {q, k, v});
      for (const ember::Tensor& t : g) keep(t);
    };
  };
}

namespace {
Setup optimizer_setup(int64_t tensors, int64_t numel, bool adam) {
  return [=]() -> Body {
    std::vector<ember::Tensor> params;
    for (int64_t i = 0; i < tensors; ++i) {
      ember::Tensor p = ember::randn({numel}).requires_grad_();
      p.set_grad(ember::randn({numel}));
      params.push_back(p);
    }
    std::shared_ptr<ember::optim::Optimizer> opt;
    if (adam) {
      opt = ember::optim::Adam::make(params, {.lr = 1e-3});
    } else {
      opt = ember::optim::SGD::make(params, {.lr = 1e-3, .momentum = 0.9});
    }
    opt->step();  // the state exists before timing, as it does in training
    return [opt, params]() {
      opt->step();
      keep(params.front());
    };
  };
}
}  // namespace

Setup adam_step(int64_t tensors, int64_t numel) { return optimizer_setup(tensors, numel, true); }
Setup sgd_momentum_step(int64_t tensors, int64_t numel) {
  return optimizer_setup(tensors, numel, false);
}

Setup seed_train_step(bool attention) {
  return [attention]() -> Body {
    using S = SeedShape;
    ember::manual_seed(0);
    std::shared_ptr<seed::TextDecoder> decoder;
    if (attention) {
      decoder = std::make_shared<seed::AttentionDecoder>(S::vocab, S::code);
    } else {
      decoder = std::make_shared<seed::SimpleDecoder>(S::vocab, S::code);
    }
    auto model = std::make_shared<seed::Captioner>(std::make_shared<seed::ImageEncoder>(), decoder);
    auto opt = ember::optim::Adam::make(model->parameters(), {.lr = 1e-3});
    const ember::Tensor image = ember::randn({S::batch, S::channels, S::image, S::image});
    const ember::Tensor text = ember::randint(0, S::vocab, {S::batch, S::tokens});
    const ember::Tensor target = ember::randint(0, S::vocab, {S::batch, S::tokens});
    auto step = [model, opt, image, text, target] {
      opt->zero_grad();
      ember::Tensor logits = model->forward(image, text);  // (N, T, vocab)
      ember::Tensor loss = ember::nn::functional::cross_entropy(logits.transpose(1, 2), target);
      loss.backward();
      opt->step();
      return loss.item<float>();
    };
    // Random targets over 100 words: the untrained model's loss is near log(100), and
    // stays finite (lr 1e-3 on the 57600-wide layer overshoots, in LibTorch too).
    const float first = step();
    if (!(std::abs(first - std::log(static_cast<float>(S::vocab))) < 1.0f))
      throw std::runtime_error("bench seed_train_step: first loss " + std::to_string(first) +
                               ", expected about " +
                               std::to_string(std::log(static_cast<float>(S::vocab))));
    for (int i = 0; i < 3; ++i)
      if (const float l = step(); !std::isfinite(l))
        throw std::runtime_error("bench seed_train_step: loss " + std::to_string(l));
    return [step] { benchmark::DoNotOptimize(step()); };
  };
}

// Checks a few outputs of y = pool(x) (max 3x3 stride 2 padding 1, or the plane's mean)
// against plain loops in double.
void check_pool(const ember::Tensor& x, const ember::Tensor& y, bool max) {
  const int64_t H = x.size(2), W = x.size(3), P = y.size(2), Q = y.size(3);
  const ember::Tensor xc = x.contiguous(), yc = y.contiguous();
  const float* px = xc.data_ptr<float>();  // (N, C, H, W)
  const float* py = yc.data_ptr<float>();  // (N, C, P, Q)
  const int64_t planes = x.size(0) * x.size(1);
  for (const int64_t b : {int64_t{0}, planes / 3, planes - 1})
    for (const int64_t o : {int64_t{0}, P * Q / 2, P * Q - 1}) {
      const int64_t i = o / Q, j = o % Q;
      double want = max ? -INFINITY : 0;
      for (int64_t h = max ? 2 * i - 1 : 0; h < (max ? 2 * i + 2 : H); ++h)
        for (int64_t w = max ? 2 * j - 1 : 0; w < (max ? 2 * j + 2 : W); ++w) {
          if (h < 0 || h >= H || w < 0 || w >= W) continue;
          const double v = px[(b * H + h) * W + w];
          want = max ? std::max(want, v) : want + v / double(H * W);
        }
      const double got = py[b * P * Q + o];
      if (!(std::abs(got - want) <= 1e-5 * (1 + std::abs(want))))
        throw std::runtime_error("bench pool: plane " + std::to_string(b) + " output " +
                                 std::to_string(o) + " = " + std::to_string(got) + ", expected " +
                                 std::to_string(want));
    }
}

Setup pool2d_fwdbwd(Dims x_dims, bool max) {
  return [x_dims, max]() -> Body {
    namespace F = ember::nn::functional;
    ember::Tensor x = ember::randn(x_dims);
    x.requires_grad_();
    auto pool = [max](const ember::Tensor& t) {
      return max ? F::max_pool2d(t, 3, {.stride = 2, .padding = 1}) : F::adaptive_avg_pool2d(t, 1);
    };
    check_pool(x, pool(x), max);
    return [x, pool] {
      ember::Tensor y = pool(x);
      keep(ember::autograd::grad({y.sum()}, {x})[0]);
    };
  };
}

Setup resnet_train_step() {
  return []() -> Body {
    using S = ResNetShape;
    ember::manual_seed(0);
    std::shared_ptr<fmnist::ResNet> model = fmnist::make_resnet(S::classes);
    model->train();
    auto opt = ember::optim::SGD::make(
        model->parameters(),
        {.lr = S::lr, .momentum = S::momentum, .weight_decay = S::weight_decay, .nesterov = true});
    const ember::Tensor images = ember::randn({S::batch, 1, S::image, S::image});
    const ember::Tensor labels = ember::randint(0, S::classes, {S::batch});  // (N,) i64
    auto step = [model, opt, images, labels] {
      opt->zero_grad();
      ember::Tensor loss = ember::nn::functional::cross_entropy(model->forward(images), labels);
      loss.backward();
      opt->step();
      return loss.item<float>();
    };
    // Random labels over 10 classes: the untrained model's loss is near log(10); a few
    // steps must keep it finite (BatchNorm in train mode, running statistics updated).
    const float first = step();
    if (!(std::abs(first - std::log(static_cast<float>(S::classes))) < 1.0f))
      throw std::runtime_error("bench resnet_train_step: first loss " + std::to_string(first) +
                               ", expected about " +
                               std::to_string(std::log(static_cast<float>(S::classes))));
    for (int i = 0; i < 3; ++i)
      if (const float l = step(); !std::isfinite(l))
        throw std::runtime_error("bench resnet_train_step: loss " + std::to_string(l));
    return [step] { benchmark::DoNotOptimize(step()); };
  };
}

Setup gpt_train_step() {
  return []() -> Body {
    using S = GPTShape;
    ember::manual_seed(0);
    auto model = std::make_shared<char_lm::GPT>(char_lm::GPTConfig{.vocab_size = S::vocab,
                                                                   .context = S::context,
                                                                   .n_layer = S::n_layer,
                                                                   .n_head = S::n_head,
                                                                   .n_embd = S::n_embd});
    model->train();
    std::vector<ember::Tensor> decay, no_decay;
    for (const ember::Tensor& p : model->parameters())
      (p.dim() >= 2 ? decay : no_decay).push_back(p);
    auto opt = ember::optim::AdamW::make(
        {{decay, {.weight_decay = S::weight_decay}}, {no_decay, {.weight_decay = 0.0}}},
        {.lr = S::lr, .betas = std::pair{S::beta1, S::beta2}});
    const ember::Tensor x = ember::randint(0, S::vocab, {S::batch, S::context});
    const ember::Tensor y = ember::randint(0, S::vocab, {S::batch, S::context});
    auto step = [model, opt, x, y] {
      opt->zero_grad();
      ember::Tensor logits = model->forward(x);
      ember::Tensor loss =
          ember::nn::functional::cross_entropy(logits.view({-1, S::vocab}), y.view({-1}));
      loss.backward();
      opt->step();
      return loss.item<float>();
    };
    // Random tokens: the untrained model's loss is near log(vocab) (N(0, 0.02) weights).
    const float first = step();
    if (!(std::abs(first - std::log(static_cast<float>(S::vocab))) < 0.5f))
      throw std::runtime_error("bench gpt_train_step: first loss " + std::to_string(first) +
                               ", expected about " +
                               std::to_string(std::log(static_cast<float>(S::vocab))));
    return [step] { benchmark::DoNotOptimize(step()); };
  };
}

}  // namespace ember_bench::ember_side
