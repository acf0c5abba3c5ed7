// Comparisons, logical ops, where and masked_fill. Inputs are small integers so that
// equal elements (ties) actually occur.
#include <cmath>

#include "registry/builders.h"

namespace ember::cases {

namespace {
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

double b2d(bool b) { return b ? 1.0 : 0.0; }

struct CmpSpec {
  std::string op;
  BFn fn;
  std::function<Tensor(const Tensor&, const Scalar&)> sfn;
  BRef ref;
};

std::vector<CmpSpec> cmp_specs() {
  return {
      {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); },
       [](const Tensor& a, const Scalar& s) { return eq(a, s); },
       [](double a, double b) { return b2d(a == b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); },
       [](const Tensor& a, const Scalar& s) { return ne(a, s); },
       [](double a, double b) { return b2d(a != b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return a < b; },
       [](const Tensor& a, const Scalar& s) { return a < s; },
       [](double a, double b) { return b2d(a < b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); },
       [](const Tensor& a, const Scalar& s) { return a <= s; },
       [](double a, double b) { return b2d(a <= b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return a.gt(b); },
       [](const Tensor& a, const Scalar& s) { return gt(a, s); },
       [](double a, double b) { return b2d(a > b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); },
       [](const Tensor& a, const Scalar& s) { return a >= s; },
       [](double a, double b) { return b2d(a >= b); }},
  };
}

void add_bool_binary(std::vector<OpCase>& out, const std::string& op, const std::string& family,
                     const BFn& fn, const BRef& rf, DType dt, In a, In b) {
  OpCase c = make_case(op, family, ins_tag({a, b}), dt, {a, b});
  c.run = [fn](const Inputs& x) { return Outputs{fn(x[0], x[1])}; };
  c.reference = [rf](const Refs& x) { return Refs{ref::zip(x[0], x[1], rf)}; };
  c.out_dtypes = {DType::b8};
  c.tol = {};
  set_elementwise_cost(c, 1, DType::b8);
  out.push_back(std::move(c));
}

void add_comparisons(std::vector<OpCase>& out) {
  const Dist I = Dist::small_int;
  const Layout C = Layout::contiguous;
  std::vector<std::pair<In, In>> pairs = {
      {In{{3, 4}, I}, In{{3, 4}, I}},
      {In{{3, 1}, I}, In{{1, 4}, I}},
      {In{{3, 4}, I}, In{{}, I}},
      {In{{4, 3}, I, Layout::transposed}, In{{4, 3}, I, Layout::strided}},
  };
  for (const CmpSpec& s : cmp_specs()) {
    for (DType dt : {DType::f32, DType::f64, DType::i64})
      for (const auto& [a, b] : pairs) add_bool_binary(out, s.op, "compare", s.fn, s.ref, dt, a, b);
    // bf16/f16 (issue 16): small integers are exact in both, so ties occur.
    for (DType h : {DType::bf16, DType::f16}) {
      add_bool_binary(out, s.op, "compare", s.fn, s.ref, h, pairs[1].first, pairs[1].second);
      add_bool_binary(out, s.op, "compare", s.fn, s.ref, h, pairs[3].first, pairs[3].second);
    }
    // a 16-bit tensor against an f32 one compares in f32
    add_bool_binary(out, s.op, "compare", s.fn, s.ref, DType::bf16, In{{3, 4}, I},
                    In{{3, 4}, I, C, DType::f32});
    // Mixed dtypes compare in the promoted dtype.
    add_bool_binary(out, s.op, "compare", s.fn, s.ref, DType::f32, In{{3, 4}, I},
                    In{{3, 4}, I, C, DType::i64});
    add_bool_binary(out, s.op, "compare", s.fn, s.ref, DType::f64, In{{3, 4}, I},
                    In{{1, 4}, I, C, DType::f32});
    // Scalars: an integer one and a fraction (an i64 tensor must not truncate 0.5).
    for (DType dt : {DType::f32, DType::i64, DType::bf16, DType::f16})
      for (double sv : {1.0, 0.5}) {
        bool integer = sv == 1.0;
        In a{{3, 4}, I};
        OpCase c =
            make_case(s.op, "compare_scalar", in_tag(a) + (integer ? "_s1" : "_s0.5"), dt, {a});
        auto sfn = s.sfn;
        auto rf = s.ref;
        c.run = [sfn, integer, sv](const Inputs& x) {
          return Outputs{integer ? sfn(x[0], Scalar(int64_t{1})) : sfn(x[0], Scalar(sv))};
        };
        c.reference = [rf, sv](const Refs& x) {
          return Refs{ref::map(x[0], [&](double v) { return rf(v, sv); })};
        };
        c.out_dtypes = {DType::b8};
        set_elementwise_cost(c, 1, DType::b8);
        out.push_back(std::move(c));
      }
  }
  // bool == bool
  add_bool_binary(
      out, "eq", "compare", [](const Tensor& a, const Tensor& b) { return eq(a, b); },
      [](double a, double b) { return b2d(a == b); }, DType::b8, In{{3, 4}, Dist::boolean},
      In{{3, 4}, Dist::boolean});
}

void add_logical(std::vector<OpCase>& out) {
  BFn land = [](const Tensor& a, const Tensor& b) { return logical_and(a, b); };
  BFn lor = [](const Tensor& a, const Tensor& b) { return logical_or(a, b); };
  BRef rand_ = [](double a, double b) { return b2d(a != 0 && b != 0); };
  BRef ror = [](double a, double b) { return b2d(a != 0 || b != 0); };
  const Dist B = Dist::boolean;
  std::vector<std::pair<In, In>> pairs = {
      {In{{3, 4}, B}, In{{3, 4}, B}},
      {In{{3, 1}, B}, In{{1, 4}, B}},
      {In{{2, 3}, B}, In{{}, B}},
      {In{{4, 3}, B, Layout::transposed}, In{{4, 3}, B}},
  };
  for (const auto& [a, b] : pairs) {
    add_bool_binary(out, "logical_and", "logical", land, rand_, DType::b8, a, b);
    add_bool_binary(out, "logical_or", "logical", lor, ror, DType::b8, a, b);
  }
  // Non-bool inputs: nonzero is true (as in PyTorch).
  add_bool_binary(out, "logical_and", "logical", land, rand_, DType::f32,
                  In{{3, 4}, Dist::small_int},
                  In{{3, 4}, Dist::small_int, Layout::contiguous, DType::i64});
  add_bool_binary(out, "logical_or", "logical", lor, ror, DType::f64, In{{3, 4}, Dist::small_int},
                  In{{3, 4}, Dist::small_int});
  // bf16/f16 (issue 16): zeros occur among the small integers.
  for (DType h : {DType::bf16, DType::f16}) {
    add_bool_binary(out, "logical_and", "logical", land, rand_, h, In{{3, 4}, Dist::small_int},
                    In{{1, 4}, Dist::small_int});
    add_bool_binary(out, "logical_or", "logical", lor, ror, h,
                    In{{4, 3}, Dist::small_int, Layout::transposed}, In{{4, 3}, Dist::small_int});
  }
  for (const auto& [in, dt] : std::vector<std::pair<In, DType>>{
           {In{{3, 4}, B}, DType::b8},
           {In{{4, 3}, B, Layout::transposed}, DType::b8},
           {In{{}, B}, DType::b8},
           {In{{3, 4}, Dist::small_int}, DType::f32},
           {In{{3, 4}, Dist::small_int}, DType::i64},
           {In{{3, 4}, Dist::small_int}, DType::bf16},
           {In{{4, 3}, Dist::small_int, Layout::transposed}, DType::f16}}) {
    OpCase c = make_case("logical_not", "logical", in_tag(in), dt, {in});
    c.run = [](const Inputs& x) { return Outputs{logical_not(x[0])}; };
    c.reference = [](const Refs& x) {
      return Refs{ref::map(x[0], [](double v) { return b2d(v == 0); })};
    };
    c.out_dtypes = {DType::b8};
    set_elementwise_cost(c, 1, DType::b8);
    out.push_back(std::move(c));
  }
}

void add_where(std::vector<OpCase>& out) {
  const Dist B = Dist::boolean, N = Dist::normal;
  const Layout C = Layout::contiguous;
  auto where_ref = [](double c, double a, double b) { return c != 0 ? a : b; };
  std::vector<std::vector<In>> triples = {
      {In{{3, 4}, B}, In{{3, 4}}, In{{3, 4}}},
      {In{{3, 1}, B}, In{{1, 4}}, In{{}}},
      {In{{4, 3}, B, Layout::transposed}, In{{4, 3}, N, Layout::strided},
       In{{4, 3}, N, Layout::expanded}},
      {In{{2, 3, 4}, B}, In{{3, 4}}, In{{2, 1, 4}}},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < triples.size(); ++k) {
      if (dt != DType::f32 && !is_half(dt) && k >= 2) continue;
      OpCase c = make_case("where", "where", ins_tag(triples[k]), dt, triples[k]);
      c.run = [](const Inputs& x) { return Outputs{where(x[0], x[1], x[2])}; };
      c.reference = [where_ref](const Refs& x) {
        return Refs{ref::zip3(x[0], x[1], x[2], where_ref)};
      };
      c.out_dtypes = {dt};
      c.tol = tolerance(dt, TolKind::exact);
      set_elementwise_cost(c, 1, dt);
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {1, 2};
      out.push_back(std::move(c));
    }
  // where(cond, a, b) with a and b of different dtypes promotes.
  {
    std::vector<In> ins = {In{{3, 4}, B}, In{{3, 4}}, In{{3, 4}, N, C, DType::f64}};
    OpCase c = make_case("where", "where", ins_tag(ins), DType::f32, ins);
    c.run = [](const Inputs& x) { return Outputs{where(x[0], x[1], x[2])}; };
    c.reference = [where_ref](const Refs& x) {
      return Refs{ref::zip3(x[0], x[1], x[2], where_ref)};
    };
    c.out_dtypes = {DType::f64};
    set_elementwise_cost(c, 1, DType::f64);
    c.grad_inputs = {1, 2};
    out.push_back(std::move(c));
  }
  // where with a scalar for b; the scalar does not widen the tensor's dtype.
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16}) {
    std::vector<In> ins = {In{{3, 4}, B}, In{{3, 4}}};
    bool integer = dt == DType::i64;
    OpCase c = make_case("where", "where", ins_tag(ins) + (integer ? "_s7" : "_s0.5"), dt, ins);
    c.run = [integer](const Inputs& x) {
      return Outputs{integer ? where(x[0], x[1], Scalar(int64_t{7}))
                             : where(x[0], x[1], Scalar(0.5))};
    };
    c.reference = [integer](const Refs& x) {
      double s = integer ? 7.0 : 0.5;
      return Refs{ref::zip(x[0], x[1], [s](double cv, double a) { return cv != 0 ? a : s; })};
    };
    c.out_dtypes = {dt};
    set_elementwise_cost(c, 1, dt);
    if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {1};
    out.push_back(std::move(c));
  }
}

