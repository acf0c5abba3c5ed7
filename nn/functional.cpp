#include "nn/functional.h"

#include <cmath>

#include "autograd/autocast_policy.h"
#include "autograd/node.h"
#include "autograd/recording.h"

namespace ember::nn::functional {

namespace {

Tensor reduce(const Tensor& loss, Reduction r) {
  switch (r) {
    case Reduction::none: return loss;
    case Reduction::sum: return loss.sum();
    case Reduction::mean: return loss.mean();
  }
  return loss;
}

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes())
    fail<ShapeError>(op, "input shape ", str(a.sizes()), " and target shape ", str(b.sizes()),
                     " must match");
}

// (N, C, d1, ...) -> (N * d1 * ..., C): the class dim moved last and the rest flattened.
Tensor classes_last(const Tensor& x) {
  if (x.dim() <= 2) return x.dim() == 1 ? x.unsqueeze(0) : x;
  DimList perm{0};
  for (int64_t d = 2; d < x.dim(); ++d) perm.push_back(d);
  perm.push_back(1);
  return x.permute(perm).reshape({-1, x.size(1)});
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  // autocast: lower precision, casting the weight itself (not weight.t()) so its cast is cached
  if (autocast_policy::active())
    return autocast_policy::lower_precision(
        [](const Tensor& x_, const Tensor& w, const Tensor& b) { return linear(x_, w, b); }, x,
        weight, bias);
  raw::check_defined("linear", x);
  raw::check_defined("linear", weight);
  if (weight.dim() != 2)
    fail<ShapeError>("linear", "weight must be (out_features, in_features), got ",
                     str(weight.sizes()));
  if (x.dim() == 0 || x.size(-1) != weight.size(1))
    fail<ShapeError>("linear", "input of shape ", str(x.sizes()),
                     " does not end in in_features=", weight.size(1), " of weight ",
                     str(weight.sizes()));
  Tensor y = x.matmul(weight.t());
  if (bias.defined()) {
    if (bias.dim() != 1 || bias.size(0) != weight.size(0))
      fail<ShapeError>("linear", "bias of shape ", str(bias.sizes()), " does not match weight ",
                       str(weight.sizes()));
    y = y + bias;
  }
  return y;
}

Tensor embedding(const Tensor& indices, const Tensor& weight, std::optional<int64_t> padding_idx) {
  raw::check_defined("embedding", indices);
  raw::check_defined("embedding", weight);
  if (indices.dtype() != DType::i64)
    fail<DTypeError>("embedding", "indices must be i64, got ", indices.dtype(), " of shape ",
                     str(indices.sizes()));
  if (weight.dim() != 2)
    fail<ShapeError>("embedding", "weight must be (num_embeddings, embedding_dim), got ",
                     str(weight.sizes()));
  Shape out_shape = indices.sizes();
  out_shape.push_back(weight.size(1));
  Tensor flat = indices.reshape({-1});  // (M)
  std::optional<int64_t> pad;
  if (padding_idx) {
    int64_t n = weight.size(0);
    if (*padding_idx < -n || *padding_idx >= n)
      fail<IndexError>("embedding", "padding_idx ", *padding_idx, " is out of range for ", n,
                       " embeddings");
    pad = *padding_idx < 0 ? *padding_idx + n : *padding_idx;
  }
  return ember::embedding_rows(weight, flat, pad).reshape(out_shape);  // (..., dim)
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& x_, const Tensor& w, const Tensor& b) {
          return layer_norm(x_, normalized_shape, w, b, eps);
        },
        x, weight, bias);
  raw::check_defined("layer_norm", x);
  auto n = static_cast<int64_t>(normalized_shape.size());
  if (n == 0 || n > x.dim() ||
      !std::equal(normalized_shape.begin(), normalized_shape.end(), x.sizes().end() - n))
    fail<ShapeError>("layer_norm", "normalized_shape ", str(normalized_shape),
                     " does not match the trailing dims of input shape ", str(x.sizes()));
  if (weight.defined() && weight.sizes() != normalized_shape)
    fail<ShapeError>("layer_norm", "weight of shape ", str(weight.sizes()), " must be ",
                     str(normalized_shape));
  if (bias.defined() && bias.sizes() != normalized_shape)
    fail<ShapeError>("layer_norm", "bias of shape ", str(bias.sizes()), " must be ",
                     str(normalized_shape));
  // The fused primitive normalizes rows: x as (R, N), N the normalized elements.
  int64_t R = 1, N = 1;
  for (int64_t d = 0; d < x.dim() - n; ++d) R *= x.size(d);
  for (int64_t s : normalized_shape) N *= s;
  Tensor w = weight.defined() ? weight.reshape({N}) : weight;
  Tensor b = bias.defined() ? bias.reshape({N}) : bias;
  return ember::layer_norm_rows(x.reshape({R, N}), w, b, eps).reshape(x.sizes());
}

