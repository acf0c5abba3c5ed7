// Sampling from examples/char_lm's models through ember's ops on the model's device: the
// last row of logits over temperature, its top k (topk), softmax and one multinomial draw
// from the default generator, seeded first, so a run's sample is reproducible.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <ember/ember.h>

#include "char_lm/data.h"
#include "char_lm/rnn_model.h"

namespace char_lm {

using namespace ember;

struct SampleOptions {
  std::string prompt = "The ";
  int64_t chars = 300;
  double temperature = 0.8;
  int64_t top_k = 20;
  uint64_t seed = 0;
};

// idx (B, T) -> logits (B, T, vocab): a GPT's or an RNNLM's forward.
using Forward = std::function<Tensor(const Tensor&)>;

// The next token from logits (1, T, vocab), mapped back to a vocabulary index (gather); only
// that index comes to the host.
inline int64_t draw(const Tensor& logits, const SampleOptions& o) {
  const Tensor last = logits.select(1, logits.size(1) - 1) / o.temperature;  // (1, vocab)
  auto [top, index] = topk(last, std::min(o.top_k, last.size(1)), 1);        // (1, k) x 2
  const Tensor pick = multinomial(softmax(top, 1), 1);                       // (1, 1)
  return index.gather(1, pick).to(Device::cpu()).item<int64_t>();
}

// The prompt and `chars` characters drawn after it, manual_seed(seed) first. With `rnn` the
// prompt is read once and then one character per call, carrying the (h, c) state; without,
// `forward` re-runs the last `context` characters for each one (the GPT).
inline std::string sample(nn::Module& net, const Forward& forward, RNNLM* rnn, int64_t context,
                          const Vocab& vocab, const SampleOptions& o) {
  NoGradGuard no_grad;
  net.eval();
  manual_seed(o.seed);
  std::vector<int64_t> tokens = vocab.encode(o.prompt);
  if (tokens.empty()) fail<ValueError>("char_lm", "sampling needs a non-empty prompt (--prompt)");
  const Device device = net.parameters().front().device();
  RNNState state;
  size_t fed = 0;  // the tokens the recurrent state has read
  for (int64_t i = 0; i < o.chars; ++i) {
    Tensor logits;
    if (rnn) {
      std::vector<int64_t> unread(tokens.begin() + static_cast<ptrdiff_t>(fed), tokens.end());
      const auto T = static_cast<int64_t>(unread.size());
      std::tie(logits, state) = rnn->step(from_vector(unread, {1, T}, device), state);
      fed = tokens.size();
    } else {
      const auto from = static_cast<ptrdiff_t>(
          std::max<int64_t>(0, static_cast<int64_t>(tokens.size()) - context));
      std::vector<int64_t> window(tokens.begin() + from, tokens.end());
      const auto T = static_cast<int64_t>(window.size());
      logits = forward(from_vector(window, {1, T}, device));
    }
    tokens.push_back(draw(logits, o));
  }
  return vocab.decode(tokens);
}

}  // namespace char_lm
