// clamp/clip (scalar bounds: one fused pass; tensor bounds: broadcast, gradients to the
// bounds), the activations with scalar parameters (leaky_relu, elu, softplus, mish,
// hardswish, hardsigmoid) and prelu. Napkin math: clamp 2 flops per element, the
// piecewise-linear activations 2-4, the transcendental ones ~20 (exp, log1p, tanh);
// bytes are every input read once plus the output written once.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

#include "autograd/engine.h"
#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using UFn = std::function<Tensor(const Tensor&)>;
using URef = std::function<double(double)>;

constexpr double kInf = INFINITY;

// NaN propagates through both bounds, as the kernels' nan_max/nan_min.
double ref_clamp(double x, double lo, double hi) {
  if (std::isnan(x) || std::isnan(lo) || std::isnan(hi)) return NAN;
  return std::min(std::max(x, lo), hi);
}

OpCase base_case(const std::string& op, const std::string& tag, DType dt, std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = "activation";
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  return c;
}

// One-input case: out = fn(x) against ref elementwise.
struct Spec {
  std::string op, variant;  // variant names the parameters: "s0.2", "lo_hi"
  UFn fn;
  URef ref;
  Dist dist = Dist::wide;
  double flops = 2;
  TolKind kind = TolKind::elementwise;
  bool keeps_int = false;  // clamp with integer bounds keeps i64; the rest give f32
};

void add_one(std::vector<OpCase>& out, const Spec& s, DType dt, In in) {
  if (in.dist == Dist::normal) in.dist = s.dist;
  const bool nan = in.dist == Dist::with_nan;
  DType out_dt = is_floating(dt) || s.keeps_int ? dt : DType::f32;
  OpCase c = base_case(s.op, s.variant + "_" + in_tag(in) + (nan ? "_nan" : ""), dt, {in});
  UFn fn = s.fn;
  URef rf = s.ref;
  c.run = [fn](const Inputs& x) { return Outputs{fn(x[0])}; };
  c.reference = [rf](const Refs& x) { return Refs{ref::map(x[0], rf)}; };
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, s.kind);
  set_elementwise_cost(c, s.flops, out_dt);
  if (is_floating(dt) && !is_half(dt) && !nan) c.grad_inputs = {0};
  out.push_back(std::move(c));
}

// The layouts and dtypes every one-input spec runs on.
void add_spec(std::vector<OpCase>& out, const Spec& s) {
  const Dist N = Dist::normal;  // stands for the spec's own distribution
  add_one(out, s, DType::f32, In{{3, 4}});
  add_one(out, s, DType::f32, In{{}});
  add_one(out, s, DType::f32, In{{2, 3, 5}, N, Layout::transposed});
  add_one(out, s, DType::f32, In{{17}, N, Layout::strided});
  add_one(out, s, DType::f32, In{{4, 5}, N, Layout::expanded});
  add_one(out, s, DType::f32, In{{0, 3}});
  add_one(out, s, DType::f32, In{{1031, 97}});  // threads and vector tails
  add_one(out, s, DType::f32, In{{5, 6}, Dist::with_nan});
  add_one(out, s, DType::f64, In{{3, 4}});
  add_one(out, s, DType::f64, In{{2, 3, 5}, N, Layout::transposed});
  add_one(out, s, DType::i64, In{{3, 4}});
  // bf16/f16 (issue 16): f32 math inside, one rounding; NaN propagates in them too.
  for (DType h : {DType::bf16, DType::f16}) {
    add_one(out, s, h, In{{3, 4}});
    add_one(out, s, h, In{{2, 3, 5}, N, Layout::transposed});
    add_one(out, s, h, In{{5, 6}, Dist::with_nan});
  }
}

// log(1 + e^z) = z + log(1 + e^-z): the second form for z > 0, so e^z cannot overflow.
double ref_log1pexp(double z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}
double ref_softplus(double x, double beta, double threshold) {
  return beta * x > threshold ? x : ref_log1pexp(beta * x) / beta;
}
double ref_relu6_shift(double x) { return std::min(std::max(x + 3.0, 0.0), 6.0); }