void add_masked_fill(std::vector<OpCase>& out) {
  const Dist B = Dist::boolean;
  struct MF {
    std::vector<In> ins;
    DType dt;
    Scalar value;
    std::string vtag;
  };
  std::vector<MF> specs = {
      {{In{{3, 4}}, In{{3, 4}, B}}, DType::f32, Scalar(-1.5), "vm1.5"},
      {{In{{3, 4}}, In{{1, 4}, B}}, DType::f32, Scalar(int64_t{2}), "v2"},
      {{In{{4, 3}, Dist::normal, Layout::transposed}, In{{4, 3}, B}},
       DType::f32,
       Scalar(0.25),
       "v0.25"},
      {{In{{2, 3, 4}}, In{{3, 1}, B}}, DType::f64, Scalar(-1.5), "vm1.5"},
      {{In{{3, 4}}, In{{}, B}}, DType::f64, Scalar(3.0), "v3"},
      {{In{{3, 4}}, In{{3, 4}, B}}, DType::i64, Scalar(int64_t{7}), "v7"},
      // bf16/f16 (issue 16): the value rounded to the dtype, elements kept bit for bit.
      {{In{{3, 4}}, In{{1, 4}, B}}, DType::bf16, Scalar(-1.5), "vm1.5"},
      {{In{{2, 3, 4}}, In{{3, 1}, B}}, DType::f16, Scalar(0.25), "v0.25"},
  };
  for (const MF& s : specs) {
    OpCase c = make_case("masked_fill", "where", ins_tag(s.ins) + "_" + s.vtag, s.dt, s.ins);
    Scalar v = s.value;
    bool method = s.vtag == "v0.25";
    c.run = [v, method](const Inputs& x) {
      return Outputs{method ? x[0].masked_fill(x[1], v) : masked_fill(x[0], x[1], v)};
    };
    double vd = v.to_double();
    c.reference = [vd](const Refs& x) {
      return Refs{ref::zip(x[0], x[1], [vd](double a, double m) { return m != 0 ? vd : a; })};
    };
    c.out_dtypes = {s.dt};
    set_elementwise_cost(c, 1, s.dt);
    if (is_floating(s.dt) && !is_half(s.dt)) c.grad_inputs = {0};
    out.push_back(std::move(c));
  }
}

}  // namespace

void add_compare_cases(std::vector<OpCase>& out) {
  add_comparisons(out);
  add_logical(out);
  add_where(out);
  add_masked_fill(out);
}

}  // namespace ember::cases
