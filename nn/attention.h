// MultiheadAttention with PyTorch's parameters (in_proj_weight, in_proj_bias, out_proj)
// and semantics (batch_first, key padding and attention masks, averaged weights).
#pragma once

#include <memory>
#include <tuple>

#include "nn/layers.h"
#include "nn/module.h"

namespace ember::nn {

struct MultiheadAttentionOptions {
  double dropout = 0.0;  // on the attention weights, in training
  bool bias = true;
  bool batch_first = false;  // inputs (N, L, E) instead of (L, N, E)
};

class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, MultiheadAttentionOptions options = {});
  static Ptr<MultiheadAttention> make(int64_t embed_dim, int64_t num_heads,
                                      MultiheadAttentionOptions options = {}) {
    return std::make_shared<MultiheadAttention>(embed_dim, num_heads, options);
  }

  struct ForwardOptions {
    Tensor key_padding_mask{};  // (N, S): bool true = ignore that key, or float added
    bool need_weights = true;   // also return the attention weights
    Tensor attn_mask{};  // (L, S) or (N * heads, L, S): bool true = not allowed, or float added
    bool average_attn_weights = true;
    bool is_causal = false;  // query i attends to keys j <= i
  };
  // query (L, N, E), key and value (S, N, E) ((N, L, E) with batch_first; (L, E) unbatched).
  // Returns the output of the query's shape and, with need_weights, the weights
  // (N, L, S) averaged over heads or (N, heads, L, S).
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                     const ForwardOptions& options);
  std::tuple<Tensor, Tensor> forward(const Tensor& query, const Tensor& key, const Tensor& value) {
    return forward(query, key, value, ForwardOptions{});
  }
  std::string extra_repr() const override;

  int64_t embed_dim, num_heads, head_dim;
  MultiheadAttentionOptions options;
  Tensor in_proj_weight;  // (3 E, E): query, key, value projections stacked
  Tensor in_proj_bias;    // (3 E)
  std::shared_ptr<Linear> out_proj;
};

}  // namespace ember::nn
