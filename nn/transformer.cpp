#include "nn/transformer.h"

#include <limits>
#include <sstream>

#include "tensor/raw.h"

namespace ember::nn {

namespace {

// torch raises for nhead not dividing d_model inside MultiheadAttention; ember names the
// layer the user built, with both numbers, and checks the activation name up front.
void check_options(const char* layer, int64_t d_model, int64_t nhead,
                   const TransformerLayerOptions& o) {
  if (d_model <= 0 || nhead <= 0 || d_model % nhead != 0)
    fail<ValueError>(layer, "d_model ", d_model, " must be positive and divisible by nhead ",
                     nhead);
  if (o.dim_feedforward <= 0)
    fail<ValueError>(layer, "dim_feedforward must be positive, got ", o.dim_feedforward);
  if (o.activation != "relu" && o.activation != "gelu")
    fail<ValueError>(layer, "activation should be relu/gelu, not ", o.activation);
}

// Inputs are (S, N, E), (N, S, E) with batch_first, or unbatched (S, E).
void check_input(const char* layer, const char* what, const Tensor& x, int64_t d_model,
                 bool batch_first) {
  raw::check_defined(layer, x);
  if ((x.dim() != 2 && x.dim() != 3) || x.size(-1) != d_model)
    fail<ShapeError>(layer, "expected ", what, " of shape ", batch_first ? "(N, S, " : "(S, N, ",
                     d_model, ") or (S, ", d_model, "), got ", str(x.sizes()));
}

Tensor activate(const std::string& name, const Tensor& x) {
  return name == "gelu" ? gelu(x) : relu(x);
}

// torch's is_causal is a hint that the given mask is causal; without a mask ember makes
// one: -inf above the diagonal of the (L, S) scores (query i sees keys j <= i).
Tensor mask_or_causal(const Tensor& mask, bool is_causal, int64_t L, int64_t S,
                      const Tensor& like) {
  if (mask.defined() || !is_causal) return mask;
  return triu(full({L, S}, -std::numeric_limits<double>::infinity(),
                   {.dtype = like.dtype(), .device = like.device()}),
              1);
}

// The sequence length of x: (S, N, E), (N, S, E) with batch_first, or (S, E).
int64_t seq_len(const Tensor& x, bool batch_first) {
  return x.dim() == 3 && batch_first ? x.size(1) : x.size(0);
}

MultiheadAttentionOptions attention_options(const TransformerLayerOptions& o) {
  return {.dropout = o.dropout, .bias = o.bias, .batch_first = o.batch_first};
}

std::string repr(int64_t d_model, int64_t nhead, const TransformerLayerOptions& o) {
  std::ostringstream os;
  os << "d_model=" << d_model << ", nhead=" << nhead << ", dim_feedforward=" << o.dim_feedforward
     << ", dropout=" << o.dropout << ", activation=" << o.activation
     << ", batch_first=" << (o.batch_first ? "True" : "False")
     << ", norm_first=" << (o.norm_first ? "True" : "False");
  return os.str();
}

// The copy on the source's device and dtype, with its values and mode.
template <typename L>
std::shared_ptr<L> copy_of(const L& src) {
  auto c = std::make_shared<L>(src.d_model, src.nhead, src.options);
  const Tensor& w = src.self_attn->in_proj_weight;
  c->to(w.dtype());
  c->to(w.device());
  c->load_state_dict(src.state_dict());
  c->train(src.is_training());
  return c;
}

}  // namespace

// ---- TransformerEncoderLayer ---------------------------------------------------------------

TransformerEncoderLayer::TransformerEncoderLayer(int64_t d, int64_t h, TransformerLayerOptions o)
    : d_model(d), nhead(h), options(std::move(o)) {
  check_options("TransformerEncoderLayer", d, h, options);
  const auto& op = options;
  // torch's registration order, so state_dict keys come out in torch's order.
  self_attn = register_module("self_attn", MultiheadAttention::make(d, h, attention_options(op)));
  linear1 = register_module("linear1", Linear::make(d, op.dim_feedforward, op.bias));
  dropout = register_module("dropout", Dropout::make(op.dropout));
  linear2 = register_module("linear2", Linear::make(op.dim_feedforward, d, op.bias));
  norm1 = register_module("norm1", LayerNorm::make({d}, op.layer_norm_eps, true, op.bias));
  norm2 = register_module("norm2", LayerNorm::make({d}, op.layer_norm_eps, true, op.bias));
  dropout1 = register_module("dropout1", Dropout::make(op.dropout));
  dropout2 = register_module("dropout2", Dropout::make(op.dropout));
}

Tensor TransformerEncoderLayer::sa_block(const Tensor& x, const EncoderLayerMasks& m) {
  const int64_t S = seq_len(x, options.batch_first);
  auto [out, weights] =
      self_attn->forward(x, x, x,
                         {.key_padding_mask = m.src_key_padding_mask,
                          .need_weights = false,
                          .attn_mask = mask_or_causal(m.src_mask, m.is_causal, S, S, x)});
  return dropout1->forward(out);
}

Tensor TransformerEncoderLayer::ff_block(const Tensor& x) {
  return dropout2->forward(
      linear2->forward(dropout->forward(activate(options.activation, linear1->forward(x)))));
}

Tensor TransformerEncoderLayer::forward(const Tensor& src, const EncoderLayerMasks& m) {
  check_input("TransformerEncoderLayer", "src", src, d_model, options.batch_first);
  Tensor x = src;
  if (options.norm_first) {
    x = x + sa_block(norm1->forward(x), m);
    return x + ff_block(norm2->forward(x));
  }
  x = norm1->forward(x + sa_block(x, m));
  return norm2->forward(x + ff_block(x));
}

std::shared_ptr<TransformerEncoderLayer> TransformerEncoderLayer::clone() const {
  return copy_of(*this);
}

std::string TransformerEncoderLayer::extra_repr() const { return repr(d_model, nhead, options); }

// ---- TransformerDecoderLayer ---------------------------------------------------------------

TransformerDecoderLayer::TransformerDecoderLayer(int64_t d, int64_t h, TransformerLayerOptions o)
    : d_model(d), nhead(h), options(std::move(o)) {
  check_options("TransformerDecoderLayer", d, h, options);
  const auto& op = options;
  self_attn = register_module("self_attn", MultiheadAttention::make(d, h, attention_options(op)));
  multihead_attn =
      register_module("multihead_attn", MultiheadAttention::make(d, h, attention_options(op)));
  linear1 = register_module("linear1", Linear::make(d, op.dim_feedforward, op.bias));
  dropout = register_module("dropout", Dropout::make(op.dropout));
  linear2 = register_module("linear2", Linear::make(op.dim_feedforward, d, op.bias));
  norm1 = register_module("norm1", LayerNorm::make({d}, op.layer_norm_eps, true, op.bias));
  norm2 = register_module("norm2", LayerNorm::make({d}, op.layer_norm_eps, true, op.bias));
  norm3 = register_module("norm3", LayerNorm::make({d}, op.layer_norm_eps, true, op.bias));
  dropout1 = register_module("dropout1", Dropout::make(op.dropout));
  dropout2 = register_module("dropout2", Dropout::make(op.dropout));
  dropout3 = register_module("dropout3", Dropout::make(op.dropout));
}

Tensor TransformerDecoderLayer::ff_block(const Tensor& x) {
  return dropout3->forward(
      linear2->forward(dropout->forward(activate(options.activation, linear1->forward(x)))));
}

Tensor TransformerDecoderLayer::forward(const Tensor& tgt, const Tensor& memory,
                                        const DecoderLayerMasks& m) {
  check_input("TransformerDecoderLayer", "tgt", tgt, d_model, options.batch_first);
  check_input("TransformerDecoderLayer", "memory", memory, d_model, options.batch_first);
  const int64_t T = seq_len(tgt, options.batch_first), S = seq_len(memory, options.batch_first);
  auto sa = [&](const Tensor& x) {
    auto [out, w] =
        self_attn->forward(x, x, x,
                           {.key_padding_mask = m.tgt_key_padding_mask,
                            .need_weights = false,
                            .attn_mask = mask_or_causal(m.tgt_mask, m.tgt_is_causal, T, T, x)});
    return dropout1->forward(out);
  };
  auto mha = [&](const Tensor& x) {
    auto [out, w] = multihead_attn->forward(
        x, memory, memory,
        {.key_padding_mask = m.memory_key_padding_mask,
         .need_weights = false,
         .attn_mask = mask_or_causal(m.memory_mask, m.memory_is_causal, T, S, x)});
    return dropout2->forward(out);
  };
  Tensor x = tgt;
  if (options.norm_first) {
    x = x + sa(norm1->forward(x));
    x = x + mha(norm2->forward(x));
    return x + ff_block(norm3->forward(x));
  }
  x = norm1->forward(x + sa(x));
  x = norm2->forward(x + mha(x));
  return norm3->forward(x + ff_block(x));
}

std::shared_ptr<TransformerDecoderLayer> TransformerDecoderLayer::clone() const {
  return copy_of(*this);
}

std::string TransformerDecoderLayer::extra_repr() const { return repr(d_model, nhead, options); }

// ---- the stacks ---------------------------------------------------------------------------

namespace {
void check_num_layers(const char* stack, int64_t n) {
  if (n <= 0) fail<ValueError>(stack, "num_layers must be positive, got ", n);
}
}  // namespace

TransformerEncoder::TransformerEncoder(const TransformerEncoderLayer& layer, int64_t n,
                                       std::shared_ptr<LayerNorm> final_norm)
    : num_layers(n) {
  check_num_layers("TransformerEncoder", n);
  layers = register_module("layers", ModuleList::make());
  for (int64_t i = 0; i < n; ++i) layers->push_back(layer.clone());
  if (final_norm) norm = register_module("norm", std::move(final_norm));
}

Tensor TransformerEncoder::forward(const Tensor& src, const EncoderLayerMasks& masks) {
  Tensor x = src;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layers->at<TransformerEncoderLayer>(i)->forward(x, masks);
  return norm ? norm->forward(x) : x;
}

TransformerDecoder::TransformerDecoder(const TransformerDecoderLayer& layer, int64_t n,
                                       std::shared_ptr<LayerNorm> final_norm)
    : num_layers(n) {
  check_num_layers("TransformerDecoder", n);
  layers = register_module("layers", ModuleList::make());
  for (int64_t i = 0; i < n; ++i) layers->push_back(layer.clone());
  if (final_norm) norm = register_module("norm", std::move(final_norm));
}

Tensor TransformerDecoder::forward(const Tensor& tgt, const Tensor& memory,
                                   const DecoderLayerMasks& masks) {
  Tensor x = tgt;
  for (size_t i = 0; i < layers->size(); ++i)
    x = layers->at<TransformerDecoderLayer>(i)->forward(x, memory, masks);
  return norm ? norm->forward(x) : x;
}

}  // namespace ember::nn