std::vector<Spec> specs() {
  using K = TolKind;
  return {
      // clamp with scalar bounds: exactly representable bounds, so the only rounding is none.
      {"clamp", "lo_hi", [](const Tensor& x) { return clamp(x, -2, 3); },
       [](double x) { return ref_clamp(x, -2, 3); }, Dist::wide, 2, K::exact, true},
      {"clamp", "lo", [](const Tensor& x) { return clamp(x, -1, std::nullopt); },
       [](double x) { return ref_clamp(x, -1, kInf); }, Dist::wide, 1, K::exact, true},
      {"clamp", "hi", [](const Tensor& x) { return x.clamp(std::nullopt, 2); },
       [](double x) { return ref_clamp(x, -kInf, 2); }, Dist::wide, 1, K::exact, true},
      // min > max: every element is max (torch.clamp)
      {"clamp", "lo_gt_hi", [](const Tensor& x) { return clamp(x, 2, -1); },
       [](double x) { return ref_clamp(x, 2, -1); }, Dist::wide, 2, K::exact, true},
      // a floating bound makes integer inputs f32
      {"clamp", "lo0.5_hi2.25", [](const Tensor& x) { return clamp(x, -0.5, 2.25); },
       [](double x) { return ref_clamp(x, -0.5, 2.25); }, Dist::wide, 2, K::exact, false},
      {"clip", "lo_hi", [](const Tensor& x) { return x.clip(-1.5, 1.5); },
       [](double x) { return ref_clamp(x, -1.5, 1.5); }, Dist::normal, 2, K::exact, false},
      {"clamp_min", "s0", [](const Tensor& x) { return clamp_min(x, 0); },
       [](double x) { return ref_clamp(x, 0, kInf); }, Dist::normal, 1, K::exact, true},
      {"clamp_max", "s1", [](const Tensor& x) { return x.clamp_max(1); },
       [](double x) { return ref_clamp(x, -kInf, 1); }, Dist::normal, 1, K::exact, true},
      // the activations
      {"leaky_relu", "default", [](const Tensor& x) { return F::leaky_relu(x); },
       [](double x) { return x > 0 ? x : 0.01 * x; }, Dist::normal, 2, K::elementwise},
      {"leaky_relu", "s0.2", [](const Tensor& x) { return F::leaky_relu(x, 0.2); },
       [](double x) { return x > 0 ? x : 0.2 * x; }, Dist::normal, 2, K::elementwise},
      {"elu", "default", [](const Tensor& x) { return F::elu(x); },
       [](double x) { return x > 0 ? x : std::expm1(x); }, Dist::wide, 20, K::transcendental},
      {"elu", "a0.5", [](const Tensor& x) { return F::elu(x, 0.5); },
       [](double x) { return x > 0 ? x : 0.5 * std::expm1(x); }, Dist::normal, 20,
       K::transcendental},
      {"softplus", "default", [](const Tensor& x) { return F::softplus(x); },
       [](double x) { return ref_softplus(x, 1, 20); }, Dist::wide, 20, K::transcendental},
      // beta x crosses the threshold in the inputs: both branches
      {"softplus", "b2_t3", [](const Tensor& x) { return F::softplus(x, 2.0, 3.0); },
       [](double x) { return ref_softplus(x, 2, 3); }, Dist::wide, 20, K::transcendental},
      // far tails: exp(x) overflows f32 at x = 89, the stable form does not
      {"softplus", "large", [](const Tensor& x) { return F::softplus(x, 1.0, 1000.0); },
       [](double x) { return ref_softplus(x, 1, 1000); }, Dist::large, 20, K::transcendental},
      {"mish", "default", [](const Tensor& x) { return F::mish(x); },
       [](double x) { return x * std::tanh(ref_log1pexp(x)); }, Dist::wide, 30, K::transcendental},
      {"hardswish", "default", [](const Tensor& x) { return F::hardswish(x); },
       [](double x) { return x * ref_relu6_shift(x) / 6; }, Dist::wide, 4, K::elementwise},
      {"hardsigmoid", "default", [](const Tensor& x) { return F::hardsigmoid(x); },
       [](double x) { return ref_relu6_shift(x) / 6; }, Dist::wide, 3, K::elementwise},
  };
}

// clamp with tensor bounds: x, then min and/or max; every floating input gets a gradient.
void add_clamp_tensor(std::vector<OpCase>& out, const std::string& op, bool has_min, bool has_max,
                      DType dt, std::vector<In> ins) {
  const bool nan =
      std::any_of(ins.begin(), ins.end(), [](const In& i) { return i.dist == Dist::with_nan; });
  OpCase c = base_case(op, "t_" + ins_tag(ins) + (nan ? "_nan" : ""), dt, ins);
  c.run = [op, has_min, has_max](const Inputs& x) {
    const Tensor lo = has_min ? x[1] : Tensor(), hi = has_max ? x[has_min ? 2 : 1] : Tensor();
    if (op == "clamp_min") return Outputs{clamp_min(x[0], lo)};
    if (op == "clamp_max") return Outputs{x[0].clamp_max(hi)};
    if (op == "clip") return Outputs{clip(x[0], lo, hi)};
    return Outputs{clamp(x[0], has_min ? std::optional<Tensor>(lo) : std::nullopt,
                         has_max ? std::optional<Tensor>(hi) : std::nullopt)};
  };
  c.reference = [has_min, has_max](const Refs& x) {
    const ref::RefTensor lo = has_min ? x[1] : ref::filled({}, -kInf);
    const ref::RefTensor hi = has_max ? x[has_min ? 2 : 1] : ref::filled({}, kInf);
    return Refs{ref::zip3(x[0], lo, hi, ref_clamp)};
  };
  DType out_dt = ins[0].dtype.value_or(dt);
  for (size_t i = 1; i < ins.size(); ++i) out_dt = promote_types(out_dt, ins[i].dtype.value_or(dt));
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, TolKind::exact);
  set_elementwise_cost(c, 2, out_dt);
  for (int i = 0; i < static_cast<int>(ins.size()); ++i)
    if (!nan && !is_half(out_dt) && is_floating(ins[static_cast<size_t>(i)].dtype.value_or(dt)))
      c.grad_inputs.push_back(i);
  out.push_back(std::move(c));
}

