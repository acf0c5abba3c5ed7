// Unary and binary arithmetic, scalar variants, mixed dtypes. Napkin math: one flop per
// output element for arithmetic, a handful for the activations; bytes are every input
// read once plus the output written once.
#include <cmath>

#include "registry/builders.h"

namespace ember::cases {

namespace {
using UFn = std::function<Tensor(const Tensor&)>;
using URef = std::function<double(double)>;
using BFn = std::function<Tensor(const Tensor&, const Tensor&)>;
using BRef = std::function<double(double, double)>;

OpCase make_case(const std::string& op, const std::string& family, const std::string& tag, DType dt,
                 std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = family;
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  return c;
}

struct UnarySpec {
  std::string op;
  UFn fn;
  URef ref;
  Dist dist = Dist::normal;
  double flops = 1;
  bool keeps_int = false;  // neg/abs/sign/relu keep i64; the others give f32 on i64
  TolKind kind = TolKind::transcendental;
};

void add_unary(std::vector<OpCase>& out, const UnarySpec& s, DType dt, In in) {
  in.dist = s.dist;
  DType out_dt = is_floating(dt) ? dt : (s.keeps_int ? dt : DType::f32);
  OpCase c =
      make_case(s.op, "unary", in_tag(in) + (s.dist == Dist::with_nan ? "_nan" : ""), dt, {in});
  UFn fn = s.fn;
  URef rf = s.ref;
  c.run = [fn](const Inputs& x) { return Outputs{fn(x[0])}; };
  c.reference = [rf](const Refs& x) { return Refs{ref::map(x[0], rf)}; };
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, s.kind);
  set_elementwise_cost(c, s.flops, out_dt);
  if (is_floating(dt) && !is_half(dt) && s.dist != Dist::with_nan) c.grad_inputs = {0};
  out.push_back(std::move(c));
}

std::vector<UnarySpec> unary_specs() {
  using K = TolKind;
  std::vector<UnarySpec> v = {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, Dist::normal, 1,
       true, K::elementwise},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::fabs(x); },
       Dist::normal, 1, true, K::elementwise},
      {"sign", [](const Tensor& x) { return sign(x); }, ref::sign, Dist::normal, 1, true,
       K::elementwise},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); },
       Dist::normal, 1, false, K::transcendental},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); },
       Dist::positive, 1, false, K::transcendental},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); },
       Dist::positive, 1, false, K::transcendental},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); },
       [](double x) { return 1.0 / std::sqrt(x); }, Dist::positive, 2, false, K::transcendental},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); },
       Dist::normal, 1, false, K::transcendental},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, ref::sigmoid, Dist::normal, 3, false,
       K::transcendental},
      {"relu", [](const Tensor& x) { return relu(x); }, ref::relu, Dist::normal, 1, true,
       K::elementwise},
      {"gelu", [](const Tensor& x) { return gelu(x); }, ref::gelu_erf, Dist::normal, 6, false,
       K::transcendental},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, ref::gelu_tanh, Dist::normal,
       9, false, K::transcendental},
      {"silu", [](const Tensor& x) { return silu(x); }, ref::silu, Dist::normal, 4, false,
       K::transcendental},
      {"sin", [](const Tensor& x) { return sin(x); }, [](double x) { return std::sin(x); },
       Dist::normal, 1, false, K::transcendental},
      {"cos", [](const Tensor& x) { return cos(x); }, [](double x) { return std::cos(x); },
       Dist::normal, 1, false, K::transcendental},
      {"erf", [](const Tensor& x) { return erf(x); }, [](double x) { return std::erf(x); },
       Dist::normal, 1, false, K::transcendental},
      // pow with a scalar exponent; integer exponents of negative bases are real.
      {"pow_e2", [](const Tensor& x) { return pow(x, 2); }, [](double x) { return x * x; },
       Dist::normal, 1, true, K::transcendental},
      {"pow_e3", [](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; },
       Dist::normal, 2, false, K::transcendental},
      {"pow_e0.5", [](const Tensor& x) { return pow(x, 0.5); },
       [](double x) { return std::sqrt(x); }, Dist::positive, 1, false, K::transcendental},
      {"pow_em1.5", [](const Tensor& x) { return x.pow(-1.5); },
       [](double x) { return std::pow(x, -1.5); }, Dist::positive, 1, false, K::transcendental},
      {"pow_em2", [](const Tensor& x) { return pow(x, -2.0); },
       [](double x) { return 1.0 / (x * x); }, Dist::nonzero, 1, false, K::transcendental},
      // Rounding keeps integers; zero gradient (issue 14).
      {"floor", [](const Tensor& x) { return floor(x); }, [](double x) { return std::floor(x); },
       Dist::wide, 1, true, K::exact},
      {"ceil", [](const Tensor& x) { return x.ceil(); }, [](double x) { return std::ceil(x); },
       Dist::wide, 1, true, K::exact},
      {"round", [](const Tensor& x) { return round(x); },
       [](double x) { return std::nearbyint(x); }, Dist::wide, 1, true, K::exact},
      {"trunc", [](const Tensor& x) { return x.trunc(); }, [](double x) { return std::trunc(x); },
       Dist::wide, 1, true, K::exact},
      {"log1p", [](const Tensor& x) { return log1p(x); }, [](double x) { return std::log1p(x); },
       Dist::positive, 2, false, K::transcendental},
      {"expm1", [](const Tensor& x) { return x.expm1(); }, [](double x) { return std::expm1(x); },
       Dist::normal, 2, false, K::transcendental},
      // The method spellings go through the same ops.
      {"exp_method", [](const Tensor& x) { return x.exp(); }, [](double x) { return std::exp(x); },
       Dist::normal, 1, false, K::transcendental},
      {"neg_operator", [](const Tensor& x) { return -x; }, [](double x) { return -x; },
       Dist::normal, 1, true, K::elementwise},
  };
  return v;
}

