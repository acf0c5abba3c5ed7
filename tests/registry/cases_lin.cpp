// Linear algebra of issue 15: einsum in each form it maps to (matmul, batched, "...",
// transpose, sums, outer, dot, a 3-operand chain, attention scores, size-1 broadcasting),
// addmm and baddbmm (beta, alpha, beta = 0 with NaN in the input), outer, tril/triu with
// offsets on 4-D batches, and nn::functional's normalize and cosine_similarity. Each
// reference is a plain loop in double: einsum's runs every assignment of its labels.
// Napkin math: einsum 2 flops per assignment of all labels; addmm 2 n m p + 3 n p;
// normalize about 4 flops per element, cosine_similarity about 6.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using ref::RefTensor;

OpCase make_case(const std::string& op, const std::string& family, const std::string& tag, DType dt,
                 std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = family;
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  c.out_dtypes = {dt};
  return c;
}

// The terms of an equation with letters only: {"ij", "jk", "ik"} (output last).
std::vector<std::string> terms_of(const std::string& eq) {
  std::vector<std::string> t;
  size_t arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow);
  for (size_t s = 0;;) {
    size_t c = lhs.find(',', s);
    t.push_back(lhs.substr(s, c - s));
    if (c == std::string::npos) break;
    s = c + 1;
  }
  t.push_back(eq.substr(arrow + 2));
  return t;
}

// Each label's size: the largest over the operands (size-1 dims broadcast).
std::map<char, int64_t> label_sizes(const std::vector<std::string>& terms,
                                    const std::vector<Shape>& shapes) {
  std::map<char, int64_t> size;
  for (size_t i = 0; i < shapes.size(); ++i)
    for (size_t d = 0; d < terms[i].size(); ++d)
      size[terms[i][d]] = std::max(size[terms[i][d]], shapes[i][d]);
  return size;
}

// bf16/f16 einsum (issue 16, halfnn2): its products accumulate in f32 and round once, but a
// chain of three operands or a sum over "..." rounds an intermediate whose size grows as
// sqrt(K) for K summed terms (cases_matmul_half.cpp's argument): atol = eps sqrt(K), K the
// number of label assignments per output element.
Tolerance half_sum_tolerance(DType dt, const std::string& ref_eq, const std::vector<In>& ins) {
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  std::vector<Shape> shapes;
  for (const In& in : ins) shapes.push_back(in.shape);
  const std::vector<std::string> terms = terms_of(ref_eq);
  double k = 1;
  for (const auto& [label, size] : label_sizes(terms, shapes))
    if (terms.back().find(label) == std::string::npos) k *= static_cast<double>(size);
  return {eps * std::sqrt(k), 4 * eps};
}

// out[o] = sum over every assignment of the labels of the product of the operands.
RefTensor ref_einsum(const std::string& eq, const Refs& x) {
  const auto terms = terms_of(eq);
  std::vector<Shape> shapes;
  for (const RefTensor& r : x) shapes.push_back(r.shape);
  auto size = label_sizes(terms, shapes);
  std::vector<char> labels;
  for (auto& [l, s] : size) labels.push_back(l);
  Shape out_shape;
  for (char l : terms.back()) out_shape.push_back(size[l]);
  RefTensor out = ref::filled(out_shape, 0.0);
  std::map<char, int64_t> v;
  int64_t total = 1;
  for (char l : labels) total *= size[l];
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t r = flat;
    for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
      v[*it] = r % size[*it];
      r /= size[*it];
    }
    double p = 1.0;
    for (size_t i = 0; i < x.size(); ++i) {
      ref::Index idx;
      for (size_t d = 0; d < terms[i].size(); ++d)
        idx.push_back(x[i].shape[d] == 1 ? 0 : v[terms[i][d]]);
      p *= x[i][idx];
    }
    ref::Index o;
    for (char l : terms.back()) o.push_back(v[l]);
    out[o] += p;
  }
  return out;
}