void add_clamp_tensor_cases(std::vector<OpCase>& out) {
  const Dist N = Dist::normal, W = Dist::wide;
  const Layout T = Layout::transposed;
  for (DType dt : {DType::f32, DType::f64}) {
    add_clamp_tensor(out, "clamp", true, true, dt, {In{{3, 4}, W}, In{{4}}, In{{3, 1}}});
    add_clamp_tensor(out, "clamp", true, true, dt, {In{{2, 3, 4}, W, T}, In{{}}, In{{3, 4}}});
    add_clamp_tensor(out, "clamp", true, false, dt, {In{{3, 4}}, In{{3, 4}}});
    add_clamp_tensor(out, "clamp", false, true, dt, {In{{3, 1}}, In{{1, 4}}});  // broadcasts x
  }
  add_clamp_tensor(out, "clamp_min", true, false, DType::f32, {In{{4, 5}}, In{{5}}});
  add_clamp_tensor(out, "clamp_max", false, true, DType::f64, {In{{4, 5}}, In{{4, 1}}});
  add_clamp_tensor(out, "clip", true, true, DType::f64, {In{{2, 3}, W}, In{{3}}, In{{2, 1}}});
  add_clamp_tensor(out, "clamp", true, true, DType::f32, {In{{257, 1031}, W}, In{{1031}}, In{{}}});
  // integers keep i64; a floating bound promotes
  add_clamp_tensor(out, "clamp", true, true, DType::i64, {In{{3, 4}, W}, In{{4}}, In{{3, 1}}});
  add_clamp_tensor(out, "clamp", true, false, DType::i64,
                   {In{{3, 4}, W}, In{{4}, N, Layout::contiguous, DType::f32}});
  // bf16/f16 (issue 16): the bounds in the same dtype, and an f32 bound promoting
  for (DType h : {DType::bf16, DType::f16}) {
    add_clamp_tensor(out, "clamp", true, true, h, {In{{3, 4}, W}, In{{4}}, In{{3, 1}}});
    add_clamp_tensor(out, "clamp_min", true, false, h, {In{{4, 5}, N, T}, In{{5}}});
    add_clamp_tensor(out, "clamp_max", false, true, h, {In{{4, 5}}, In{{4, 1}}});
    add_clamp_tensor(out, "clip", true, true, h, {In{{2, 3}, W}, In{{3}}, In{{2, 1}}});
  }
  add_clamp_tensor(out, "clamp", true, false, DType::bf16,
                   {In{{3, 4}, W}, In{{4}, N, Layout::contiguous, DType::f32}});
  // NaN in x or in a bound propagates
  add_clamp_tensor(out, "clamp", true, true, DType::f32,
                   {In{{4, 5}, Dist::with_nan}, In{{5}, Dist::with_nan}, In{{4, 1}}});
}

// prelu: x and weight (1) or (C) along dim 1.
void add_prelu(std::vector<OpCase>& out, DType dt, In x, int64_t weights) {
  std::vector<In> ins = {x, In{{weights}}};
  OpCase c = base_case("prelu", ins_tag(ins), dt, ins);
  c.run = [](const Inputs& in) { return Outputs{F::prelu(in[0], in[1])}; };
  c.reference = [](const Refs& in) {
    const ref::RefTensor &v = in[0], &w = in[1];
    ref::RefTensor y = v;
    for (int64_t i = 0; i < v.numel(); ++i) {
      const ref::Index idx = ref::unravel(i, v.shape);
      const int64_t ch = w.numel() == 1 ? 0 : idx[1];
      const double e = v.data[static_cast<size_t>(i)];
      y.data[static_cast<size_t>(i)] = e > 0 ? e : w.data[static_cast<size_t>(ch)] * e;
    }
    return Refs{y};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::elementwise);
  // The weight lines up with dim 1, not NumPy-style: x's elements set the cost.
  c.flops = [](const Inputs& in) { return 2.0 * static_cast<double>(in[0].numel()); };
  c.bytes = [](const Inputs& in) { return 2.0 * bytes_of(in[0]) + bytes_of(in[1]); };
  if (!is_half(dt)) c.grad_inputs = {0, 1};  // gradcheck: f32, f64
  out.push_back(std::move(c));
}