void add_unary_cases(std::vector<OpCase>& out) {
  for (const UnarySpec& s : unary_specs()) {
    add_unary(out, s, DType::f32, In{{3, 4}});
    add_unary(out, s, DType::f32, In{{}});
    add_unary(out, s, DType::f32, In{{2, 3, 5}, Dist::normal, Layout::transposed});
    add_unary(out, s, DType::f32, In{{17}, Dist::normal, Layout::strided});
    add_unary(out, s, DType::f32, In{{4, 5}, Dist::normal, Layout::expanded});
    add_unary(out, s, DType::f32, In{{0, 3}});
    add_unary(out, s, DType::f64, In{{3, 4}});
    add_unary(out, s, DType::f64, In{{2, 3, 5}, Dist::normal, Layout::transposed});
    add_unary(out, s, DType::f32, In{{1031, 97}});  // threads and vector tails
    // bf16/f16 (issue 16); the negative powers draw their bases away from 0 (positive,
    // nonzero), so x^-2 <= 4 and x^-1.5 <= 8 stay far inside f16's range.
    for (DType h : {DType::bf16, DType::f16}) {
      add_unary(out, s, h, In{{3, 4}});
      add_unary(out, s, h, In{{2, 3, 5}, Dist::normal, Layout::transposed});
    }
    if (s.op == "relu" || s.op == "abs" || s.op == "neg" || s.op == "exp" || s.op == "tanh" ||
        s.op == "sigmoid" || s.op == "silu" || s.op == "gelu") {
      UnarySpec nan_spec = s;
      nan_spec.op = s.op;
      nan_spec.dist = Dist::with_nan;
      add_unary(out, nan_spec, DType::f32, In{{5, 6}});
    }
    if (s.op == "pow_em2") continue;  // integers to negative powers are an error in PyTorch
    add_unary(out, s, DType::i64, In{{3, 4}});
  }
  // round is half to even, as torch.round: small integers halved are exact halves.
  add_unary(
      out,
      {"round", [](const Tensor& x) { return round(x * 0.5); },
       [](double x) { return std::nearbyint(x * 0.5); }, Dist::small_int, 1, true, TolKind::exact},
      DType::f32, In{{6, 7}});
  // log1p and expm1 keep their digits near 0, where log(1 + x) and exp(x) - 1 lose them.
  for (const char* op : {"log1p", "expm1"}) {
    const bool l = op[0] == 'l';
    add_unary(out,
              {op, [l](const Tensor& x) { return l ? log1p(x * 1e-6) : expm1(x * 1e-6); },
               [l](double x) { return l ? std::log1p(x * 1e-6) : std::expm1(x * 1e-6); },
               Dist::normal, 2, false, TolKind::transcendental},
              DType::f32, In{{5, 6}});
  }
  // Integer powers keep i64; a fractional exponent gives f32.
  add_unary(
      out,
      {"pow_e0.5", [](const Tensor& x) { return pow(x, 0.5); },
       [](double x) { return std::sqrt(x); }, Dist::positive, 1, false, TolKind::transcendental},
      DType::i64, In{{2, 3}, Dist::positive, Layout::transposed});
}

