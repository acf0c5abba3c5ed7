// The Transformer layers (issue 15) against a composition of ember's own primitives in
// f64 (linear as matmul, softmax, layer_norm), for both norm_first settings, batch_first
// both ways and with masks; torch's state_dict keys; deep copies in the stacks; errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "nn/transformer.h"

namespace ember::nn {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-10) {
  ASSERT_EQ(got.sizes(), want.sizes());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * (1 + std::fabs(w[i]))) << "at " << i;
}

Tensor lin(const Tensor& x, const Linear& l) {
  Tensor y = x.matmul(l.weight.transpose(0, 1));
  return l.bias.defined() ? y + l.bias : y;
}

// Attention by hand: q_in (N, L, E), kv (N, S, E), mask additive broadcastable to
// (N, H, L, S) or undefined -> (N, L, E).
Tensor attention_ref(const MultiheadAttention& a, const Tensor& q_in, const Tensor& kv,
                     const Tensor& mask) {
  const int64_t N = q_in.size(0), L = q_in.size(1), S = kv.size(1), E = a.embed_dim,
                H = a.num_heads, D = E / H;
  auto proj = [&](const Tensor& x, int64_t i, int64_t T) {
    Tensor y = x.matmul(a.in_proj_weight.narrow(0, i * E, E).transpose(0, 1));
    if (a.in_proj_bias.defined()) y = y + a.in_proj_bias.narrow(0, i * E, E);
    return y.reshape({N, T, H, D}).transpose(1, 2);  // (N, H, T, D)
  };
  Tensor s =
      proj(q_in, 0, L).matmul(proj(kv, 1, S).transpose(-2, -1)) / std::sqrt(static_cast<double>(D));
  if (mask.defined()) s = s + mask;
  Tensor o = softmax(s, -1).matmul(proj(kv, 2, S)).transpose(1, 2).reshape({N, L, E});
  return lin(o, *a.out_proj);
}

Tensor ln(const Tensor& x, const LayerNorm& n) {
  return F::layer_norm(x, n.normalized_shape, n.weight, n.bias, n.eps);
}

Tensor mlp(const Tensor& x, const Linear& l1, const Linear& l2, const std::string& act) {
  Tensor h = lin(x, l1);
  return lin(act == "gelu" ? gelu(h) : relu(h), l2);
}

// Encoder layer reference on (N, S, E) with an additive mask.
Tensor encoder_ref(const TransformerEncoderLayer& l, const Tensor& x, const Tensor& mask) {
  auto sa = [&](const Tensor& t) { return attention_ref(*l.self_attn, t, t, mask); };
  auto ff = [&](const Tensor& t) { return mlp(t, *l.linear1, *l.linear2, l.options.activation); };
  if (l.options.norm_first) {
    Tensor h = x + sa(ln(x, *l.norm1));
    return h + ff(ln(h, *l.norm2));
  }
  Tensor h = ln(x + sa(x), *l.norm1);
  return ln(h + ff(h), *l.norm2);
}