void add_einsum_cases(std::vector<OpCase>& out) {
  struct E {
    std::string eq;      // as the user writes it
    std::string ref_eq;  // letters only, explicit output: what the reference loops over
    std::vector<In> ins;
  };
  const Dist N = Dist::normal;
  std::vector<E> specs = {
      {"ij,jk->ik", "ij,jk->ik", {In{{3, 4}}, In{{4, 5}}}},
      {"ij,jk", "ij,jk->ik", {In{{3, 4}}, In{{4, 5}}}},  // implicit output
      {"bij,bjk->bik", "bij,bjk->bik", {In{{2, 3, 4}}, In{{2, 4, 5}}}},
      {"...ij,...jk", "aij,ajk->aik", {In{{2, 3, 4}}, In{{2, 4, 5}}}},
      {"...ij,...jk->...ik", "abij,bjk->abik", {In{{3, 2, 3, 4}}, In{{2, 4, 5}}}},
      {"ij->ji", "ij->ji", {In{{3, 4}}}},
      {"ba", "ba->ab", {In{{3, 4}}}},  // implicit output is alphabetical: a transpose
      {"ij->", "ij->", {In{{3, 4}}}},
      {"ij->j", "ij->j", {In{{3, 4}, N, Layout::transposed}}},
      {"i,j->ij", "i,j->ij", {In{{3}}, In{{4}}}},
      {"i,i->", "i,i->", {In{{7}}, In{{7}}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {In{{2, 3}}, In{{3, 4}}, In{{4, 5}}}},
      {"bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", {In{{2, 3, 4, 5}}, In{{2, 3, 6, 5}}}},
      {"bhqk,bhkd->bhqd", "bhqk,bhkd->bhqd", {In{{2, 3, 4, 6}}, In{{2, 3, 6, 5}}}},
      {"bij,bjk->bik", "bij,bjk->bik", {In{{1, 3, 4}}, In{{2, 4, 5}}}},  // size-1 broadcast
      {"ijk,ikl->jl", "ijk,ikl->jl", {In{{2, 3, 4}, N, Layout::transposed}, In{{2, 4, 5}}}},
      {"ij,kl->ikjl", "ij,kl->ikjl", {In{{2, 3}}, In{{4, 2}}}},
      {"i...->...", "ia->a", {In{{3, 4}}}},
      {"ab,b,bc->", "ab,b,bc->", {In{{3, 4}}, In{{4}}, In{{4, 2}}}},
      {"...ij->ij", "aij->ij", {In{{2, 3, 4}}}},  // "..." left out of the output: summed
      {"bji,bjk->bik", "bji,bjk->bik", {In{{2, 4, 3}}, In{{2, 4, 5}}}},  // a as a transposed view
  };
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})  // halves: halfnn2
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt == DType::f64 && k != 0 && k != 4 && k != 11 && k != 12 && k != 14 && k != 18 &&
          k != 20)
        continue;
      const E& s = specs[k];
      std::string tag = s.eq;
      for (char& ch : tag)
        if (ch == ',' || ch == '.' || ch == '>' || ch == '-') ch = '_';
      OpCase c = make_case("einsum", "einsum", tag + "_" + ins_tag(s.ins), dt, s.ins);
      const std::string eq = s.eq, ref_eq = s.ref_eq;
      c.run = [eq](const Inputs& x) { return Outputs{einsum(eq, x)}; };
      c.reference = [ref_eq](const Refs& x) { return Refs{ref_einsum(ref_eq, x)}; };
      c.tol = is_half(dt) ? half_sum_tolerance(dt, ref_eq, s.ins) : tolerance(dt, TolKind::matmul);
      c.flops = [ref_eq](const Inputs& x) {
        std::vector<Shape> shapes;
        for (const Tensor& t : x) shapes.push_back(t.sizes());
        double n = 2.0;
        for (auto& [l, sz] : label_sizes(terms_of(ref_eq), shapes)) n *= static_cast<double>(sz);
        return n;
      };
      c.bytes = [](const Inputs& x) {
        double b = 0;
        for (const Tensor& t : x) b += bytes_of(t);
        return b;
      };
      for (int i = 0; i < static_cast<int>(s.ins.size()) && !is_half(dt); ++i)
        c.grad_inputs.push_back(i);
      out.push_back(std::move(c));
    }
}

// beta * input + alpha * (m1 @ m2) in double; beta = 0 does not read the input.
RefTensor ref_addmm(const RefTensor& input, const RefTensor& m1, const RefTensor& m2, double beta,
                    double alpha) {
  RefTensor p = ref::matmul(m1, m2);
  RefTensor c = ref::expand(input, p.shape);
  for (size_t i = 0; i < p.data.size(); ++i)
    p.data[i] = alpha * p.data[i] + (beta == 0.0 ? 0.0 : beta * c.data[i]);
  return p;
}

