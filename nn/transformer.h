// torch.nn's Transformer layers (issue 15): TransformerEncoderLayer,
// TransformerDecoderLayer and their stacks TransformerEncoder, TransformerDecoder, with
// torch's options, defaults, submodule names (so state_dict keys match: self_attn.
// in_proj_weight, linear1.weight, norm1.weight, layers.0. ...) and forward semantics
// (post-norm by default, norm_first for pre-norm; dropout after attention and in the MLP).
#pragma once

#include <memory>
#include <string>

#include "nn/attention.h"
#include "nn/containers.h"
#include "nn/layers.h"
#include "nn/module.h"

namespace ember::nn {

// torch's keyword arguments after (d_model, nhead).
struct TransformerLayerOptions {
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";  // "relu" or "gelu"
  double layer_norm_eps = 1e-5;
  bool batch_first = false;  // (N, S, E) instead of (S, N, E)
  bool norm_first = false;   // pre-norm: x + block(norm(x))
  bool bias = true;          // in the linear layers, the attention and the layer norms
};

// Masks as MultiheadAttention takes them: bool true = not allowed, or float added.
// is_causal is torch's hint that the given mask is causal (the mask is used); without a
// mask ember builds the causal one (torch raises).
struct EncoderLayerMasks {
  Tensor src_mask{};              // (S, S) or (N * nhead, S, S)
  Tensor src_key_padding_mask{};  // (N, S)
  bool is_causal = false;
};

class TransformerEncoderLayer : public UnaryModule {
 public:
  TransformerEncoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options = {});
  static Ptr<TransformerEncoderLayer> make(int64_t d_model, int64_t nhead,
                                           TransformerLayerOptions options = {}) {
    return std::make_shared<TransformerEncoderLayer>(d_model, nhead, std::move(options));
  }
  // src (S, N, E), (N, S, E) with batch_first, or unbatched (S, E) -> src's shape.
  Tensor forward(const Tensor& src, const EncoderLayerMasks& masks);
  Tensor forward(const Tensor& src) override { return forward(src, EncoderLayerMasks{}); }
  // A deep copy (torch's copy.deepcopy): same options, values, device, dtype and mode.
  std::shared_ptr<TransformerEncoderLayer> clone() const;
  std::string extra_repr() const override;

  int64_t d_model, nhead;
  TransformerLayerOptions options;
  Ptr<MultiheadAttention> self_attn;
  Ptr<Linear> linear1, linear2;
  Ptr<Dropout> dropout, dropout1, dropout2;
  Ptr<LayerNorm> norm1, norm2;

 private:
  Tensor sa_block(const Tensor& x, const EncoderLayerMasks& m);
  Tensor ff_block(const Tensor& x);
};

struct DecoderLayerMasks {
  Tensor tgt_mask{};                 // (T, T) or (N * nhead, T, T)
  Tensor memory_mask{};              // (T, S) or (N * nhead, T, S)
  Tensor tgt_key_padding_mask{};     // (N, T)
  Tensor memory_key_padding_mask{};  // (N, S)
  bool tgt_is_causal = false;
  bool memory_is_causal = false;
};

class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(int64_t d_model, int64_t nhead, TransformerLayerOptions options = {});
  static Ptr<TransformerDecoderLayer> make(int64_t d_model, int64_t nhead,
                                           TransformerLayerOptions options = {}) {
    return std::make_shared<TransformerDecoderLayer>(d_model, nhead, std::move(options));
  }
  // tgt (T, N, E), memory (S, N, E) ((N, T, E), (N, S, E) with batch_first) -> tgt's shape.
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderLayerMasks& masks = {});
  std::shared_ptr<TransformerDecoderLayer> clone() const;
  std::string extra_repr() const override;

  int64_t d_model, nhead;
  TransformerLayerOptions options;
  Ptr<MultiheadAttention> self_attn, multihead_attn;
  Ptr<Linear> linear1, linear2;
  Ptr<Dropout> dropout, dropout1, dropout2, dropout3;
  Ptr<LayerNorm> norm1, norm2, norm3;

 private:
  Tensor ff_block(const Tensor& x);
};

// num_layers deep copies of encoder_layer under "layers" (layers.0.self_attn...), then the
// optional final norm ("norm"). The given layer itself is not part of the stack.
class TransformerEncoder : public UnaryModule {
 public:
  TransformerEncoder(const TransformerEncoderLayer& encoder_layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  static Ptr<TransformerEncoder> make(const std::shared_ptr<TransformerEncoderLayer>& layer,
                                      int64_t num_layers,
                                      std::shared_ptr<LayerNorm> norm = nullptr) {
    return std::make_shared<TransformerEncoder>(*layer, num_layers, std::move(norm));
  }
  Tensor forward(const Tensor& src, const EncoderLayerMasks& masks);
  Tensor forward(const Tensor& src) override { return forward(src, EncoderLayerMasks{}); }

  int64_t num_layers;
  Ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;  // null without a final norm
};

class TransformerDecoder : public Module {
 public:
  TransformerDecoder(const TransformerDecoderLayer& decoder_layer, int64_t num_layers,
                     std::shared_ptr<LayerNorm> norm = nullptr);
  static Ptr<TransformerDecoder> make(const std::shared_ptr<TransformerDecoderLayer>& layer,
                                      int64_t num_layers,
                                      std::shared_ptr<LayerNorm> norm = nullptr) {
    return std::make_shared<TransformerDecoder>(*layer, num_layers, std::move(norm));
  }
  Tensor forward(const Tensor& tgt, const Tensor& memory, const DecoderLayerMasks& masks = {});

  int64_t num_layers;
  Ptr<ModuleList> layers;
  std::shared_ptr<LayerNorm> norm;
};

}  // namespace ember::nn
