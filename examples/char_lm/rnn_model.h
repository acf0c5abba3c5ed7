// The recurrent models of examples/char_lm (--model lstm|gru), as a PyTorch user writes them:
//   embed (vocab, C) - rnn: nn::LSTM / nn::GRU (C -> H, num_layers, batch_first) - head (H ->
//   vocab)
// with PyTorch's default initialization (Embedding N(0, 1), Linear and the recurrent weights
// uniform), so the state dict's keys are torch's: embed.weight, rnn.weight_ih_l0, ...,
// rnn.bias_hh_l1, head.weight, head.bias. C = H (one --width).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include <ember/ember.h>

namespace char_lm {

using namespace ember;

struct RNNLMConfig {
  int64_t vocab_size = 0;
  std::string cell = "lstm";  // lstm | gru
  int64_t n_layer = 2;
  int64_t hidden = 256;  // the embedding width too
};

// The recurrent state carried between calls: (h, c) for the LSTM, h alone for the GRU;
// undefined tensors are zeros (the layers' default).
struct RNNState {
  Tensor h, c;
};

class RNNLM : public nn::Module {
 public:
  explicit RNNLM(const RNNLMConfig& c) : config(c) {
    if (c.vocab_size < 1 || c.n_layer < 1 || c.hidden < 1)
      fail<ValueError>("RNNLM", "needs vocab_size, n_layer and hidden >= 1, got ", c.vocab_size,
                       ", ", c.n_layer, ", ", c.hidden);
    if (c.cell != "lstm" && c.cell != "gru")
      fail<ValueError>("RNNLM", "cell must be lstm or gru, got '", c.cell, "'");
    embed = register_module("embed", nn::Embedding::make(c.vocab_size, c.hidden));
    const nn::RNNOptions o{.num_layers = c.n_layer, .batch_first = true};
    if (c.cell == "lstm") lstm = register_module("rnn", nn::LSTM::make(c.hidden, c.hidden, o));
    else gru = register_module("rnn", nn::GRU::make(c.hidden, c.hidden, o));
    head = register_module("head", nn::Linear::make(c.hidden, c.vocab_size));
  }
  // idx (B, T) i64 -> logits (B, T, vocab), from a zero state. Any T: no context limit.
  Tensor forward(const Tensor& idx) { return step(idx, RNNState{}).first; }
  // idx (B, T) after `s` -> (logits (B, T, vocab), the state after the last token): what
  // sampling calls to feed the prompt once and then one character at a time.
  std::pair<Tensor, RNNState> step(const Tensor& idx, const RNNState& s) {
    Tensor x = embed(idx);  // (B, T, C)
    Tensor out;             // (B, T, H)
    RNNState next;
    if (lstm) {
      std::optional<std::tuple<Tensor, Tensor>> hc;
      if (s.h.defined()) hc = std::make_tuple(s.h, s.c);
      std::tuple<Tensor, Tensor> last;
      std::tie(out, last) = lstm->forward(x, hc);
      std::tie(next.h, next.c) = last;
    } else {
      std::tie(out, next.h) = gru->forward(x, s.h);
    }
    return {head(out), next};
  }

  RNNLMConfig config;
  nn::Ptr<nn::Embedding> embed;
  nn::Ptr<nn::LSTM> lstm;  // one of the two, registered as "rnn"
  nn::Ptr<nn::GRU> gru;
  nn::Ptr<nn::Linear> head;
};

}  // namespace char_lm