void add_addmm_cases(std::vector<OpCase>& out) {
  struct A {
    bool batched;
    In input, m1, m2;
    double beta, alpha;
  };
  const Dist N = Dist::normal;
  std::vector<A> specs = {
      {false, In{{3, 5}}, In{{3, 4}}, In{{4, 5}}, 1.0, 1.0},
      {false, In{{5}}, In{{3, 4}}, In{{4, 5}}, 0.5, 2.0},  // bias row broadcast
      {false, In{{3, 1}}, In{{3, 4}, N, Layout::transposed}, In{{4, 5}}, -1.0, 0.25},
      {false, In{{3, 5}, Dist::with_nan}, In{{3, 4}}, In{{4, 5}}, 0.0, 1.5},  // NaN ignored
      {true, In{{2, 3, 5}}, In{{2, 3, 4}}, In{{2, 4, 5}}, 1.0, 1.0},
      {true, In{{3, 5}}, In{{2, 3, 4}}, In{{2, 4, 5}}, 2.0, -0.5},  // broadcast over batch
      {true, In{{2, 3, 5}, Dist::with_nan}, In{{2, 3, 4}}, In{{2, 4, 5}}, 0.0, 1.0},
  };
  for (DType dt : {DType::f32, DType::f64})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt == DType::f64 && k != 2 && k != 5) continue;
      const A& s = specs[k];
      const std::string op = s.batched ? "baddbmm" : "addmm";
      std::string tag = ins_tag({s.input, s.m1, s.m2}) + (s.beta == 0.0 ? "_beta0_nan" : "") +
                        (s.beta != 1.0 || s.alpha != 1.0 ? "_scaled" : "");
      OpCase c = make_case(op, "addmm", tag, dt, {s.input, s.m1, s.m2});
      const double beta = s.beta, alpha = s.alpha;
      const bool batched = s.batched;
      c.run = [=](const Inputs& x) {
        return Outputs{batched ? baddbmm(x[0], x[1], x[2], beta, alpha)
                               : addmm(x[0], x[1], x[2], beta, alpha)};
      };
      c.reference = [=](const Refs& x) { return Refs{ref_addmm(x[0], x[1], x[2], beta, alpha)}; };
      c.tol = tolerance(dt, TolKind::matmul);
      c.flops = [](const Inputs& x) {
        return 2.0 * numel_d(x[1]) * static_cast<double>(x[2].size(-1)) + 3.0 * numel_d(x[0]);
      };
      c.bytes = [](const Inputs& x) { return bytes_of(x[0]) + bytes_of(x[1]) + bytes_of(x[2]); };
      c.grad_inputs = beta == 0.0 ? std::vector<int>{1, 2} : std::vector<int>{0, 1, 2};
      out.push_back(std::move(c));
    }
}

void add_outer_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {  // halves: halfnn2
    std::vector<In> ins = {In{{4}}, In{{3}, Dist::normal, Layout::strided}};
    OpCase c = make_case("outer", "outer", ins_tag(ins), dt, ins);
    c.run = [](const Inputs& x) { return Outputs{outer(x[0], x[1])}; };
    c.reference = [](const Refs& x) {
      return Refs{ref::matmul(ref::reshape(x[0], {x[0].numel(), 1}),
                              ref::reshape(x[1], {1, x[1].numel()}))};
    };
    c.tol = tolerance(dt, TolKind::elementwise);
    c.flops = [](const Inputs& x) { return numel_d(x[0]) * numel_d(x[1]); };
    c.bytes = [](const Inputs& x) {
      return bytes_of(x[0]) + bytes_of(x[1]) +
             numel_d(x[0]) * numel_d(x[1]) * static_cast<double>(x[0].element_size());
    };
    if (!is_half(dt)) c.grad_inputs = {0, 1};
    out.push_back(std::move(c));
  }
}

