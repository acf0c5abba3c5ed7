// The GPT of examples/char_lm (and of bench/'s gpt_train_step), laid out as nanoGPT's:
//   wte (vocab, C) + wpe (context, C) - h.0 .. h.{n-1} - ln_f - lm_head (C -> vocab, no bias)
// each block pre-norm: x + attn(ln_1(x)), then x + mlp(ln_2(x)); attention is causal through
// the fused scaled_dot_product_attention; the MLP is C -> 4C -> C with tanh-GELU. lm_head's
// weight is wte's (tied): state_dict() lists it under both names, parameters() once.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include <ember/ember.h>

namespace char_lm {

using namespace ember;

struct GPTConfig {
  int64_t vocab_size = 0;
  int64_t context = 128;  // block_size: the longest sequence
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
};

// nanoGPT's initialisation: N(0, 0.02) for weights, zero biases.
inline nn::Ptr<nn::Linear> linear(int64_t in, int64_t out, double std, bool bias = true) {
  auto l = nn::Linear::make(in, out, bias);
  nn::init::normal_(l->weight, 0.0, std);
  if (bias) nn::init::zeros_(l->bias);
  return l;
}

class CausalSelfAttention : public nn::UnaryModule {
 public:
  explicit CausalSelfAttention(const GPTConfig& c) : n_head(c.n_head) {
    if (c.n_embd % c.n_head != 0)
      fail<ValueError>("CausalSelfAttention", "n_embd ", c.n_embd, " is not divisible by n_head ",
                       c.n_head);
    c_attn = register_module("c_attn", linear(c.n_embd, 3 * c.n_embd, 0.02));
    // The residual projections start smaller, by 1/sqrt(2 n_layer) (GPT-2).
    c_proj =
        register_module("c_proj", linear(c.n_embd, c.n_embd, 0.02 / std::sqrt(2.0 * c.n_layer)));
  }
  Tensor forward(const Tensor& x) override {  // (B, T, C) -> (B, T, C)
    const int64_t B = x.size(0), T = x.size(1), C = x.size(2), hd = C / n_head;
    std::vector<Tensor> qkv = c_attn(x).split(C, 2);  // 3 x (B, T, C)
    auto heads = [&](const Tensor& t) { return t.view({B, T, n_head, hd}).transpose(1, 2); };
    Tensor y = scaled_dot_product_attention(heads(qkv[0]), heads(qkv[1]), heads(qkv[2]), Tensor(),
                                            0.0, /*is_causal=*/true);  // (B, nh, T, hd)
    return c_proj(y.transpose(1, 2).contiguous().view({B, T, C}));
  }

  int64_t n_head;
  nn::Ptr<nn::Linear> c_attn, c_proj;
};

class MLP : public nn::UnaryModule {
 public:
  explicit MLP(const GPTConfig& c) {
    c_fc = register_module("c_fc", linear(c.n_embd, 4 * c.n_embd, 0.02));
    c_proj = register_module("c_proj",
                             linear(4 * c.n_embd, c.n_embd, 0.02 / std::sqrt(2.0 * c.n_layer)));
  }
  Tensor forward(const Tensor& x) override { return c_proj(gelu(c_fc(x), "tanh")); }

  nn::Ptr<nn::Linear> c_fc, c_proj;
};

class Block : public nn::UnaryModule {
 public:
  explicit Block(const GPTConfig& c) {
    ln_1 = register_module("ln_1", nn::LayerNorm::make({c.n_embd}));
    attn = register_module("attn", std::make_shared<CausalSelfAttention>(c));
    ln_2 = register_module("ln_2", nn::LayerNorm::make({c.n_embd}));
    mlp = register_module("mlp", std::make_shared<MLP>(c));
  }
  Tensor forward(const Tensor& x) override {
    Tensor h = x + attn(ln_1(x));
    return h + mlp(ln_2(h));
  }

  nn::Ptr<nn::LayerNorm> ln_1, ln_2;
  nn::Ptr<CausalSelfAttention> attn;
  nn::Ptr<MLP> mlp;
};

class GPT : public nn::Module {
 public:
  explicit GPT(const GPTConfig& c) : config(c) {
    if (c.vocab_size < 1 || c.context < 1 || c.n_layer < 0)
      fail<ValueError>("GPT", "needs vocab_size, context >= 1 and n_layer >= 0, got ", c.vocab_size,
                       ", ", c.context, ", ", c.n_layer);
    wte = register_module("wte", nn::Embedding::make(c.vocab_size, c.n_embd));
    wpe = register_module("wpe", nn::Embedding::make(c.context, c.n_embd));
    nn::init::normal_(wte->weight, 0.0, 0.02);
    nn::init::normal_(wpe->weight, 0.0, 0.02);
    std::vector<std::shared_ptr<nn::UnaryModule>> blocks;
    for (int64_t i = 0; i < c.n_layer; ++i) blocks.push_back(std::make_shared<Block>(c));
    h = register_module("h", nn::Sequential::make(blocks));
    ln_f = register_module("ln_f", nn::LayerNorm::make({c.n_embd}));
    lm_head = register_module("lm_head", nn::Linear::make(c.n_embd, c.vocab_size, false));
    lm_head->weight = lm_head->replace_parameter("weight", wte->weight);  // tied
  }
  // idx (B, T) i64 with T <= context -> logits (B, T, vocab).
  Tensor forward(const Tensor& idx) {
    const int64_t T = idx.size(1);
    if (T > config.context)
      fail<ValueError>("GPT", "a sequence of ", T, " tokens is longer than the context ",
                       config.context);
    Tensor pos = arange(T, TensorOptions{.dtype = DType::i64, .device = idx.device()});
    return lm_head(ln_f(h(wte(idx) + wpe(pos))));
  }

  GPTConfig config;
  nn::Ptr<nn::Embedding> wte, wpe;
  nn::Ptr<nn::Sequential> h;
  nn::Ptr<nn::LayerNorm> ln_f;
  nn::Ptr<nn::Linear> lm_head;
};

}  // namespace char_lm