Tensor decoder_ref(const TransformerDecoderLayer& l, const Tensor& x, const Tensor& mem,
                   const Tensor& tgt_mask, const Tensor& mem_mask) {
  auto sa = [&](const Tensor& t) { return attention_ref(*l.self_attn, t, t, tgt_mask); };
  auto ca = [&](const Tensor& t) { return attention_ref(*l.multihead_attn, t, mem, mem_mask); };
  auto ff = [&](const Tensor& t) { return mlp(t, *l.linear1, *l.linear2, l.options.activation); };
  if (l.options.norm_first) {
    Tensor h = x + sa(ln(x, *l.norm1));
    h = h + ca(ln(h, *l.norm2));
    return h + ff(ln(h, *l.norm3));
  }
  Tensor h = ln(x + sa(x), *l.norm1);
  h = ln(h + ca(h), *l.norm2);
  return ln(h + ff(h), *l.norm3);
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// Random affine norms, so a swapped norm1/norm2 or a missing weight shows.
template <typename L>
void randomize_norms(L& layer) {
  NoGradGuard ng;
  for (auto& [name, p] : layer.named_parameters())
    if (name.find("norm") != std::string::npos) p.copy_(randn(p.sizes(), f64()) * 0.5 + 1.0);
}

TEST(TransformerEncoderLayer, MatchesCompositionWithMasks) {
  manual_seed(3);
  const int64_t N = 2, S = 5, E = 8, H = 2;
  for (bool norm_first : {false, true})
    for (bool batch_first : {false, true})
      for (const char* act : {"relu", "gelu"}) {
        SCOPED_TRACE(std::string("norm_first=") + (norm_first ? "1" : "0") +
                     " batch_first=" + (batch_first ? "1" : "0") + " " + act);
        auto layer = TransformerEncoderLayer::make(E, H,
                                                   {.dim_feedforward = 16,
                                                    .activation = act,
                                                    .batch_first = batch_first,
                                                    .norm_first = norm_first});
        layer->to(DType::f64);
        layer->eval();  // dropout off
        randomize_norms(*layer);
        Tensor x = randn({N, S, E}, f64());                   // (N, S, E)
        Tensor causal = triu(full({S, S}, -kInf, f64()), 1);  // (S, S)
        Tensor pad = from_vector<double>({0, 0, 0, 0, 0, 0, 0, 0, 1, 1}, {N, S}) > 0.5;  // (N, S)
        Tensor mask = causal.reshape({1, 1, S, S}) +
                      where(pad, full({}, -kInf, f64()), zeros({}, f64())).reshape({N, 1, 1, S});
        Tensor in = batch_first ? x : x.transpose(0, 1);
        Tensor y = layer->forward(in, {.src_mask = causal, .src_key_padding_mask = pad});
        {
          SCOPED_TRACE("masks");
          expect_close(batch_first ? y : y.transpose(0, 1), encoder_ref(*layer, x, mask));
        }
        {
          SCOPED_TRACE("nomask");
          expect_close(batch_first ? layer->forward(in) : layer->forward(in).transpose(0, 1),
                       encoder_ref(*layer, x, Tensor()));
        }
        // is_causal alone gives the causal mask's result.
        Tensor yc = layer->forward(in, {.is_causal = true});
        expect_close(batch_first ? yc : yc.transpose(0, 1),
                     encoder_ref(*layer, x, causal.reshape({1, 1, S, S})));
      }
}

TEST(TransformerDecoderLayer, MatchesCompositionWithMasks) {
  manual_seed(4);
  const int64_t N = 2, T = 4, S = 6, E = 8, H = 4;
  for (bool norm_first : {false, true})
    for (bool batch_first : {false, true}) {
      SCOPED_TRACE(std::string("norm_first=") + (norm_first ? "1" : "0") +
                   " batch_first=" + (batch_first ? "1" : "0"));
      auto layer = TransformerDecoderLayer::make(
          E, H, {.dim_feedforward = 12, .batch_first = batch_first, .norm_first = norm_first});
      layer->to(DType::f64);
      layer->eval();
      randomize_norms(*layer);
      Tensor x = randn({N, T, E}, f64()), mem = randn({N, S, E}, f64());
      Tensor causal = triu(full({T, T}, -kInf, f64()), 1);
      Tensor mem_mask = randn({T, S}, f64());  // a float mask is added
      Tensor pad = zeros({N, S}, f64());
      pad.narrow(1, S - 2, 2).narrow(0, 1, 1).fill_(1.0);
      Tensor mem_pad = pad > 0.5;  // (N, S): sample 1 ignores its last two keys
      Tensor cross = mem_mask.reshape({1, 1, T, S}) +
                     where(mem_pad, full({}, -kInf, f64()), zeros({}, f64())).reshape({N, 1, 1, S});
      auto to_layout = [&](const Tensor& t) { return batch_first ? t : t.transpose(0, 1); };
      Tensor y = layer->forward(
          to_layout(x), to_layout(mem),
          {.memory_mask = mem_mask, .memory_key_padding_mask = mem_pad, .tgt_is_causal = true});
      expect_close(to_layout(y), decoder_ref(*layer, x, mem, causal.reshape({1, 1, T, T}), cross));
    }
}

TEST(Transformer, StateDictKeysAreTorchs) {
  auto enc = TransformerEncoderLayer::make(8, 2);
  const std::vector<std::string> enc_keys = {"self_attn.in_proj_weight",
                                             "self_attn.in_proj_bias",
                                             "self_attn.out_proj.weight",
                                             "self_attn.out_proj.bias",
                                             "linear1.weight",
                                             "linear1.bias",
                                             "linear2.weight",
                                             "linear2.bias",
                                             "norm1.weight",
                                             "norm1.bias",
                                             "norm2.weight",
                                             "norm2.bias"};
  EXPECT_THAT(enc->state_dict().keys(), ElementsAreArray(enc_keys));
  EXPECT_EQ(enc->linear1->weight.sizes(), (Shape{2048, 8}));  // torch's dim_feedforward
  EXPECT_EQ(enc->dropout->p, 0.1);

  auto dec = TransformerDecoderLayer::make(8, 2, {.dim_feedforward = 16, .bias = false});
  const std::vector<std::string> dec_keys = {"self_attn.in_proj_weight",
                                             "self_attn.out_proj.weight",
                                             "multihead_attn.in_proj_weight",
                                             "multihead_attn.out_proj.weight",
                                             "linear1.weight",
                                             "linear2.weight",
                                             "norm1.weight",
                                             "norm2.weight",
                                             "norm3.weight"};
  EXPECT_THAT(dec->state_dict().keys(), ElementsAreArray(dec_keys));

  auto stack = TransformerEncoder::make(enc, 2, LayerNorm::make({8}));
  std::vector<std::string> want;
  for (const char* i : {"0", "1"})
    for (const std::string& k : enc_keys) want.push_back(std::string("layers.") + i + "." + k);
  want.push_back("norm.weight");
  want.push_back("norm.bias");
  EXPECT_THAT(stack->state_dict().keys(), ElementsAreArray(want));
  auto dstack = TransformerDecoder::make(dec, 1);
  EXPECT_EQ(dstack->state_dict().keys().front(), "layers.0.self_attn.in_proj_weight");
  EXPECT_EQ(dstack->state_dict().size(), dec_keys.size());
}

// The stack's layers are deep copies: equal values at first, separate storage, and the
// stack's output is its layers applied in turn, then the norm.
TEST(TransformerEncoder, ClonesLayersAndAppliesThemInTurn) {
  manual_seed(5);
  auto layer = TransformerEncoderLayer::make(8, 2, {.dim_feedforward = 16, .dropout = 0.0});
  layer->to(DType::f64);
  auto stack = TransformerEncoder::make(layer, 2, LayerNorm::make({8}));
  stack->to(DType::f64);
  auto l0 = stack->layers->at<TransformerEncoderLayer>(0);
  auto l1 = stack->layers->at<TransformerEncoderLayer>(1);
  expect_close(l0->linear1->weight, layer->linear1->weight, 0.0);
  {
    NoGradGuard ng;
    l0->linear1->weight.add_(1.0);
  }
  expect_close(l1->linear1->weight, layer->linear1->weight, 0.0);
  EXPECT_EQ(stack->parameters().size(), 2 * layer->parameters().size() + 2);
  Tensor x = randn({5, 2, 8}, f64());
  Tensor pad = zeros({2, 5}, f64()) > 0.5;
  Tensor want = stack->norm->forward(
      l1->forward(l0->forward(x, {.src_key_padding_mask = pad}), {.src_key_padding_mask = pad}));
  expect_close(stack->forward(x, {.src_key_padding_mask = pad}), want);
}

// Gradients flow through both layers (attention, MLP, norms) as finite differences say.
TEST(Transformer, Gradcheck) {
  manual_seed(6);
  for (bool norm_first : {false, true}) {
    auto enc = TransformerEncoderLayer::make(
        4, 2, {.dim_feedforward = 6, .activation = "gelu", .norm_first = norm_first});
    auto dec =
        TransformerDecoderLayer::make(4, 2, {.dim_feedforward = 6, .norm_first = norm_first});
    enc->to(DType::f64);
    dec->to(DType::f64);
    enc->eval();
    dec->eval();
    Tensor x = randn({3, 2, 4}, f64()).requires_grad_();
    Tensor mem = randn({2, 2, 4}, f64()).requires_grad_();
    auto f = [&](const autograd::TensorList& in) {
      Tensor h = enc->forward(in[0], {.is_causal = true});
      return autograd::TensorList{dec->forward(h, in[1])};
    };
    auto report = autograd::gradcheck(f, {x, mem});
    EXPECT_TRUE(report.ok) << "norm_first=" << norm_first << ": " << report.message;
  }
}

TEST(Transformer, ErrorsNameTheLayerAndShapes) {
  try {
    TransformerEncoderLayer::make(10, 3);
    FAIL() << "nhead 3 does not divide 10";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("TransformerEncoderLayer"));
    EXPECT_THAT(e.what(), HasSubstr("10"));
  }
  EXPECT_THROW(TransformerDecoderLayer::make(8, 3), ValueError);
  EXPECT_THROW(TransformerEncoderLayer::make(8, 2, {.activation = "tanh"}), ValueError);
  auto layer = TransformerEncoderLayer::make(8, 2, {.dim_feedforward = 16});
  try {
    layer->forward(randn({5, 2, 6}));
    FAIL() << "width 6 for d_model 8";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("TransformerEncoderLayer"));
    EXPECT_THAT(e.what(), HasSubstr("[5, 2, 6]"));
  }
  auto dec = TransformerDecoderLayer::make(8, 2, {.dim_feedforward = 16});
  EXPECT_THROW(dec->forward(randn({4, 2, 8}), randn({5, 2, 7})), ShapeError);
  EXPECT_THROW(TransformerEncoder::make(layer, 0), ValueError);
}

}  // namespace
}  // namespace ember::nn