Tensor dropout(const Tensor& x, double p, bool training) {
  raw::check_defined("dropout", x);
  if (!(p >= 0.0 && p <= 1.0))
    fail<ValueError>("dropout", "probability must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  if (p == 1.0) return x * 0.0;
  Tensor keep = (rand(x.sizes(), {.dtype = x.dtype(), .device = x.device()}) >= p).to(x.dtype());
  return x * keep * (1.0 / (1.0 - p));
}

// ---- losses ------------------------------------------------------------------------------

Tensor nll_loss(const Tensor& input, const Tensor& target, const NllLossOptions& o) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t, const Tensor& w) {
          NllLossOptions o2 = o;
          o2.weight = w;
          return nll_loss(i, t, o2);
        },
        input, target, o.weight);
  raw::check_defined("nll_loss", input);
  raw::check_defined("nll_loss", target);
  if (target.dtype() != DType::i64)
    fail<DTypeError>("nll_loss", "target must hold i64 class indices, got ", target.dtype());
  if (input.dim() < 1)
    fail<ShapeError>("nll_loss", "input needs a class dim, got shape ", str(input.sizes()));
  int64_t C = input.dim() == 1 ? input.size(0) : input.size(1);
  Shape expect = input.sizes();
  if (input.dim() == 1) {
    expect.clear();
  } else {
    expect.erase(expect.begin() + 1);
  }
  if (target.sizes() != expect)
    fail<ShapeError>("nll_loss", "target of shape ", str(target.sizes()), " does not match input ",
                     str(input.sizes()), " (expected target shape ", str(expect), ")");
  if (o.weight.defined() && (o.weight.dim() != 1 || o.weight.size(0) != C))
    fail<ShapeError>("nll_loss", "weight of shape ", str(o.weight.sizes()), " must be [", C, "]");
  Tensor logp = classes_last(input);  // (M, C)
  Tensor t = target.reshape({-1});    // (M)
  Tensor valid = ne(t, o.ignore_index);
  Tensor safe = where(valid, t, 0);
  // Class indices outside [0, C): IndexError at once on the cpu, at the next
  // synchronization on GPU devices (no sync here).
  raw::check_index_range("nll_loss", t, C, o.ignore_index);
  Tensor picked = logp.gather(1, safe.unsqueeze(1)).squeeze(1);  // (M)
  Tensor w = valid.to(input.dtype());
  if (o.weight.defined()) w = w * o.weight.index_select(0, safe);
  Tensor loss = -(picked * w);
  switch (o.reduction) {
    case Reduction::none: return loss.reshape(expect);
    case Reduction::sum: return loss.sum();
    case Reduction::mean: return loss.sum() / w.sum();
  }
  return loss;
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const CrossEntropyOptions& o) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t, const Tensor& w) {
          CrossEntropyOptions o2 = o;
          o2.weight = w;
          return cross_entropy(i, t, o2);
        },
        input, target, o.weight);
  raw::check_defined("cross_entropy", input);
  raw::check_defined("cross_entropy", target);
  if (!input.is_floating_point())
    fail<DTypeError>("cross_entropy", "input must be floating-point logits, got ", input.dtype());
  int64_t class_dim = input.dim() == 1 ? 0 : 1;
  if (input.dim() < 1)
    fail<ShapeError>("cross_entropy", "input needs a class dim, got shape ", str(input.sizes()));
  int64_t C = input.size(class_dim);
  double eps = o.label_smoothing;
  if (!(eps >= 0.0 && eps <= 1.0))
    fail<ValueError>("cross_entropy", "label_smoothing must be in [0, 1], got ", eps);

  if (target.is_floating_point()) {  // class probabilities
    if (target.sizes() != input.sizes())
      fail<ShapeError>("cross_entropy", "probability target of shape ", str(target.sizes()),
                       " must match input ", str(input.sizes()));
    Tensor p = eps > 0 ? target * (1.0 - eps) + eps / static_cast<double>(C) : target;
    Tensor terms = log_softmax(input, class_dim) * p;
    if (o.weight.defined()) {
      Shape wshape(static_cast<size_t>(input.dim()), 1);
      wshape[static_cast<size_t>(class_dim)] = C;
      terms = terms * o.weight.reshape(wshape);
    }
    Tensor loss = -terms.sum({class_dim});
    return reduce(loss, o.reduction);
  }

  // Class indices: the fused log-softmax + NLL primitive, one row per (sample, position).
  Shape expect = input.sizes();
  if (input.dim() == 1) {
    expect.clear();
  } else {
    expect.erase(expect.begin() + 1);
  }
  if (target.dtype() != DType::i64)
    fail<DTypeError>("cross_entropy", "target must hold i64 class indices or probabilities, got ",
                     target.dtype());
  if (target.sizes() != expect)
    fail<ShapeError>("cross_entropy", "target of shape ", str(target.sizes()),
                     " does not match input ", str(input.sizes()), " (expected target shape ",
                     str(expect), ")");
  if (o.weight.defined() && (o.weight.dim() != 1 || o.weight.size(0) != C))
    fail<ShapeError>("cross_entropy", "weight of shape ", str(o.weight.sizes()), " must be [", C,
                     "]");
  Tensor t = target.reshape({-1});
  Tensor rows = ember::cross_entropy_rows(classes_last(input), t, o.weight,
                                          {.ignore_index = o.ignore_index, .label_smoothing = eps});
  switch (o.reduction) {
    case Reduction::none: return rows.reshape(expect);
    case Reduction::sum: return rows.sum();
    case Reduction::mean: {
      Tensor denom;
      {
        NoGradGuard no_grad;  // the count of (weighted) targets is not differentiated
        Tensor valid = ne(t, o.ignore_index);
        denom = valid.to(input.dtype());
        if (o.weight.defined())
          denom = denom * o.weight.to(input.dtype()).index_select(0, where(valid, t, 0));
        denom = denom.sum();
      }
      return rows.sum() / denom;
    }
  }
  return rows;
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t) { return mse_loss(i, t, reduction); }, input, target);
  check_same_shape("mse_loss", input, target);
  Tensor d = input - target;
  return reduce(d * d, reduction);
}

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t) { return l1_loss(i, t, reduction); }, input, target);
  check_same_shape("l1_loss", input, target);
  return reduce(abs(input - target), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                        const BceWithLogitsOptions& o) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t, const Tensor& w, const Tensor& pw) {
          BceWithLogitsOptions o2 = o;
          o2.weight = w;
          o2.pos_weight = pw;
          return binary_cross_entropy_with_logits(i, t, o2);
        },
        input, target, o.weight, o.pos_weight);
  check_same_shape("binary_cross_entropy_with_logits", input, target);
  // Stable form: (1 - t) x + (1 + (pw - 1) t) * (log(1 + exp(-|x|)) + max(-x, 0))
  Tensor x = input;
  Tensor softplus_neg = log(exp(-abs(x)) + 1.0) + relu(-x);  // log(1 + exp(-x))
  Tensor loss;
  if (o.pos_weight.defined()) {
    Tensor lw = (o.pos_weight - 1.0) * target + 1.0;
    loss = (1.0 - target) * x + lw * softplus_neg;
  } else {
    loss = (1.0 - target) * x + softplus_neg;
  }
  if (o.weight.defined()) loss = loss * o.weight;
  return reduce(loss, o.reduction);
}

Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction, double beta) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t) { return smooth_l1_loss(i, t, reduction, beta); },
        input, target);
  check_same_shape("smooth_l1_loss", input, target);
  if (!(beta >= 0.0)) fail<ValueError>("smooth_l1_loss", "beta must be non-negative, got ", beta);
  Tensor d = input - target;
  Tensor ad = abs(d);
  if (beta == 0.0) return reduce(ad, reduction);
  return reduce(where(lt(ad, beta), d * d * (0.5 / beta), ad - 0.5 * beta), reduction);
}

Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction, double delta) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t) { return huber_loss(i, t, reduction, delta); }, input,
        target);
  check_same_shape("huber_loss", input, target);
  if (!(delta > 0.0)) fail<ValueError>("huber_loss", "delta must be positive, got ", delta);
  Tensor d = input - target;
  Tensor ad = abs(d);
  return reduce(where(lt(ad, delta), d * d * 0.5, (ad - 0.5 * delta) * delta), reduction);
}

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const BceOptions& o) {
  if (autocast_policy::active()) {  // autocast: f32 on the cpu, refused on cuda/sim (torch)
    DType dtype{};
    const DeviceType type = input.defined() ? input.device().type : DeviceType::cpu;
    if (type != DeviceType::cpu && autocast_policy::enabled_for(input, &dtype))
      fail<ValueError>("binary_cross_entropy", "is unsafe to autocast (on ", input.device(),
                       ", as torch on cuda): a ",
                       "sigmoid before it loses precision in the lower dtype; use ",
                       "binary_cross_entropy_with_logits (BCEWithLogitsLoss), which takes the ",
                       "logits and is safe to autocast, or run the loss outside the region");
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t, const Tensor& w) {
          BceOptions o2 = o;
          o2.weight = w;
          return binary_cross_entropy(i, t, o2);
        },
        input, target, o.weight);
  }
  check_same_shape("binary_cross_entropy", input, target);
  if (!input.is_floating_point())
    fail<DTypeError>("binary_cross_entropy", "input must hold floating-point probabilities, got ",
                     input.dtype());
  // torch clamps each log at -100: a saturated prediction costs 100, not inf, and the
  // clamped side gets no gradient.
  auto clamped_log = [](const Tensor& p) {
    Tensor l = log(p);
    return where(ge(l, -100.0), l, -100.0);
  };
  Tensor loss = -(target * clamped_log(input) + (1.0 - target) * clamped_log(1.0 - input));
  if (o.weight.defined()) loss = loss * o.weight;
  return reduce(loss, o.reduction);
}

Tensor kl_div(const Tensor& input, const Tensor& target, KlDivReduction reduction,
              bool log_target) {
  if (autocast_policy::active())  // autocast: f32
    return autocast_policy::fp32(
        [&](const Tensor& i, const Tensor& t) { return kl_div(i, t, reduction, log_target); },
        input, target);
  check_same_shape("kl_div", input, target);
  Tensor loss;
  if (log_target) {
    loss = exp(target) * (target - input);
  } else {
    // xlogy(t, t): log of 1 where t <= 0 keeps both the value and its gradient finite.
    Tensor safe = where(gt(target, 0.0), target, 1.0);
    loss = target * (log(safe) - input);
  }
  switch (reduction) {
    case KlDivReduction::none: return loss;
    case KlDivReduction::mean: return loss.mean();
    case KlDivReduction::sum: return loss.sum();
    case KlDivReduction::batchmean:
      return input.dim() == 0 ? loss.sum() : loss.sum() / static_cast<double>(input.size(0));
  }
  return loss;
}

}  // namespace ember::nn::functional
