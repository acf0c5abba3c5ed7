// The seed document's models: an image encoder and text decoders, built outside and
// injected into a captioning module. Shared by the seed examples and the main job.
#pragma once

#include <cmath>
#include <memory>

#include <ember/ember.h>

namespace seed {

using namespace ember;

// Conv 3->64 (3x3) on 32x32 images, flattened into a 128-wide code.
struct ImageEncoder : nn::Module {
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::Linear> linear;
  ImageEncoder() {
    conv = register_module("conv", nn::Conv2d::make(3, 64, 3));
    linear = register_module("linear", nn::Linear::make(64 * 30 * 30, 128));
  }
  Tensor forward(const Tensor& x) {  // x (N, 3, 32, 32) -> (N, 128)
    auto h = conv->forward(x);       // (N, 64, 30, 30)
    return linear->forward(h.flatten(1));
  }
};

// Any decoder can be injected: it maps the image code and the caption so far to logits.
struct TextDecoder : nn::Module {
  // encoded_image (N, 128), text (N, T) i64 -> logits (N, T, vocab)
  virtual Tensor forward(const Tensor& encoded_image, const Tensor& text) = 0;
};

// Example 1's decoder: embed the tokens, add the image code, project to the vocabulary.
struct SimpleDecoder : TextDecoder {
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<nn::Linear> linear;
  explicit SimpleDecoder(int64_t vocab = 100, int64_t dim = 128) {
    embedding = register_module("embedding", nn::Embedding::make(vocab, dim));
    linear = register_module("linear", nn::Linear::make(dim, vocab));
  }
  Tensor forward(const Tensor& encoded_image, const Tensor& text) override {
    return linear->forward(embedding->forward(text) + encoded_image.unsqueeze(1));
  }
};

// Example 2's nested block: query/key/value projections, matmul, softmax, matmul.
// As in the seed, it attends across the rows it is given.
struct AttentionBlock : nn::Module {
  std::shared_ptr<nn::Linear> query, key, value;
  explicit AttentionBlock(int64_t dim = 128) {
    query = register_module("query", nn::Linear::make(dim, dim));
    key = register_module("key", nn::Linear::make(dim, dim));
    value = register_module("value", nn::Linear::make(dim, dim));
  }
  Tensor forward(const Tensor& x) {  // x (..., L, D)
    Tensor q = query->forward(x), k = key->forward(x), v = value->forward(x);
    double scale = 1.0 / std::sqrt(static_cast<double>(x.size(-1)));
    Tensor weights = softmax(q.matmul(k.transpose(-2, -1)) * scale, -1);  // (..., L, L)
    return weights.matmul(v);
  }
};

// Example 2's decoder: Example 1's, with the image codes passed through the attention block.
struct AttentionDecoder : TextDecoder {
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<AttentionBlock> attention;
  std::shared_ptr<nn::Linear> linear;
  explicit AttentionDecoder(int64_t vocab = 100, int64_t dim = 128) {
    embedding = register_module("embedding", nn::Embedding::make(vocab, dim));
    attention = register_module("attention", std::make_shared<AttentionBlock>(dim));
    linear = register_module("linear", nn::Linear::make(dim, vocab));
  }
  Tensor forward(const Tensor& encoded_image, const Tensor& text) override {
    Tensor context = attention->forward(encoded_image);  // (N, D): attends across the batch
    return linear->forward(embedding->forward(text) + context.unsqueeze(1));
  }
};

struct Captioner : nn::Module {
  std::shared_ptr<ImageEncoder> image_encoder;
  std::shared_ptr<TextDecoder> text_decoder;
  Captioner(std::shared_ptr<ImageEncoder> enc, std::shared_ptr<TextDecoder> dec) {
    image_encoder = register_module("image_encoder", std::move(enc));
    text_decoder = register_module("text_decoder", std::move(dec));
  }
  Tensor forward(const Tensor& image, const Tensor& text) {
    return text_decoder->forward(image_encoder->forward(image), text);
  }
};

// A tiny learnable task: image class k is a colour pattern; its caption is
// <bos> 3k+1 3k+2 and the target is the caption shifted by one (3k+1 3k+2 <eos>).
struct ToyBatch {
  Tensor image, text, target;
};

inline ToyBatch make_batch(int64_t n, uint64_t seed) {
  manual_seed(seed);
  constexpr int64_t kBos = 0, kEos = 99;
  std::vector<int64_t> text, target, cls;
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = i % 4;
    cls.push_back(k);
    text.insert(text.end(), {kBos, 3 * k + 1, 3 * k + 2});
    target.insert(target.end(), {3 * k + 1, 3 * k + 2, kEos});
  }
  Tensor colour = from_vector(cls, {n, 1, 1, 1}).to(DType::f32);  // (N, 1, 1, 1)
  Tensor channel = arange(3, {.dtype = DType::f32}).reshape({1, 3, 1, 1});
  Tensor image = sin(colour * 1.7 + channel) + randn({n, 3, 32, 32}) * 0.1;
  return {image, from_vector(text, {n, 3}), from_vector(target, {n, 3})};
}

}  // namespace seed