// NaN propagates through maximum and minimum (as in PyTorch).
double nan_max(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b); }
double nan_min(double a, double b) { return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b); }

int category(DType d) { return d == DType::b8 ? 0 : d == DType::i64 ? 1 : 2; }

// PyTorch's result dtype for two tensors: a 0-dim operand only decides the dtype when it
// is of a higher category (bool < integer < float) than the dimensioned one.
DType result_dtype(const In& a, DType da, const In& b, DType db) {
  bool za = a.shape.empty(), zb = b.shape.empty();
  if (za == zb) return promote_types(da, db);
  DType dim_dt = za ? db : da, zero_dt = za ? da : db;
  return category(zero_dt) > category(dim_dt) ? zero_dt : dim_dt;
}

struct BinarySpec {
  std::string op;
  BFn fn;
  BRef ref;
  Dist dist_a = Dist::normal;
  Dist dist_b = Dist::normal;
  bool int_to_float = false;  // div: integers give f32
};

void add_binary(std::vector<OpCase>& out, const BinarySpec& s, DType dt, In a, In b) {
  a.dist = s.dist_a;
  b.dist = s.dist_b;
  DType da = a.dtype.value_or(dt), db = b.dtype.value_or(dt);
  DType out_dt = result_dtype(a, da, b, db);
  if (s.int_to_float && !is_floating(out_dt)) out_dt = DType::f32;
  std::string tag = ins_tag({a, b});
  if (a.dist == Dist::with_nan || b.dist == Dist::with_nan) tag += "_nan";
  OpCase c = make_case(s.op, "binary", tag, dt, {a, b});
  BFn fn = s.fn;
  BRef rf = s.ref;
  c.run = [fn](const Inputs& x) { return Outputs{fn(x[0], x[1])}; };
  c.reference = [rf](const Refs& x) { return Refs{ref::zip(x[0], x[1], rf)}; };
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, s.op == "pow" ? TolKind::transcendental : TolKind::elementwise);
  set_elementwise_cost(c, 1, out_dt);
  bool finite = a.dist != Dist::with_nan && b.dist != Dist::with_nan;
  if (finite && is_floating(da) && !is_half(da)) c.grad_inputs.push_back(0);
  if (finite && is_floating(db) && !is_half(db)) c.grad_inputs.push_back(1);
  out.push_back(std::move(c));
}

std::vector<BinarySpec> binary_specs() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
       [](double a, double b) { return a + b; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); },
       [](double a, double b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); },
       [](double a, double b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); },
       [](double a, double b) { return a / b; }, Dist::normal, Dist::nonzero, true},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }, Dist::positive, Dist::normal},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, nan_max},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, nan_min},
      {"add_operator", [](const Tensor& a, const Tensor& b) { return a + b; },
       [](double a, double b) { return a + b; }},
      {"div_method", [](const Tensor& a, const Tensor& b) { return a.div(b); },
       [](double a, double b) { return a / b; }, Dist::normal, Dist::nonzero, true},
  };
}

