// Attention: the fused primitives raw::attention_forward (out and lse) and
// raw::attention_backward (run on the device's own out and lse; outputs out, lse, dq, dk,
// dv), and the public scaled_dot_product_attention (bool and additive masks, broadcast
// batch dims, causal, dropout), which gradcheck differentiates. Head dims 1 to 128 and
// odd ones, Tq != Tk, lengths that are not multiples of the 32-row tile, additive masks
// full and broadcast (stride 0), padding masks with -inf keys, a fully masked row, scale,
// and Philox dropout: the reference keeps exactly the scores tensor/philox.h's
// dropout_keep keeps, at the case's seed and a nonzero offset. bf16/f16 (issue 16): head dims
// 64 and 128 (the sim/cuda fast path) and others (the general one); lse is f32 for them.
// Napkin math per (batch, head): forward 2 Tq Tk (D + Dv) flops (scores and the
// weighted sum); the backward recomputes the scores and adds 2 Tq Tk (2 D + 2 Dv).
#include <cmath>
#include <limits>

#include "registry/builders.h"
#include "registry/reference_nn.h"
#include "tensor/random.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

enum class Mask {
  none,
  full,        // (B, H, Tq, Tk)
  broadcast,   // (1, H, 1, Tk) expanded: strides 0 along batch and queries
  padding,     // (B, 1, 1, Tk) expanded, -inf on some keys (key 0 always kept)
  masked_row,  // (B, H, Tq, Tk) with query 1 of every head fully masked (forward only)
};

struct Spec {
  const char* tag;
  int64_t B, H, Tq, Tk, D, Dv;
  Mask mask = Mask::none;
  bool causal = false;
  double scale = 0;  // 0: 1/sqrt(D)
  double dropout = 0;
  DType dtype = DType::f64;
};

const std::vector<Spec>& specs() {
  static const std::vector<Spec> v = {
      {"d32_tq_ne_tk", 2, 2, 40, 37, 32, 32},
      {"d64_causal", 1, 3, 45, 45, 64, 64, Mask::none, true},
      {"d128_full_mask", 1, 2, 33, 50, 128, 128, Mask::full},
      {"d24_broadcast_mask", 2, 2, 17, 70, 24, 24, Mask::broadcast},
      {"d80_padding_mask_scale", 2, 1, 35, 29, 80, 80, Mask::padding, false, 0.3},
      {"dv_ne_d_causal", 1, 2, 20, 41, 16, 40, Mask::none, true},
      {"causal_more_queries", 1, 2, 70, 33, 32, 32, Mask::none, true},
      {"causal_more_keys", 1, 1, 10, 65, 64, 64, Mask::none, true},
      {"dropout_d64", 2, 2, 37, 45, 64, 64, Mask::none, false, 0, 0.3},
      {"dropout_general_causal_mask", 1, 2, 40, 40, 20, 12, Mask::broadcast, true, 0, 0.5},
      {"dropout_d32", 1, 2, 20, 30, 32, 32, Mask::none, false, 0, 0.4},
      {"dropout_all", 1, 1, 9, 7, 32, 32, Mask::none, false, 0, 1.0},
      {"one_query_one_key", 1, 1, 1, 1, 1, 1},
      {"d96_one_query_causal", 2, 1, 1, 100, 96, 96, Mask::none, true},
      {"d48_dv64_full_mask_long_keys", 1, 2, 9, 200, 48, 64, Mask::full},
      {"d64_three_heads_three_batches", 3, 3, 31, 33, 64, 64, Mask::padding, false, 0.5},
      {"value_dim_0", 1, 2, 5, 6, 4, 0},
      {"d64_causal", 2, 2, 50, 50, 64, 64, Mask::none, true, 0, 0, DType::f32},
      {"d128_mask_dropout", 1, 2, 34, 40, 128, 128, Mask::full, false, 0, 0.2, DType::f32},
      {"d32_padding", 1, 1, 3, 90, 32, 32, Mask::padding, false, 0, 0, DType::f32},
      {"masked_row", 2, 2, 35, 40, 32, 32, Mask::masked_row},
      {"masked_row", 1, 2, 12, 20, 16, 16, Mask::masked_row, false, 0, 0, DType::f32},
      // f32 without mask or dropout, D and Dv multiples of 8: attention_f32.cpp's tiles
      // (issue 19). Several query blocks (64) and key blocks (256), key counts off the
      // 8-lane padding, causal tiles skipped, one (b, h) split over threads by keys.
      {"tiles_d40_dv24_long_keys", 1, 2, 70, 300, 40, 24, Mask::none, false, 0, 0, DType::f32},
      {"tiles_causal_d32", 2, 2, 130, 130, 32, 32, Mask::none, true, 0, 0, DType::f32},
      {"tiles_causal_long_d16_dv48", 1, 1, 300, 300, 16, 48, Mask::none, true, 0, 0, DType::f32},
      {"tiles_causal_more_queries_d8", 1, 1, 90, 37, 8, 16, Mask::none, true, 0.7, 0, DType::f32},
      {"tiles_d128_tq_ne_tk", 1, 3, 7, 21, 128, 128, Mask::none, false, 0, 0, DType::f32},
      {"tiles_causal_more_keys", 1, 2, 20, 90, 32, 32, Mask::none, true, 0, 0, DType::f32},
      // bf16/f16 (issue 16): f32 math inside, outputs rounded once; lse f32.
      {"d64_causal", 2, 2, 50, 50, 64, 64, Mask::none, true, 0, 0, DType::bf16},
      {"d64_causal", 1, 2, 37, 37, 64, 64, Mask::none, true, 0, 0, DType::f16},
      {"d128_full_mask", 1, 2, 33, 50, 128, 128, Mask::full, false, 0, 0, DType::bf16},
      {"d128_padding", 1, 1, 40, 70, 128, 128, Mask::padding, false, 0, 0, DType::f16},
      {"d32_tq_ne_tk", 2, 2, 40, 37, 32, 32, Mask::none, false, 0, 0, DType::bf16},
      {"d80_padding_mask_scale", 2, 1, 35, 29, 80, 80, Mask::padding, false, 0.3, 0, DType::f16},
      {"dropout_d64", 2, 2, 37, 45, 64, 64, Mask::none, false, 0, 0.3, DType::bf16},
      {"dv_ne_d_causal", 1, 2, 20, 41, 16, 40, Mask::none, true, 0, 0, DType::f16},
      {"masked_row", 1, 2, 12, 20, 64, 64, Mask::masked_row, false, 0, 0, DType::bf16},
      {"masked_row", 1, 2, 12, 20, 64, 64, Mask::masked_row, false, 0, 0, DType::f16},
  };
  return v;
}

