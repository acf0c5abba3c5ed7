// Cross entropy: the public nn::functional::cross_entropy (class indices with weights,
// ignore_index, label smoothing and every reduction; probability targets; (C), (N, C) and
// (N, C, d1, d2) inputs) and the fused primitives raw::cross_entropy_forward /
// raw::cross_entropy_backward on (R, C) rows. About a quarter of the targets are the
// ignore_index where a case says so.
// Napkin math: about 4 flops per logit (max, exp, sum, the smoothing term) forward and
// 4 more backward; bytes are the logits, targets and weights read and the result written.
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_nn.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;

struct CeSpec {
  const char* tag;
  Shape input;  // (C), (N, C) or (N, C, d...)
  bool weight = false;
  bool ignore = false;  // some targets are ignore_index
  int64_t ignore_index = -100;
  double smoothing = 0;
  int reduction = 1;  // 0 none, 1 mean, 2 sum
  bool soft = false;  // probability targets
};

const char* reduction_tag(int r) { return r == 0 ? "none" : r == 1 ? "mean" : "sum"; }

int64_t classes(const Shape& input) { return input.size() == 1 ? input[0] : input[1]; }

Shape target_shape(const Shape& input) {
  Shape t = input;
  t.erase(t.begin() + (input.size() == 1 ? 0 : 1));
  return t;
}

// Class indices in [0, C), about a quarter replaced by ignore_index when asked.
Tensor make_target(const Shape& shape, int64_t C, bool ignore, int64_t ignore_index, Device dev) {
  Tensor t = randint(0, C, shape, {.dtype = DType::i64, .device = dev});
  if (!ignore) return t;
  return where(rand(shape, {.device = dev}) < 0.25,
               full({}, static_cast<double>(ignore_index), {.dtype = DType::i64, .device = dev}),
               t);
}