void add_binary_cases(std::vector<OpCase>& out) {
  const Layout T = Layout::transposed, S = Layout::strided, E = Layout::expanded;
  const Dist N = Dist::normal;
  std::vector<std::pair<In, In>> f32_pairs = {
      {In{{3, 4}}, In{{3, 4}}},
      {In{{3, 1}}, In{{1, 4}}},
      {In{{2, 3, 4}}, In{{4}}},
      {In{{}}, In{{3, 4}}},
      {In{{3, 4}}, In{{}}},
      {In{{}}, In{{}}},
      {In{{2, 1, 4}}, In{{3, 1}}},
      {In{{1, 1}}, In{{1}}},
      {In{{4, 3}, N, T}, In{{4, 3}}},
      {In{{3, 5}, N, S}, In{{3, 5}, N, E}},
      {In{{2, 3, 4}, N, T}, In{{3, 1}}},
      {In{{0, 4}}, In{{1, 4}}},
  };
  std::vector<std::pair<In, In>> f64_pairs = {f32_pairs[0], f32_pairs[1], f32_pairs[3],
                                              f32_pairs[8]};
  std::vector<std::pair<In, In>> i64_pairs = {f32_pairs[0], f32_pairs[1], f32_pairs[8]};
  for (const BinarySpec& s : binary_specs()) {
    for (const auto& [a, b] : f32_pairs) add_binary(out, s, DType::f32, a, b);
    for (const auto& [a, b] : f64_pairs) add_binary(out, s, DType::f64, a, b);
    for (DType h : {DType::bf16, DType::f16})  // issue 16
      for (const auto& [a, b] : f64_pairs) add_binary(out, s, h, a, b);
    if (s.op == "pow") continue;  // negative integer powers of integers are an error
    for (const auto& [a, b] : i64_pairs) add_binary(out, s, DType::i64, a, b);
  }
  // Mixed dtypes promote as PyTorch does: bool < i64 < f32 < f64.
  auto specs = binary_specs();
  auto by_name = [&](const std::string& n) {
    for (const auto& s : specs)
      if (s.op == n) return s;
    return specs[0];
  };
  add_binary(out, by_name("add"), DType::f32, In{{3, 4}},
             In{{3, 4}, N, Layout::contiguous, DType::i64});
  add_binary(out, by_name("sub"), DType::f32, In{{3, 4}},
             In{{3, 1}, N, Layout::contiguous, DType::f64});
  add_binary(out, by_name("mul"), DType::i64, In{{2, 3}},
             In{{2, 3}, N, Layout::contiguous, DType::f64});
  add_binary(out, by_name("add"), DType::i64, In{{2, 3}},
             In{{2, 3}, N, Layout::contiguous, DType::b8});
  add_binary(out, by_name("maximum"), DType::f64, In{{2, 3}},
             In{{2, 3}, N, Layout::contiguous, DType::f32});
  add_binary(out, by_name("div"), DType::i64, In{{2, 3}},
             In{{2, 3}, N, Layout::contiguous, DType::f32});
  // A 0-dim tensor does not widen a dimensioned tensor of its category, but does lift
  // it to a higher category (PyTorch's rule; like Python scalars).
  add_binary(out, by_name("add"), DType::f32, In{{3, 4}},
             In{{}, N, Layout::contiguous, DType::f64});
  add_binary(out, by_name("sub"), DType::f64, In{{}},
             In{{2, 3}, N, Layout::contiguous, DType::f32});
  add_binary(out, by_name("mul"), DType::i64, In{{3, 4}},
             In{{}, N, Layout::contiguous, DType::f64});
  add_binary(out, by_name("add"), DType::f32, In{{3, 4}},
             In{{}, N, Layout::contiguous, DType::i64});
  add_binary(out, by_name("maximum"), DType::f64, In{{}},
             In{{}, N, Layout::contiguous, DType::f32});
  // NaN propagates.
  for (const char* op : {"maximum", "minimum", "add", "mul"}) {
    BinarySpec s = by_name(op);
    s.dist_a = s.dist_b = Dist::with_nan;
    add_binary(out, s, DType::f32, In{{4, 5}}, In{{4, 5}});
  }
  // Big enough for the cpu backend's threads and vector loops (odd sizes: tails).
  for (const BinarySpec& s : specs) {
    add_binary(out, s, DType::f32, In{{257, 1031}}, In{{1031}});
    if (s.op == "add" || s.op == "mul") add_binary(out, s, DType::f64, In{{1031, 1}}, In{{257}});
  }
  // bool + bool stays bool (logical or), as in PyTorch.
  {
    BinarySpec orb{"add", [](const Tensor& a, const Tensor& b) { return add(a, b); },
                   [](double a, double b) { return (a != 0 || b != 0) ? 1.0 : 0.0; }};
    add_binary(out, orb, DType::b8, In{{3, 4}}, In{{3, 4}});
  }
}

// ---- tensor-scalar variants ----------------------------------------------------------------

struct ScalarSpec {
  std::string op;
  std::string tag;  // "s2.5" after the tensor for t op s, before it for s op t
  bool scalar_first;
  std::function<Tensor(const Tensor&)> fn;
  URef ref;
  bool float_scalar;          // a float scalar makes integer tensors f32
  bool int_to_float = false;  // div
  Dist dist = Dist::normal;
};