// tril/triu on 4-D batches with offsets (the 2-D and 3-D cases are cases_shape.cpp's).
void add_batched_tri_cases(std::vector<OpCase>& out) {
  for (bool upper : {false, true})
    for (int64_t d : {-1, 0, 2}) {
      In in{{2, 3, 4, 5}, Dist::normal, d == 2 ? Layout::transposed : Layout::contiguous};
      std::string dtag = d < 0 ? "m" + std::to_string(-d) : std::to_string(d);
      OpCase c =
          make_case(upper ? "triu" : "tril", "tri", in_tag(in) + "_k" + dtag, DType::f64, {in});
      c.run = [d, upper](const Inputs& x) {
        return Outputs{upper ? triu(x[0], d) : tril(x[0], d)};
      };
      c.reference = [d, upper](const Refs& x) { return Refs{ref::tri(x[0], d, upper)}; };
      c.tol = tolerance(DType::f64, TolKind::exact);
      set_elementwise_cost(c, 0, DType::f64);
      c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

// ||x||_p along dim of a row-major ref, keepdim, then the elementwise formula.
RefTensor ref_norm(const RefTensor& x, double p, int64_t dim) {
  return ref::reduce(x, {dim}, true, [p](const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += std::pow(std::abs(e), p);
    return std::pow(s, 1.0 / p);
  });
}

void add_normalize_cases(std::vector<OpCase>& out) {
  struct Nz {
    In in;
    double p;
    int64_t dim;
  };
  std::vector<Nz> specs = {
      {In{{3, 4}}, 2.0, 1},
      {In{{2, 3, 4}}, 2.0, -1},
      {In{{2, 3, 4}, Dist::normal, Layout::transposed}, 1.0, 0},
      {In{{4, 5}}, 3.0, 1},
  };
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})  // halves: halfnn2
    for (size_t k = 0; k < specs.size(); ++k) {
      const Nz& s = specs[k];
      OpCase c = make_case("normalize", "normalize",
                           in_tag(s.in) + "_p" + std::to_string(static_cast<int>(s.p)) + "_d" +
                               std::to_string(s.dim),
                           dt, {s.in});
      const double p = s.p;
      const int64_t dim = s.dim;
      c.run = [p, dim](const Inputs& x) { return Outputs{F::normalize(x[0], p, dim)}; };
      c.reference = [p, dim](const Refs& x) {
        RefTensor n = ref::expand(ref_norm(x[0], p, ref::wrap(dim, x[0].dim())), x[0].shape);
        return Refs{ref::zip(x[0], n, [](double a, double b) { return a / std::max(b, 1e-12); })};
      };
      c.tol = tolerance(dt, TolKind::reduction);
      set_elementwise_cost(c, 4, dt);
      if (!is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
  // A zero row stays zero (the norm is clamped at eps) instead of turning NaN.
  OpCase c = make_case("normalize", "normalize", "3x4_zero_row", DType::f32, {In{{3, 4}}});
  c.run = [](const Inputs& x) {
    Tensor y = x[0].clone();
    y.select(0, 1).zero_();
    return Outputs{F::normalize(y)};
  };
  c.reference = [](const Refs& x) {
    RefTensor y = x[0];
    for (int64_t j = 0; j < 4; ++j) y[{1, j}] = 0.0;
    RefTensor n = ref::expand(ref_norm(y, 2.0, 1), y.shape);
    return Refs{ref::zip(y, n, [](double a, double b) { return a / std::max(b, 1e-12); })};
  };
  c.tol = tolerance(DType::f32, TolKind::reduction);
  set_elementwise_cost(c, 4, DType::f32);
  out.push_back(std::move(c));
}

void add_cosine_cases(std::vector<OpCase>& out) {
  struct Cs {
    In a, b;
    int64_t dim;
  };
  std::vector<Cs> specs = {
      {In{{3, 4}}, In{{3, 4}}, 1},
      {In{{2, 3, 4}}, In{{3, 4}}, -1},  // broadcast
      {In{{4, 1}}, In{{4, 5}, Dist::normal, Layout::transposed}, 0},
      {In{{2, 5}}, In{{1, 5}}, 1},
  };
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})  // halves: halfnn2
    for (size_t k = 0; k < specs.size(); ++k) {
      const Cs& s = specs[k];
      OpCase c = make_case("cosine_similarity", "cosine_similarity",
                           ins_tag({s.a, s.b}) + "_d" + std::to_string(s.dim), dt, {s.a, s.b});
      const int64_t dim = s.dim;
      c.run = [dim](const Inputs& x) { return Outputs{F::cosine_similarity(x[0], x[1], dim)}; };
      c.reference = [dim](const Refs& x) {
        const Shape shape = ref::broadcast(x[0].shape, x[1].shape);
        RefTensor a = ref::expand(x[0], shape), b = ref::expand(x[1], shape);
        const int64_t d = ref::wrap(dim, static_cast<int64_t>(shape.size()));
        RefTensor na = ref::expand(ref_norm(a, 2.0, d), shape);
        RefTensor nb = ref::expand(ref_norm(b, 2.0, d), shape);
        auto unit = [](double v, double n) { return v / std::max(n, 1e-8); };
        RefTensor prod =
            ref::zip(ref::zip(a, na, unit), ref::zip(b, nb, unit), std::multiplies<double>());
        return Refs{ref::reduce(prod, {d}, false, ref::sum_of)};
      };
      c.tol = tolerance(dt, TolKind::reduction);
      set_elementwise_cost(c, 6, dt);
      if (!is_half(dt)) c.grad_inputs = {0, 1};
      out.push_back(std::move(c));
    }
}

}  // namespace

void add_lin_cases(std::vector<OpCase>& out) {
  add_einsum_cases(out);
  add_addmm_cases(out);
  add_outer_cases(out);
  add_batched_tri_cases(out);
  add_normalize_cases(out);
  add_cosine_cases(out);
}

}  // namespace ember::cases