OpCase public_case(const CeSpec& s, DType dt) {
  OpCase c;
  c.name = "cross_entropy/" + std::string(s.tag) + "_" + shape_tag(s.input) + "_" +
           reduction_tag(s.reduction) + "/" + dtype_tag(dt);
  c.family = "cross_entropy";
  c.op = "cross_entropy";
  c.dtype = dt;
  c.make_inputs = [s](Device dev, DType d) {
    const TensorOptions o{.dtype = d, .device = dev};
    const int64_t C = classes(s.input);
    Inputs in = {randn(s.input, o) * 2.0};
    if (s.soft) {
      in.push_back(softmax(randn(s.input, o), s.input.size() == 1 ? 0 : 1));
    } else {
      in.push_back(make_target(target_shape(s.input), C, s.ignore, s.ignore_index, dev));
    }
    if (s.weight) in.push_back(rand({C}, o) * 2.0 + 0.25);
    return in;
  };
  const F::Reduction reduction = s.reduction == 0   ? F::Reduction::none
                                 : s.reduction == 1 ? F::Reduction::mean
                                                    : F::Reduction::sum;
  c.run = [s, reduction](const Inputs& x) {
    F::CrossEntropyOptions o;
    if (x.size() > 2) o.weight = x[2];
    o.ignore_index = s.ignore_index;
    o.reduction = reduction;
    o.label_smoothing = s.smoothing;
    return Outputs{F::cross_entropy(x[0], x[1], o)};
  };
  c.reference = [s](const Refs& x) {
    return Refs{ref::cross_entropy(x[0], x[1], s.soft, x.size() > 2 ? &x[2] : nullptr,
                                   s.ignore_index, s.smoothing, s.reduction)};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  c.flops = [](const Inputs& x) { return 4.0 * numel_d(x[0]); };
  c.bytes = [](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return b + bytes_of(x[0]) / static_cast<double>(x[0].size(x[0].dim() == 1 ? 0 : 1));
  };
  c.grad_inputs = s.soft ? std::vector<int>{0, 1} : std::vector<int>{0};
  return c;
}

// The primitives on rows: logits (R, C), target (R), grad_loss (R), weight (C) last.
OpCase primitive_case(const char* tag, int64_t R, int64_t C, bool weight, bool ignore,
                      double smoothing, DType dt) {
  OpCase c;
  c.name = "cross_entropy_backward/" + std::string(tag) + "_" + std::to_string(R) + "x" +
           std::to_string(C) + "/" + dtype_tag(dt);
  c.family = "cross_entropy";
  c.op = "cross_entropy_backward";
  c.dtype = dt;
  const int64_t ignore_index = 1;  // a class index: ignored rows hold a valid class
  c.make_inputs = [=](Device dev, DType d) {
    const TensorOptions o{.dtype = d, .device = dev};
    Inputs in = {randn({R, C}, o) * 3.0, make_target({R}, C, ignore, ignore_index, dev),
                 randn({R}, o)};
    if (weight) in.push_back(rand({C}, o) * 2.0 + 0.25);
    return in;
  };
  const CrossEntropyParams p{.ignore_index = ignore ? ignore_index : -100,
                             .label_smoothing = smoothing};
  c.run = [p](const Inputs& x) {
    const Tensor w = x.size() > 3 ? x[3] : Tensor();
    auto [loss, lse] = raw::cross_entropy_forward(x[0], x[1], w, p);
    return Outputs{loss, lse, raw::cross_entropy_backward(x[2], x[0], lse, x[1], w, p)};
  };
  c.reference = [p](const Refs& x) {
    const ref::RefTensor* w = x.size() > 3 ? &x[3] : nullptr;
    auto [loss, lse] = ref::cross_entropy_rows(x[0], x[1], w, p);
    return Refs{loss, lse, ref::cross_entropy_rows_backward(x[2], x[0], x[1], w, p)};
  };
  c.out_dtypes = {dt, is_half(dt) ? DType::f32 : dt, dt};  // bf16/f16 keep an f32 lse
  c.tol = tolerance(dt, TolKind::reduction);
  c.flops = [](const Inputs& x) { return 8.0 * numel_d(x[0]); };
  c.bytes = [](const Inputs& x) {
    double b = 2.0 * bytes_of(x[0]) + 2.0 * bytes_of(x[2]);  // + grad_logits, loss and lse
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
  return c;
}

// A bf16/f16 case (issue 16): f32 math inside, compared with the f64 reference at the
// dtype's tolerance; gradcheck stays f64.
OpCase half_case(OpCase c) {
  c.grad_inputs.clear();
  return c;
}

}  // namespace

void add_loss_cases(std::vector<OpCase>& out) {
  const std::vector<CeSpec> specs = {
      {"plain", {6, 5}},
      {"plain", {6, 5}, false, false, -100, 0, 0},
      {"plain", {6, 5}, false, false, -100, 0, 2},
      {"weight", {7, 4}, true},
      {"weight", {7, 4}, true, false, -100, 0, 0},
      {"ignore", {8, 5}, false, true, 2},
      {"ignore_weight", {8, 5}, true, true, 2},
      {"ignore_weight", {8, 5}, true, true, 2, 0, 2},
      {"smooth", {6, 5}, false, false, -100, 0.1},
      {"smooth_weight_ignore", {9, 4}, true, true, 0, 0.2},
      {"smooth_weight_ignore", {9, 4}, true, true, 0, 0.2, 0},
      {"spatial", {2, 4, 3, 2}, true, true, 1, 0.1},
      {"spatial", {2, 4, 3, 2}, false, false, -100, 0, 0},
      {"unbatched", {7}},
      {"soft", {5, 6}, false, false, -100, 0, 1, true},
      {"soft_weight_smooth", {5, 6}, true, false, -100, 0.15, 2, true},
      {"soft_spatial", {2, 3, 4}, false, false, -100, 0, 0, true},
      {"wide_rows", {40, 1000}, true, true, 7, 0.1},
  };
  for (DType dt : {DType::f32, DType::f64})
    for (size_t k = 0; k < specs.size(); ++k) {
      // f32 on every other spec and the wide rows (too large for gradcheck in f64).
      const bool last = k + 1 == specs.size();
      if (dt == DType::f32 ? k % 2 == 1 && !last : last) continue;
      out.push_back(public_case(specs[k], dt));
    }
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(primitive_case("plain", 9, 7, false, false, 0, dt));
    out.push_back(primitive_case("weight_ignore_smooth", 12, 5, true, true, 0.1, dt));
  }
  out.push_back(primitive_case("long_rows", 33, 1500, true, true, 0.05, DType::f32));
  out.push_back(primitive_case("many_rows", 700, 10, false, true, 0, DType::f32));
  // bf16/f16 logits: f32 math inside, the loss in the logits' dtype, lse in f32.
  for (DType dt : {DType::bf16, DType::f16}) {
    for (size_t k : {size_t{0}, size_t{2}, size_t{6}, size_t{9}, specs.size() - 1})
      out.push_back(half_case(public_case(specs[k], dt)));
    out.push_back(half_case(primitive_case("weight_ignore_smooth", 12, 5, true, true, 0.1, dt)));
    out.push_back(half_case(primitive_case("long_rows", 33, 1500, true, true, 0.05, dt)));
  }
}

}  // namespace ember::cases