void add_scalar_case(std::vector<OpCase>& out, const ScalarSpec& s, DType dt, In in) {
  in.dist = s.dist;
  DType out_dt = dt;
  if (!is_floating(dt) && (s.float_scalar || s.int_to_float)) out_dt = DType::f32;
  if (dt == DType::b8 && !s.float_scalar) out_dt = DType::i64;  // bool + int scalar -> i64
  std::string tag = s.scalar_first ? s.tag + "_" + in_tag(in) : in_tag(in) + "_" + s.tag;
  OpCase c = make_case(s.op, "binary_scalar", tag, dt, {in});
  auto fn = s.fn;
  URef rf = s.ref;
  c.run = [fn](const Inputs& x) { return Outputs{fn(x[0])}; };
  c.reference = [rf](const Refs& x) { return Refs{ref::map(x[0], rf)}; };
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, TolKind::elementwise);
  set_elementwise_cost(c, 1, out_dt);
  if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
  out.push_back(std::move(c));
}

void add_scalar_cases(std::vector<OpCase>& out) {
  // Scalars are chosen exactly representable in f32 where the op is exact, so the only
  // rounding is the op's own.
  std::vector<ScalarSpec> specs = {
      {"add", "s2.5", false, [](const Tensor& x) { return add(x, 2.5); },
       [](double x) { return x + 2.5; }, true},
      {"add", "s2", false, [](const Tensor& x) { return x + 2; }, [](double x) { return x + 2; },
       false},
      {"add", "s2r", true, [](const Tensor& x) { return 2 + x; }, [](double x) { return 2 + x; },
       false},
      {"sub", "s1.5", false, [](const Tensor& x) { return sub(x, 1.5); },
       [](double x) { return x - 1.5; }, true},
      {"sub", "s3", false, [](const Tensor& x) { return x - 3; }, [](double x) { return x - 3; },
       false},
      {"sub", "s1.5", true, [](const Tensor& x) { return sub(1.5, x); },
       [](double x) { return 1.5 - x; }, true},
      {"sub", "s3", true, [](const Tensor& x) { return 3 - x; }, [](double x) { return 3 - x; },
       false},
      {"mul", "sm3", false, [](const Tensor& x) { return mul(x, -3); },
       [](double x) { return -3 * x; }, false},
      {"mul", "s0.5", false, [](const Tensor& x) { return x * 0.5; },
       [](double x) { return 0.5 * x; }, true},
      {"mul", "s0.5r", true, [](const Tensor& x) { return 0.5 * x; },
       [](double x) { return 0.5 * x; }, true},
      {"div", "s4", false, [](const Tensor& x) { return div(x, 4); },
       [](double x) { return x / 4; }, false, true},
      {"div", "s0.25", false, [](const Tensor& x) { return x / 0.25; },
       [](double x) { return x / 0.25; }, true, true},
      {"div", "s2", true, [](const Tensor& x) { return div(2, x); }, [](double x) { return 2 / x; },
       false, true, Dist::nonzero},
      {"div", "s2.5", true, [](const Tensor& x) { return 2.5 / x; },
       [](double x) { return 2.5 / x; }, true, true, Dist::nonzero},
  };
  for (const ScalarSpec& s : specs) {
    add_scalar_case(out, s, DType::f32, In{{3, 4}});
    add_scalar_case(out, s, DType::f32, In{{4, 3}, Dist::normal, Layout::transposed});
    add_scalar_case(out, s, DType::f32, In{{}});
    add_scalar_case(out, s, DType::f64, In{{3, 4}});
    add_scalar_case(out, s, DType::i64, In{{3, 4}});
    // bf16/f16 (issue 16): the scalars are exact in both, so one rounding of the f32 result.
    for (DType h : {DType::bf16, DType::f16}) {
      add_scalar_case(out, s, h, In{{3, 4}});
      add_scalar_case(out, s, h, In{{4, 3}, Dist::normal, Layout::transposed});
    }
  }
  // bool + 1 -> i64; bool * 0.5 -> f32.
  add_scalar_case(out, specs[1], DType::b8, In{{3, 4}});
  add_scalar_case(out, specs[8], DType::b8, In{{3, 4}});
}

}  // namespace

void add_elementwise_cases(std::vector<OpCase>& out) {
  add_unary_cases(out);
  add_binary_cases(out);
  add_scalar_cases(out);
}

}  // namespace ember::cases