// lse is f32 for every floating query narrower than f32 (issue 16).
DType lse_dtype(DType dt) { return is_half(dt) ? DType::f32 : dt; }

// bf16/f16: each output rounded once (half an ulp), over products of 16-bit operands
// summed in f32 (the tensor-core paths round the probabilities to the dtype before P V,
// as FlashAttention does: a few ulps of the dtype), and the backward reads the rounded
// output (D = rowsum(dO O) off by an ulp of O).
Tolerance attention_tol(DType dt) {
  if (is_half(dt)) {
    const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
    return {4 * eps, 4 * eps};
  }
  return dt == DType::f64 ? Tolerance{5e-10, 1e-10} : Tolerance{1e-3, 2e-4};
}

double attention_flops(int64_t BH, int64_t Tq, int64_t Tk, int64_t D, int64_t Dv, bool backward) {
  const double f = 2.0 * static_cast<double>(BH * Tq * Tk * (D + Dv));
  return backward ? 3.0 * f : f;
}

void set_bytes(OpCase& c, Shape extra_out, DType dt) {
  const double out_bytes = static_cast<double>(ref::numel_of(extra_out)) * element_size(dt);
  c.bytes = [out_bytes](const Inputs& x) {
    double b = out_bytes;
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

// The mask of a spec as the primitive's caller holds it: its broadcast shape, drawn on
// the device, or undefined.
Tensor make_mask(const Spec& s, Device dev, DType dt) {
  const TensorOptions o{.dtype = dt, .device = dev};
  switch (s.mask) {
    case Mask::none: return Tensor();
    case Mask::full: return randn({s.B, s.H, s.Tq, s.Tk}, o);
    case Mask::broadcast: return randn({1, s.H, 1, s.Tk}, o);
    case Mask::padding: {
      Tensor keep = logical_or(rand({s.B, 1, 1, s.Tk}, {.device = dev}) > 0.3,
                               eq(arange(s.Tk, {.device = dev}), 0));
      return where(keep, zeros({}, o), full({}, -kInf, o));
    }
    case Mask::masked_row: {
      Tensor m = randn({s.B, s.H, s.Tq, s.Tk}, o);
      m.narrow(2, 1, 1).fill_(-kInf);
      return m;
    }
  }
  return Tensor();
}

AttentionParams params_of(const Spec& s) {
  AttentionParams p;
  p.scale = s.scale > 0 ? s.scale : 1.0 / std::sqrt(static_cast<double>(s.D));
  p.causal = s.causal;
  p.dropout_p = s.dropout;
  p.seed = 0x5EED0000u + static_cast<uint64_t>(s.Tq);
  p.offset = 7;  // not 0: a kernel that ignores the offset drops other scores
  return p;
}

// Inputs: q, k, v, grad_out, and the mask last when there is one.
OpCase primitive_case(const Spec& s, bool backward) {
  OpCase c;
  const std::string op = backward ? "attention_backward" : "attention_forward";
  c.name = op + "/" + s.tag + "/" + dtype_tag(s.dtype);
  c.family = "attention";
  c.op = op;
  c.dtype = s.dtype;
  c.make_inputs = [s](Device dev, DType dt) {
    const TensorOptions o{.dtype = dt, .device = dev};
    Inputs in = {randn({s.B, s.H, s.Tq, s.D}, o), randn({s.B, s.H, s.Tk, s.D}, o),
                 randn({s.B, s.H, s.Tk, s.Dv}, o), randn({s.B, s.H, s.Tq, s.Dv}, o)};
    if (s.mask != Mask::none) in.push_back(make_mask(s, dev, dt));
    return in;
  };
  const AttentionParams p = params_of(s);
  const Shape scores{s.B, s.H, s.Tq, s.Tk};
  c.run = [p, scores, backward](const Inputs& x) {
    const Tensor mask = x.size() > 4 ? x[4].expand(scores) : Tensor();
    auto [out, lse] = raw::attention_forward(x[0], x[1], x[2], mask, p);
    if (!backward) return Outputs{out, lse};
    auto [dq, dk, dv] = raw::attention_backward(x[3], x[0], x[1], x[2], out, lse, mask, p);
    return Outputs{out, lse, dq, dk, dv};
  };
  c.reference = [p, backward](const Refs& x) {
    ref::AttentionResult r = ref::attention(x[0], x[1], x[2], x.size() > 4 ? &x[4] : nullptr, p,
                                            backward ? &x[3] : nullptr);
    if (!backward) return Refs{r.out, r.lse};
    return Refs{r.out, r.lse, r.dq, r.dk, r.dv};
  };
  c.out_dtypes = backward ? std::vector<DType>(5, s.dtype) : std::vector<DType>(2, s.dtype);
  c.out_dtypes[1] = lse_dtype(s.dtype);
  c.tol = attention_tol(s.dtype);
  const double flops = attention_flops(s.B * s.H, s.Tq, s.Tk, s.D, s.Dv, backward);
  c.flops = [flops](const Inputs&) { return flops; };
  // Written: out and lse, and dq, dk, dv for the backward.
  const int64_t per_head = s.Tq * (s.Dv + 1) + (backward ? s.Tq * s.D + s.Tk * (s.D + s.Dv) : 0);
  set_bytes(c, {s.B * s.H * per_head}, s.dtype);
  return c;
}

// The public op: q (..., Tq, D), k (..., Tk, D), v (..., Tk, Dv) whose batch dims
// broadcast, and a mask (bool: true attends; or additive of the dtype) as the last input.
struct SdpaSpec {
  const char* tag;
  Shape q, k, v;
  Shape mask;  // empty: none
  bool bool_mask = false;
  bool causal = false;
  double dropout = 0;
  DType dtype = DType::f64;
};

const std::vector<SdpaSpec>& sdpa_specs() {
  static const std::vector<SdpaSpec> v = {
      {"bool_mask_bcast_batch", {2, 3, 19, 16}, {2, 3, 27, 16}, {2, 3, 27, 8}, {3, 19, 27}, true},
      {"bool_mask_bcast_batch_dropout",
       {2, 3, 19, 16},
       {2, 3, 27, 16},
       {2, 3, 27, 8},
       {3, 19, 27},
       true,
       false,
       0.25},
      {"plain", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {}},
      {"causal", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {}, false, true},
      {"additive_mask", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {2, 5, 7}},
      {"bool_mask", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {1, 5, 7}, true},
      {"causal_dropout", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {}, false, true, 0.3},
      {"mask_dropout", {1, 2, 5, 6}, {1, 2, 7, 6}, {1, 2, 7, 3}, {2, 5, 7}, false, false, 0.5},
      {"3d_no_heads", {3, 4, 5}, {3, 6, 5}, {3, 6, 2}, {}},
      {"bcast_batch_dims", {2, 1, 4, 5}, {1, 3, 6, 5}, {2, 3, 6, 4}, {}},
      {"plain", {2, 2, 33, 32}, {2, 2, 40, 32}, {2, 2, 40, 32}, {}, false, false, 0, DType::f32},
      {"causal_dropout",
       {1, 2, 24, 16},
       {1, 2, 24, 16},
       {1, 2, 24, 16},
       {},
       false,
       true,
       0.2,
       DType::f32},
      {"plain", {2, 2, 33, 64}, {2, 2, 40, 64}, {2, 2, 40, 64}, {}, false, false, 0, DType::bf16},
      {"additive_mask",
       {1, 2, 24, 16},
       {1, 2, 30, 16},
       {1, 2, 30, 16},
       {2, 24, 30},
       false,
       false,
       0,
       DType::f16},
  };
  return v;
}

constexpr uint64_t kSdpaSeed = 0xD50Bu, kSdpaOffset = 3;

OpCase sdpa_case(const SdpaSpec& s) {
  OpCase c;
  c.name = "scaled_dot_product_attention/" + std::string(s.tag) + "/" + dtype_tag(s.dtype);
  c.family = "attention";
  c.op = "scaled_dot_product_attention";
  c.dtype = s.dtype;
  c.make_inputs = [s](Device dev, DType dt) {
    const TensorOptions o{.dtype = dt, .device = dev};
    Inputs in = {randn(s.q, o), randn(s.k, o), randn(s.v, o)};
    if (s.mask.empty()) return in;
    if (!s.bool_mask) {
      in.push_back(randn(s.mask, o));
    } else {  // key 4 (or the last) always attends: no fully masked row
      const int64_t Tk = s.mask.back(), always = std::min<int64_t>(4, Tk - 1);
      in.push_back(
          logical_or(rand(s.mask, {.device = dev}) > 0.5, eq(arange(Tk, {.device = dev}), always)));
    }
    return in;
  };
  const bool causal = s.causal;
  const double dropout = s.dropout;
  c.run = [causal, dropout](const Inputs& x) {
    // Dropout takes the default generator's state: pinned, so every run (and every
    // gradcheck evaluation) drops the scores the reference drops.
    set_rng_state({kSdpaSeed, kSdpaOffset});
    return Outputs{scaled_dot_product_attention(x[0], x[1], x[2], x.size() > 3 ? x[3] : Tensor(),
                                                dropout, causal)};
  };
  const bool bool_mask = s.bool_mask;
  c.reference = [causal, dropout, bool_mask](const Refs& x) {
    // Batch dims broadcast, then fold into the primitive's (B, H) (H the last batch dim).
    Shape batch;
    for (int i = 0; i < 3; ++i)
      batch = ref::broadcast(batch, Shape(x[static_cast<size_t>(i)].shape.begin(),
                                          x[static_cast<size_t>(i)].shape.end() - 2));
    const int64_t H = batch.empty() ? 1 : batch.back();
    const int64_t B = ref::numel_of(batch) / std::max<int64_t>(H, 1);
    auto flat = [&](const ref::RefTensor& t) {
      Shape full = batch;
      full.push_back(t.shape[t.shape.size() - 2]);
      full.push_back(t.shape.back());
      return ref::reshape(ref::expand(t, full), {B, H, full[full.size() - 2], full.back()});
    };
    ref::RefTensor mask;
    if (x.size() > 3) {
      mask = x[3];
      if (bool_mask) mask = ref::map(mask, [](double m) { return m != 0 ? 0.0 : -kInf; });
      Shape full = batch;
      full.push_back(mask.shape[mask.shape.size() - 2]);
      full.push_back(mask.shape.back());
      mask = ref::reshape(ref::expand(mask, full), {B, H, full[full.size() - 2], full.back()});
    }
    const ref::RefTensor q = flat(x[0]);
    AttentionParams p;
    p.scale = 1.0 / std::sqrt(static_cast<double>(q.shape[3]));
    p.causal = causal;
    p.dropout_p = dropout;
    p.seed = kSdpaSeed;
    p.offset = kSdpaOffset;
    ref::RefTensor out =
        ref::attention(q, flat(x[1]), flat(x[2]), x.size() > 3 ? &mask : nullptr, p).out;
    Shape out_shape = batch;
    out_shape.push_back(q.shape[2]);
    out_shape.push_back(x[2].shape.back());
    return Refs{ref::reshape(out, out_shape)};
  };
  c.out_dtypes = {s.dtype};
  c.tol = attention_tol(s.dtype);
  const int64_t D = s.q.back(), Dv = s.v.back(), Tq = s.q[s.q.size() - 2];
  const int64_t Tk = s.k[s.k.size() - 2];
  Shape batch = ref::broadcast(
      ref::broadcast(Shape(s.q.begin(), s.q.end() - 2), Shape(s.k.begin(), s.k.end() - 2)),
      Shape(s.v.begin(), s.v.end() - 2));
  const double flops = attention_flops(ref::numel_of(batch), Tq, Tk, D, Dv, false);
  c.flops = [flops](const Inputs&) { return flops; };
  set_bytes(c, {ref::numel_of(batch) * Tq * Dv}, s.dtype);
  c.grad_inputs = {0, 1, 2};
  return c;
}

}  // namespace

void add_attention_cases(std::vector<OpCase>& out) {
  for (const Spec& s : specs()) out.push_back(primitive_case(s, s.mask != Mask::masked_row));
  for (const SdpaSpec& s : sdpa_specs()) out.push_back(sdpa_case(s));
}

}  // namespace ember::cases
