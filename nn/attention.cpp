#include "nn/attention.h"

#include <cmath>
#include <limits>

#include "nn/init.h"
#include "tensor/raw.h"

namespace ember::nn {

MultiheadAttention::MultiheadAttention(int64_t e, int64_t h, MultiheadAttentionOptions o)
    : embed_dim(e),
      num_heads(h),
      head_dim(h > 0 ? e / h : 0),
      options(o),
      kdim(o.kdim > 0 ? o.kdim : e),
      vdim(o.vdim > 0 ? o.vdim : e) {
  if (h <= 0 || e <= 0 || e % h != 0)
    fail<ValueError>("MultiheadAttention", "embed_dim ", e,
                     " must be positive and divisible by num_heads ", h);
  if (o.kdim < 0 || o.vdim < 0)
    fail<ValueError>("MultiheadAttention", "kdim and vdim must be positive, got ", o.kdim, " and ",
                     o.vdim);
  // torch's order of registration, so state_dict keys come out in torch's order.
  if (kdim == e && vdim == e) {
    in_proj_weight = register_parameter("in_proj_weight", empty({3 * e, e}));
    init::xavier_uniform_(in_proj_weight);
  } else {
    q_proj_weight = register_parameter("q_proj_weight", empty({e, e}));
    k_proj_weight = register_parameter("k_proj_weight", empty({e, kdim}));
    v_proj_weight = register_parameter("v_proj_weight", empty({e, vdim}));
    for (Tensor* w : {&q_proj_weight, &k_proj_weight, &v_proj_weight}) init::xavier_uniform_(*w);
  }
  if (o.bias) {
    in_proj_bias = register_parameter("in_proj_bias", zeros({3 * e}));
  }
  out_proj = register_module("out_proj", Linear::make(e, e, o.bias));
  if (o.bias) init::zeros_(out_proj->bias);
  if (o.add_bias_kv) {
    bias_k = register_parameter("bias_k", empty({1, 1, e}));
    bias_v = register_parameter("bias_v", empty({1, 1, e}));
    init::xavier_normal_(bias_k);
    init::xavier_normal_(bias_v);
  }
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
  auto batched = [&](const Tensor& t, int64_t width) {
    if (t.dim() != (unbatched ? 2 : 3) || t.size(-1) != width)
      fail<ShapeError>("MultiheadAttention", "expected inputs of shape ",
                       unbatched ? "(L, E)" : "(L, N, E)", " with E=", width, ", got ",
                       str(t.sizes()));
    Tensor b = unbatched ? t.unsqueeze(1) : (options.batch_first ? t.transpose(0, 1) : t);
    return b.transpose(0, 1);  // (N, L, E)
  };
  Tensor q = batched(query, embed_dim), k = batched(key, kdim), v = batched(value, vdim);
  const int64_t N = q.size(0), L = q.size(1), S0 = k.size(1), E = embed_dim, H = num_heads,
                D = head_dim;
  if (v.size(1) != S0)
    fail<ShapeError>("MultiheadAttention", "key ", str(key.sizes()), " and value ",
                     str(value.sizes()), " differ in length");

  auto project = [&](const Tensor& x, int64_t i) {  // (N, T, E)
    const Tensor* sep[] = {&q_proj_weight, &k_proj_weight, &v_proj_weight};
    Tensor w = in_proj_weight.defined() ? in_proj_weight.narrow(0, i * E, E) : *sep[i];
    Tensor b = in_proj_bias.defined() ? in_proj_bias.narrow(0, i * E, E) : Tensor();
    return F::linear(x, w, b);
  };
  auto heads = [&](const Tensor& x) {  // (N, T, E) -> (N, H, T, D)
    return x.reshape({N, x.size(1), H, D}).transpose(1, 2);
  };
  Tensor qh = heads(project(q, 0)), kp = project(k, 1), vp = project(v, 2);
  // torch's order: bias_k/bias_v after the projections, then the zero key and value; each
  // adds a key no mask hides (the masks get a zero column each).
  if (bias_k.defined()) {
    kp = cat({kp, bias_k.expand({N, 1, E})}, 1);
    vp = cat({vp, bias_v.expand({N, 1, E})}, 1);
  }
  Tensor kh = heads(kp), vh = heads(vp);
  if (options.add_zero_attn) {
    kh = cat({kh, zeros({N, H, 1, D}, kh.options())}, 2);
    vh = cat({vh, zeros({N, H, 1, D}, vh.options())}, 2);
  }
  const int64_t S = kh.size(2);
  auto widen = [&](const Tensor& m) {  // additive (..., S0) -> (..., S), zeros appended
    if (S == S0) return m;
    Shape extra = m.sizes();
    extra.back() = S - S0;
    return cat({m, zeros(extra, m.options())}, -1);
  };

  Tensor mask;  // additive, broadcastable to (N, H, L, S)
  if (f.attn_mask.defined()) {
    Tensor m = additive(f.attn_mask, q.dtype());
    if (m.dim() == 2 && m.size(0) == L && m.size(1) == S0) {
      mask = widen(m).reshape({1, 1, L, S});
    } else if (m.dim() == 3 && m.size(0) == N * H && m.size(1) == L && m.size(2) == S0) {
      mask = widen(m).reshape({N, H, L, S});
    } else {
      fail<ShapeError>("MultiheadAttention", "attn_mask of shape ", str(f.attn_mask.sizes()),
                       " must be (", L, ", ", S0, ") or (", N * H, ", ", L, ", ", S0, ")");
    }
  }
  if (f.key_padding_mask.defined()) {
    Tensor kpm = f.key_padding_mask;
    if (unbatched && kpm.dim() == 1) kpm = kpm.unsqueeze(0);
    if (kpm.dim() != 2 || kpm.size(0) != N || kpm.size(1) != S0)
      fail<ShapeError>("MultiheadAttention", "key_padding_mask of shape ",
                       str(f.key_padding_mask.sizes()), " must be (", N, ", ", S0, ")");
    Tensor m = widen(additive(kpm, q.dtype())).reshape({N, 1, 1, S});
    mask = mask.defined() ? mask + m : m;
  }
  if (f.is_causal) {
    // -inf above the diagonal of the (L, S0) scores; the appended keys stay visible.
    Tensor causal = widen(triu(full({L, S0}, -std::numeric_limits<double>::infinity(),
                                    {.dtype = q.dtype(), .device = q.device()}),
                               1))
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
