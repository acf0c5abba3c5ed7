#include "nn/attention.h"

#include <cmath>
#include <limits>

#include "nn/init.h"
#include "tensor/raw.h"

namespace ember::nn {

MultiheadAttention::MultiheadAttention(int64_t e, int64_t h, MultiheadAttentionOptions o)
    : embed_dim(e), num_heads(h), head_dim(h > 0 ? e / h : 0), options(o) {
  if (h <= 0 || e <= 0 || e % h != 0)
    fail<ValueError>("MultiheadAttention", "embed_dim ", e,
                     " must be positive and divisible by num_heads ", h);
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * e, e}));
  init::xavier_uniform_(in_proj_weight);
  if (o.bias) {
    in_proj_bias = register_parameter("in_proj_bias", zeros({3 * e}));
  }
  out_proj = register_module("out_proj", Linear::make(e, e, o.bias));
  if (o.bias) init::zeros_(out_proj->bias);
}

namespace {
// A mask as an additive float mask: bool true (= masked) becomes -inf.
Tensor additive(const Tensor& mask, DType dtype) {
  if (mask.dtype() == DType::b8)
    return where(mask,
                 full({}, -std::numeric_limits<double>::infinity(),
                      {.dtype = dtype, .device = mask.device()}),
                 zeros({}, {.dtype = dtype, .device = mask.device()}));
  return mask.to(dtype);
}
}  // namespace

std::tuple<Tensor, Tensor> MultiheadAttention::forward(const Tensor& query, const Tensor& key,
                                                       const Tensor& value,
                                                       const ForwardOptions& f) {
  raw::check_defined("MultiheadAttention", query);
  bool unbatched = query.dim() == 2;
  auto batched = [&](const Tensor& t) {
    if (t.dim() != (unbatched ? 2 : 3) || t.size(-1) != embed_dim)
      fail<ShapeError>("MultiheadAttention", "expected inputs of shape ",
                       unbatched ? "(L, E)" : "(L, N, E)", " with E=", embed_dim, ", got ",
                       str(t.sizes()));
    Tensor b = unbatched ? t.unsqueeze(1) : (options.batch_first ? t.transpose(0, 1) : t);
    return b.transpose(0, 1);  // (N, L, E)
  };
  Tensor q = batched(query), k = batched(key), v = batched(value);
  int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = embed_dim, H = num_heads, D = head_dim;
  if (v.size(1) != S)
    fail<ShapeError>("MultiheadAttention", "key ", str(key.sizes()), " and value ",
                     str(value.sizes()), " differ in length");

  auto project = [&](const Tensor& x, int64_t i) {
    Tensor w = in_proj_weight.narrow(0, i * E, E);
    Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, i * E, E) : Tensor();
    return F::linear(x, w, b).reshape({N, x.size(1), H, D}).transpose(1, 2);  // (N, H, T, D)
  };
  Tensor qh = project(q, 0), kh = project(k, 1), vh = project(v, 2);

  Tensor mask;  // additive, broadcastable to (N, H, L, S)
  if (f.attn_mask.defined()) {
    Tensor m = additive(f.attn_mask, q.dtype());
    if (m.dim() == 2 && m.size(0) == L && m.size(1) == S) {
      mask = m.reshape({1, 1, L, S});
    } else if (m.dim() == 3 && m.size(0) == N * H && m.size(1) == L && m.size(2) == S) {
      mask = m.reshape({N, H, L, S});
    } else {
      fail<ShapeError>("MultiheadAttention", "attn_mask of shape ", str(f.attn_mask.sizes()),
                       " must be (", L, ", ", S, ") or (", N * H, ", ", L, ", ", S, ")");
    }
  }
  if (f.key_padding_mask.defined()) {
    Tensor kp = f.key_padding_mask;
    if (unbatched && kp.dim() == 1) kp = kp.unsqueeze(0);
    if (kp.dim() != 2 || kp.size(0) != N || kp.size(1) != S)
      fail<ShapeError>("MultiheadAttention", "key_padding_mask of shape ",
                       str(f.key_padding_mask.sizes()), " must be (", N, ", ", S, ")");
    Tensor m = additive(kp, q.dtype()).reshape({N, 1, 1, S});
    mask = mask.defined() ? mask + m : m;
  }
  if (f.is_causal) {
    Tensor causal =
        additive(triu(ones({L, S}, {.dtype = DType::b8, .device = q.device()}), 1), q.dtype())
            .reshape({1, 1, L, S});
    mask = mask.defined() ? mask + causal : causal;
  }

  double p = is_training() ? options.dropout : 0.0;
  Tensor out, weights;
  if (f.need_weights) {
    Tensor scores = qh.matmul(kh.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(D)));
    if (mask.defined()) scores = scores + mask;
    weights = softmax(scores, -1);  // (N, H, L, S)
    out = F::dropout(weights, p, is_training()).matmul(vh);
  } else {
    out = scaled_dot_product_attention(qh, kh, vh,
                                       mask.defined() ? mask.expand({N, H, L, S}) : Tensor(), p);
  }
  out = out.transpose(1, 2).reshape({N, L, E});
  out = out_proj->forward(out).transpose(0, 1);  // (L, N, E)
  if (unbatched) {
    out = out.squeeze(1);
  } else if (options.batch_first) {
    out = out.transpose(0, 1);
  }
  if (weights.defined()) {
    if (f.average_attn_weights) weights = weights.mean({1});
    if (unbatched) weights = weights.squeeze(0);
  }
  return {out, weights};
}

std::string MultiheadAttention::extra_repr() const { return ""; }

}  // namespace ember::nn
