// The main job's models: the seed's image encoder and decoders, and the seed's captioner
// as a LightningModule (training logic apart from the injected models).
#pragma once

#include <cmath>
#include <memory>

#include "seed_models.h"

namespace captioning {

using namespace ember;

// Example 2's attention block (query/key/value projections, matmul, softmax, matmul),
// attending causally over the caption: position t sees positions <= t.
struct CausalAttentionBlock : seed::AttentionBlock {
  using seed::AttentionBlock::AttentionBlock;
  Tensor forward(const Tensor& x) {  // x (N, T, D) -> (N, T, D)
    Tensor q = query->forward(x), k = key->forward(x), v = value->forward(x);
    const int64_t t = x.size(1);
    const double scale = 1.0 / std::sqrt(static_cast<double>(x.size(-1)));
    Tensor scores = q.matmul(k.transpose(-2, -1)) * scale;  // (N, T, T)
    scores = scores.masked_fill(future_mask(t, x.device()), -1e9);
    return softmax(scores, -1).matmul(v);
  }

 private:
  // (T, T) bool: key j comes after query i. Kept once made: arange builds its values on the
  // host, so making it each step would copy them to the device each step.
  const Tensor& future_mask(int64_t t, Device device) {
    if (!future_.defined() || future_.size(0) != t || future_.device() != device) {
      const Tensor pos = arange(t, {.device = device});
      future_ = pos.unsqueeze(0) > pos.unsqueeze(1);
    }
    return future_;
  }
  Tensor future_;  // not a buffer: no state to save
};

// The seed's attention decoder with the attention over caption positions: the same
// submodule names (embedding, attention.{query,key,value}, linear), so checkpoints carry
// the seed's dotted names.
struct CausalAttentionDecoder : seed::TextDecoder {
  std::shared_ptr<nn::Embedding> embedding;
  std::shared_ptr<CausalAttentionBlock> attention;
  std::shared_ptr<nn::Linear> linear;
  explicit CausalAttentionDecoder(int64_t vocab, int64_t dim = 128) {
    embedding = register_module("embedding", nn::Embedding::make(vocab, dim));
    attention = register_module("attention", std::make_shared<CausalAttentionBlock>(dim));
    linear = register_module("linear", nn::Linear::make(dim, vocab));
  }
  // encoded_image (N, D), text (N, T) -> logits (N, T, vocab)
  Tensor forward(const Tensor& encoded_image, const Tensor& text) override {
    Tensor h = embedding->forward(text) + encoded_image.unsqueeze(1);  // (N, T, D)
    return linear->forward(h + attention->forward(h));                 // residual around the block
  }
};

// The seed's Captioner, trained by the Trainer: it receives the models built outside.
struct CaptionModule : LightningModule {
  std::shared_ptr<seed::ImageEncoder> image_encoder;
  std::shared_ptr<seed::TextDecoder> text_decoder;
  double lr, encoder_lr_scale;

  CaptionModule(std::shared_ptr<seed::ImageEncoder> enc, std::shared_ptr<seed::TextDecoder> dec,
                double lr_, double encoder_lr_scale_)
      : lr(lr_), encoder_lr_scale(encoder_lr_scale_) {
    image_encoder = register_module("image_encoder", std::move(enc));
    text_decoder = register_module("text_decoder", std::move(dec));
  }
  Tensor forward(const Tensor& image, const Tensor& text) {  // -> (N, T, vocab)
    return text_decoder->forward(image_encoder->forward(image), text);
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [image, text, target] = batch.unpack<3>();
    Tensor loss = nn::F::cross_entropy(forward(image, text).transpose(1, 2), target);
    log("train_loss", loss, {.prog_bar = true, .sync_dist = true});
    return loss;
  }
  void validation_step(const Batch& batch, int64_t) override {
    auto [image, text, target] = batch.unpack<3>();
    Tensor logits = forward(image, text);  // (N, T, vocab)
    Tensor loss = nn::F::cross_entropy(logits.transpose(1, 2), target);
    Tensor acc = logits.argmax(-1).eq(target).to(DType::f32).mean();  // next-token accuracy
    log("val_loss", loss, {.prog_bar = true, .sync_dist = true});
    log("val_acc", acc, {.prog_bar = true, .sync_dist = true});
  }
  // Example 3's parameter groups: the injected encoder at a fraction of the decoder's rate.
  OptimizerConfig configure_optimizers() override {
    return optim::Adam::make({{image_encoder->parameters(), {.lr = lr * encoder_lr_scale}},
                              {text_decoder->parameters(), {.lr = lr}}});
  }
  // Greedy decoding: from <bos>, append the most likely next token `steps` times.
  Tensor generate(const Tensor& image, int64_t bos,
                  int64_t steps) {  // image (N, 3, 32, 32) -> (N, 1 + steps)
    NoGradGuard no_grad;
    Tensor code = image_encoder->forward(image);
    Tensor text = full({image.size(0), 1}, bos, {.dtype = DType::i64, .device = image.device()});
    for (int64_t s = 0; s < steps; ++s) {
      Tensor next = text_decoder->forward(code, text).select(1, -1).argmax(-1, true);  // (N, 1)
      text = cat({text, next}, 1);
    }
    return text;
  }
};

}  // namespace captioning
