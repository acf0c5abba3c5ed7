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
  // issue 15: torch's remaining arguments.
  bool add_bias_kv = false;    // learned bias_k, bias_v (1, 1, E) appended to the keys, values
  bool add_zero_attn = false;  // a zero key and value appended after the projections
  int64_t kdim = 0, vdim = 0;  // the key's and value's widths; 0 = embed_dim
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
  int64_t kdim, vdim;
  // (3 E, E): query, key, value projections stacked, when kdim == vdim == E; else
  // undefined and the separate q_proj_weight (E, E), k_proj_weight (E, kdim),
  // v_proj_weight (E, vdim) hold them (torch's names).
  Tensor in_proj_weight;
  Tensor q_proj_weight, k_proj_weight, v_proj_weight;
  Tensor in_proj_bias;    // (3 E)
  Tensor bias_k, bias_v;  // (1, 1, E) with add_bias_kv
  std::shared_ptr<Linear> out_proj;
};

}  // namespace ember::nn