void add_prelu_cases(std::vector<OpCase>& out) {
  // bf16/f16 (issue 16, halfnn2): x > 0 ? x : w x, one rounding.
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    add_prelu(out, dt, In{{2, 3, 4}}, 3);
    add_prelu(out, dt, In{{2, 3, 4, 5}, Dist::normal, Layout::transposed}, 3);
    add_prelu(out, dt, In{{4, 3}}, 1);
    add_prelu(out, dt, In{{7}}, 1);  // 1-D: one channel
  }
  add_prelu(out, DType::f32, In{{8, 16, 33}}, 16);
}

}  // namespace

namespace {

// GELU's fused backward (the gelu_backward primitive, issue 15 perf): autograd's
// GeluBackward runs it when the backward is not recorded. x wide (randn * 5: both tails
// and the tanh form's saturation), grad_output random; against g gelu'(x) in f64.
double ref_dgelu(double x, bool tanh) {
  if (tanh) {
    const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
    const double t = std::tanh(k * (x + c * x * x * x));
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c * x * x);
  }
  return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))) +
         x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI);
}

// The input gradient of act at x (input 0) for grad_output g (input 1), run through
// autograd without recording (the fused primitive's path), against g act'(x) in f64.
// `variant` prefixes the shape in the case name ("tanh_" for GELU's tanh form).
OpCase activation_backward_case(const std::string& op, const std::string& variant,
                                const Shape& shape, Dist dist, DType dt,
                                std::function<Tensor(const Tensor&)> act,
                                std::function<double(double)> dact, TolKind tol, double flops) {
  const std::vector<In> ins = {In{shape, dist}, In{shape}};
  OpCase c;
  c.name = op + "/" + variant + ins_tag(ins) + "/" + dtype_tag(dt);
  c.family = op;
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [act](const Inputs& x) {
    Tensor leaf = x[0].detach().requires_grad_();
    return autograd::grad({act(leaf)}, {leaf}, {x[1]});
  };
  c.reference = [dact](const Refs& x) {
    ref::RefTensor g = x[1];
    for (size_t i = 0; i < g.data.size(); ++i) g.data[i] *= dact(x[0].data[i]);
    return Refs{g};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, tol);
  set_elementwise_cost(c, flops, dt);
  return c;
}

OpCase gelu_backward_case(const Shape& shape, bool tanh, DType dt) {
  return activation_backward_case(
      "gelu_backward", tanh ? "tanh_" : "none_", shape, Dist::wide, dt,
      [tanh](const Tensor& x) { return F::gelu(x, tanh ? "tanh" : "none"); },
      [tanh](double x) { return ref_dgelu(x, tanh); }, TolKind::transcendental, 25);
}

void add_gelu_backward_cases(std::vector<OpCase>& out) {
  // bf16/f16 (issue 16, halfnn2): gelu'(x) and the product in f32, one rounding.
  for (bool tanh : {false, true})
    for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
      out.push_back(gelu_backward_case({7, 13}, tanh, dt));
      out.push_back(gelu_backward_case({3, 50, 400}, tanh, dt));  // threads, vector tails
    }
}

// ReLU's fused backward (BinaryOp::relu_backward, issue 19): autograd's ReluBackward runs
// it when the backward is not recorded, grad where relu(x) > 0, else 0, in one pass. x of
// small integers (exact zeros: relu'(0) = 0, as PyTorch) or with NaN (relu(NaN) = NaN, which
// is not > 0: no gradient, as ember's recorded form where(y > 0, g, 0)).
OpCase relu_backward_case(const Shape& shape, Dist dist, DType dt) {
  return activation_backward_case(
      "relu_backward", "", shape, dist, dt, [](const Tensor& x) { return relu(x); },
      [](double x) { return x > 0 ? 1.0 : 0.0; }, TolKind::exact, 1);
}

void add_relu_backward_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
    out.push_back(relu_backward_case({7, 13}, Dist::small_int, dt));
    out.push_back(relu_backward_case({3, 50, 400}, Dist::small_int, dt));  // threads, tails
  }
  out.push_back(relu_backward_case({5, 6}, Dist::with_nan, DType::f32));
}

}  // namespace

void add_activation_cases(std::vector<OpCase>& out) {
  for (const Spec& s : specs()) add_spec(out, s);
  add_clamp_tensor_cases(out);
  add_prelu_cases(out);
  add_gelu_backward_cases(out);
  add_relu_backward_cases(out);
}

}  // namespace ember::cases
