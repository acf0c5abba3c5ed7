// logsumexp, linalg::vector_norm, any/all (reduce family: over dims, keepdim, all dims);
// one_hot, masked_select, index_put/index_put_ (index family: broadcast masks and index
// tensors, negative and repeated indices, bool masks). Napkin math: one to three flops per
// input element for the reductions, none for the index ops; bytes are inputs read once and
// outputs written once.
#include <cmath>
#include <limits>

#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

OpCase base_case(const std::string& family, const std::string& op, const std::string& tag,
                 DType dt) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = family;
  c.op = op;
  c.dtype = dt;
  return c;
}

std::string dims_tag(const DimList& dims, bool keepdim) {
  std::string t = "d";
  if (dims.empty()) t += "all";
  for (size_t i = 0; i < dims.size(); ++i) t += (i ? "," : "") + std::to_string(dims[i]);
  return t + (keepdim ? "_keep" : "");
}

void set_io_cost(OpCase& c, double flops_per_elem) {
  c.flops = [flops_per_elem](const Inputs& x) { return flops_per_elem * numel_d(x[0]); };
  c.bytes = [](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

// ---- reductions ----------------------------------------------------------------------------

double lse_of(const std::vector<double>& v) {
  double m = -kInf;
  for (double a : v) m = std::max(m, a);
  if (std::isinf(m)) m = 0.0;  // all -inf: log(0) = -inf below
  double s = 0;
  for (double a : v) s += std::exp(a - m);
  return std::log(s) + m;
}

ref::Reducer norm_of(double ord) {
  return [ord](const std::vector<double>& v) {
    if (std::isinf(ord)) {
      double r = ord > 0 ? 0.0 : kInf;
      for (double a : v) r = ord > 0 ? std::max(r, std::abs(a)) : std::min(r, std::abs(a));
      return r;
    }
    double s = 0;
    for (double a : v) s += ord == 0 ? (a != 0 ? 1.0 : 0.0) : std::pow(std::abs(a), ord);
    return ord == 0 ? s : std::pow(s, 1.0 / ord);
  };
}

struct RedSpec {
  std::string op;
  std::function<Tensor(const Tensor&, const DimList&, bool)> fn;
  ref::Reducer ref;
  DType out;  // f32 in: this out; otherwise the case dtype (floating) or bool
  bool grad;
};

void add_red(std::vector<OpCase>& out, const RedSpec& s, In in, DType dt, DimList dims, bool keep,
             const std::string& extra = "") {
  OpCase c = base_case("reduce", s.op, in_tag(in) + "_" + dims_tag(dims, keep) + extra, dt);
  c.make_inputs = input_maker({in});
  auto fn = s.fn;
  auto rf = s.ref;
  c.run = [fn, dims, keep](const Inputs& x) { return Outputs{fn(x[0], dims, keep)}; };
  c.reference = [rf, dims, keep](const Refs& x) { return Refs{ref::reduce(x[0], dims, keep, rf)}; };
  DType out_dt = s.out == DType::b8 ? DType::b8 : (is_floating(dt) ? dt : DType::f32);
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt == DType::b8 ? DType::f64 : out_dt, TolKind::transcendental);
  set_io_cost(c, 3);
  if (s.grad && is_floating(dt) && !is_half(dt) && in.dist != Dist::with_ninf) c.grad_inputs = {0};
  out.push_back(std::move(c));
}

void add_reductions(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  auto lse = [](const Tensor& x, const DimList& d, bool k) { return logsumexp(x, d, k); };
  auto norm = [](double ord) {
    return [ord](const Tensor& x, const DimList& d, bool k) {
      return linalg::vector_norm(x, ord, d, k);
    };
  };
  std::vector<RedSpec> specs = {
      {"logsumexp", lse, lse_of, DType::f32, true},
      {"vector_norm", norm(2), norm_of(2), DType::f32, true},
      {"vector_norm", norm(1), norm_of(1), DType::f32, true},
      {"vector_norm", norm(3), norm_of(3), DType::f32, true},
      {"vector_norm", norm(0.5), norm_of(0.5), DType::f32, true},
      {"vector_norm", norm(-2), norm_of(-2), DType::f32, true},
      {"vector_norm", norm(kInf), norm_of(kInf), DType::f32, true},
      {"vector_norm", norm(-kInf), norm_of(-kInf), DType::f32, true},
      {"vector_norm", norm(0), norm_of(0), DType::f32, false},
  };
  const std::vector<std::string> ord_tags = {"",     "_o2",   "_o1",    "_o3", "_o0.5",
                                             "_o-2", "_oinf", "_o-inf", "_o0"};
  for (size_t k = 0; k < specs.size(); ++k) {
    const RedSpec& s = specs[k];
    const std::string& t = ord_tags[k];
    const Dist dist = s.op == "logsumexp" ? Dist::large : Dist::nonzero;
    for (DType dt : {DType::f32, DType::f64}) {
      add_red(out, s, In{{3, 4}, dist}, dt, {1}, false, t);
      add_red(out, s, In{{2, 3, 4}, dist}, dt, {0, 2}, true, t);
      add_red(out, s, In{{2, 3, 4}, dist}, dt, {}, false, t);
    }
    add_red(out, s, In{{4, 5}, dist, Layout::transposed}, DType::f32, {0}, false, t);
    add_red(out, s, In{{3, 5}, dist, Layout::strided}, DType::f32, {-1}, true, t);
    add_red(out, s, In{{300, 200}, N}, DType::f32, {1}, false, t);
    // bf16/f16 (issue 16): accumulated in f32, the result in the input's dtype (torch).
    for (DType h : {DType::bf16, DType::f16}) {
      add_red(out, s, In{{3, 4}, dist}, h, {1}, false, t);
      add_red(out, s, In{{2, 3, 4}, dist, Layout::transposed}, h, {}, false, t);
      add_red(out, s, In{{300, 200}, N}, h, {1}, false, t);
    }
  }
  // logsumexp: rows of -inf give -inf; integers compute in f32; a method spelling.
  add_red(out, specs[0], In{{6, 4}, Dist::with_ninf}, DType::f32, {1}, false);
  add_red(out, specs[0], In{{3, 4}, Dist::small_int}, DType::i64, {1}, false);
  {
    RedSpec m = specs[0];
    m.op = "logsumexp_method";
    m.fn = [](const Tensor& x, const DimList& d, bool k) { return x.logsumexp(d, k); };
    add_red(out, m, In{{3, 4}}, DType::f64, {0}, true);
    for (DType h : {DType::bf16, DType::f16}) add_red(out, m, In{{3, 4}}, h, {0}, true);
  }
  for (DType h : {DType::bf16, DType::f16})  // -inf rows in bf16/f16 too (issue 16)
    add_red(out, specs[0], In{{6, 4}, Dist::with_ninf}, h, {1}, false);
  // vector_norm's gradient at a zero norm is 0 (ord 2): a row of zeros. Its own family
  // keeps it out of the double-backward check: the norm has a kink at 0, where the second
  // derivative does not exist (finite differences of x / |x| blow up).
  for (DType dt : {DType::f64, DType::bf16, DType::f16}) {
    OpCase c = base_case("reduce_at_kink", "vector_norm", "3x4_zero_row_d1", dt);
    c.make_inputs = [](Device device, DType dtype) {
      Tensor row_mask = from_vector(std::vector<double>{1, 0, 1}, {3, 1}, device).to(dtype);
      return Inputs{randn({3, 4}, {.dtype = dtype, .device = device}) * row_mask};
    };
    c.run = [](const Inputs& x) { return Outputs{linalg::vector_norm(x[0], 2, {1})}; };
    c.reference = [](const Refs& x) { return Refs{ref::reduce(x[0], {1}, false, norm_of(2))}; };
    c.out_dtypes = {dt};
    c.tol = tolerance(dt, TolKind::transcendental);
    set_io_cost(c, 2);
    if (dt == DType::f64) c.grad_inputs = {0};
    out.push_back(std::move(c));
  }
  // any/all: any dtype in, bool out; NaN is nonzero; empty: any false, all true.
  auto any_of = [](const std::vector<double>& v) {
    for (double a : v)
      if (a != 0 || std::isnan(a)) return 1.0;
    return 0.0;
  };
  auto all_of = [](const std::vector<double>& v) {
    for (double a : v)
      if (a == 0) return 0.0;
    return 1.0;
  };
  std::vector<RedSpec> logic = {
      {"any", [](const Tensor& x, const DimList& d, bool k) { return any(x, d, k); }, any_of,
       DType::b8, false},
      {"all", [](const Tensor& x, const DimList& d, bool k) { return all(x, d, k); }, all_of,
       DType::b8, false},
      {"any_method", [](const Tensor& x, const DimList& d, bool k) { return x.any(d, k); }, any_of,
       DType::b8, false},
      {"all_method", [](const Tensor& x, const DimList& d, bool k) { return x.all(d, k); }, all_of,
       DType::b8, false},
  };
  for (const RedSpec& s : logic) {
    add_red(out, s, In{{4, 6}, Dist::boolean}, DType::b8, {1}, false);
    if (s.op.find("_method") != std::string::npos) continue;
    add_red(out, s, In{{4, 6}, Dist::boolean}, DType::b8, {}, false);
    add_red(out, s, In{{3, 4, 2}, Dist::small_int}, DType::i64, {0, 2}, true);
    add_red(out, s, In{{5, 3}, Dist::small_int}, DType::f32, {0}, false);
    add_red(out, s, In{{4, 6}, Dist::with_nan}, DType::f32, {1}, false);
    add_red(out, s, In{{5, 3}, Dist::small_int, Layout::transposed}, DType::f64, {1}, false);
    add_red(out, s, In{{0, 3}}, DType::f32, {0}, false);
    add_red(out, s, In{{1000, 40}, Dist::small_int}, DType::f32, {1}, false);
    // bf16/f16 (issue 16): zeros among the small integers; NaN is nonzero.
    for (DType h : {DType::bf16, DType::f16}) {
      add_red(out, s, In{{5, 3}, Dist::small_int, Layout::transposed}, h, {0}, false);
      add_red(out, s, In{{4, 6}, Dist::with_nan}, h, {}, false);
    }
  }
}

// ---- one_hot ---------------------------------------------------------------------------------

void add_one_hot(std::vector<OpCase>& out) {
  struct OH {
    Shape shape;
    int64_t high, classes;
  };
  for (const OH& s : std::vector<OH>{{{5}, 4, -1}, {{5}, 4, 6}, {{2, 3}, 7, -1}, {{}, 3, 3}}) {
    In in{s.shape, Dist::index};
    in.index_high = s.high;
    OpCase c =
        base_case("index", "one_hot", in_tag(in) + "_c" + std::to_string(s.classes), DType::i64);
    c.make_inputs = input_maker({in});
    const int64_t classes = s.classes;
    c.run = [classes](const Inputs& x) { return Outputs{nn::functional::one_hot(x[0], classes)}; };
    c.reference = [classes](const Refs& x) {
      int64_t n = classes;
      if (n < 0) {
        n = 0;
        for (double v : x[0].data) n = std::max(n, static_cast<int64_t>(v) + 1);
      }
      Shape shape = x[0].shape;
      shape.push_back(n);
      ref::RefTensor r = ref::filled(shape, 0.0);
      for (int64_t i = 0; i < x[0].numel(); ++i)
        r.data[static_cast<size_t>(i * n +
                                   static_cast<int64_t>(x[0].data[static_cast<size_t>(i)]))] = 1.0;
      return Refs{r};
    };
    c.out_dtypes = {DType::i64};
    set_io_cost(c, 0);
    out.push_back(std::move(c));
  }
}

// ---- masked_select ---------------------------------------------------------------------------

void add_masked_select(std::vector<OpCase>& out) {
  struct MS {
    In x, mask;
    bool method = false;
  };
  const In b34{{3, 4}, Dist::boolean};
  std::vector<MS> specs = {
      {In{{3, 4}}, b34},
      {In{{3, 4}}, In{{4}, Dist::boolean}},  // the mask broadcasts
      {In{{4}}, b34},                        // x broadcasts: its gradient sums
      {In{{3, 4}, Dist::normal, Layout::transposed}, b34, true},
      {In{{0, 4}}, In{{4}, Dist::boolean}},  // nothing selected
      {In{{200, 70}}, In{{200, 70}, Dist::boolean}},
  };
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {  // halves: issue 16
    for (const MS& s : specs) {
      OpCase c = base_case("index", "masked_select",
                           ins_tag({s.x, s.mask}) + (s.method ? "_method" : ""), dt);
      c.make_inputs = input_maker({s.x, s.mask});
      const bool method = s.method;
      c.run = [method](const Inputs& x) {
        return Outputs{method ? x[0].masked_select(x[1]) : masked_select(x[0], x[1])};
      };
      c.reference = [](const Refs& x) {
        Shape shape = ref::broadcast(x[0].shape, x[1].shape);
        std::vector<double> v;
        for (int64_t i = 0; i < ref::numel_of(shape); ++i) {
          ref::Index idx = ref::unravel(i, shape);
          if (ref::bget(x[1], idx) != 0) v.push_back(ref::bget(x[0], idx));
        }
        auto n = static_cast<int64_t>(v.size());
        return Refs{ref::from_values({n}, v)};
      };
      c.out_dtypes = {dt};
      c.tol = tolerance(dt, TolKind::exact);
      set_io_cost(c, 0);
      const int64_t n = ref::numel_of(s.x.shape);
      if (n > 0 && n <= 100 && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
  }
}

// ---- index_put -------------------------------------------------------------------------------

// Integers in [-size, size): negative ones count from the end, repeats likely.
In signed_index(Shape shape, int64_t size) {
  In in{std::move(shape), Dist::index};
  in.index_high = 2 * size;  // shifted by -size in make_inputs below
  return in;
}

struct IP {
  std::string tag;
  Shape x;
  std::vector<std::pair<In, int64_t>> indices;  // (spec, the indexed dim's size; 0: bool)
  Shape values;
  bool accumulate;
  bool in_place = false;
};

void add_index_put(std::vector<OpCase>& out) {
  const In mask34{{3, 4}, Dist::boolean};
  std::vector<IP> specs = {
      {"rows", {5, 4}, {{signed_index({3}, 5), 5}}, {3, 4}, false},
      {"rows_acc", {5, 4}, {{signed_index({6}, 5), 5}}, {6, 4}, true},
      {"rows_bcast", {5, 4}, {{signed_index({3}, 5), 5}}, {4}, false},
      {"two_bcast",
       {4, 5, 2},
       {{signed_index({2, 1}, 4), 4}, {signed_index({3}, 5), 5}},
       {2, 3, 2},
       false},
      {"two_acc", {4, 5}, {{signed_index({7}, 4), 4}, {signed_index({7}, 5), 5}}, {7}, true},
      {"mask", {3, 4}, {{mask34, 0}}, {1}, false},
      {"mask_rest", {3, 4, 2}, {{mask34, 0}}, {2}, true},
      {"in_place", {5, 4}, {{signed_index({3}, 5), 5}}, {3, 4}, false, true},
      {"in_place_acc", {5, 4}, {{signed_index({8}, 5), 5}}, {8, 4}, true, true},
      {"big_acc", {500, 64}, {{signed_index({2000}, 500), 500}}, {2000, 64}, true},
  };
  for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16}) {  // halves: issue 16
    for (const IP& s : specs) {
      if (is_half(dt) && s.tag == "big_acc") continue;  // rounds after every add
      std::vector<In> ins = {In{s.x}};
      for (const auto& [in, size] : s.indices) ins.push_back(in);
      ins.push_back(In{s.values});
      OpCase c = base_case("index", s.in_place ? "index_put_" : "index_put", s.tag, dt);
      const size_t ni = s.indices.size();
      std::vector<int64_t> sizes;
      for (const auto& [in, size] : s.indices) sizes.push_back(size);
      auto maker = input_maker(ins);
      c.make_inputs = [maker, sizes](Device device, DType dtype) {
        Inputs v = maker(device, dtype);
        for (size_t j = 0; j < sizes.size(); ++j)
          if (sizes[j] > 0) v[j + 1] = v[j + 1] - sizes[j];
        return v;
      };
      const bool acc = s.accumulate, in_place = s.in_place;
      c.run = [ni, acc, in_place](const Inputs& x) {
        std::vector<Tensor> idx(x.begin() + 1, x.begin() + 1 + static_cast<int64_t>(ni));
        if (!in_place) return Outputs{index_put(x[0], idx, x[ni + 1], acc)};
        Tensor y = x[0].clone();
        y.index_put_(idx, x[ni + 1], acc);
        return Outputs{y};
      };
      // The reference walks the broadcast index shape in order: later writes win.
      c.reference = [ni, acc, sizes](const Refs& x) {
        ref::RefTensor r = x[0];
        // One coordinate tensor per indexed dim: bool masks give the coordinates of their
        // true elements (row-major), integers wrap.
        std::vector<ref::RefTensor> coords;
        for (size_t j = 0; j < ni; ++j) {
          const ref::RefTensor& t = x[j + 1];
          if (sizes[j] == 0) {
            std::vector<std::vector<double>> cs(t.shape.size());
            for (int64_t f = 0; f < t.numel(); ++f) {
              if (t.data[static_cast<size_t>(f)] == 0) continue;
              ref::Index at = ref::unravel(f, t.shape);
              for (size_t d = 0; d < at.size(); ++d) cs[d].push_back(static_cast<double>(at[d]));
            }
            for (auto& v : cs) {
              auto n = static_cast<int64_t>(v.size());
              coords.push_back(ref::from_values({n}, v));
            }
          } else {
            const int64_t size = r.shape[coords.size()];
            coords.push_back(ref::map(t, [size](double v) { return v < 0 ? v + size : v; }));
          }
        }
        Shape b = coords[0].shape;
        for (const auto& t : coords) b = ref::broadcast(b, t.shape);
        const size_t k = coords.size();
        const Shape rest(r.shape.begin() + static_cast<int64_t>(k), r.shape.end());
        for (int64_t i = 0; i < ref::numel_of(b); ++i) {
          const ref::Index bi = ref::unravel(i, b);
          ref::Index target;
          for (const auto& t : coords) target.push_back(static_cast<int64_t>(ref::bget(t, bi)));
          for (int64_t q = 0; q < ref::numel_of(rest); ++q) {
            const ref::Index ri = ref::unravel(q, rest);
            ref::Index full = target, vi = bi;
            full.insert(full.end(), ri.begin(), ri.end());
            vi.insert(vi.end(), ri.begin(), ri.end());
            const double v = ref::bget(x[ni + 1], vi);
            r[full] = acc ? r[full] + v : v;
          }
        }
        return Refs{r};
      };
      c.out_dtypes = {dt};
      c.tol = tolerance(dt, TolKind::reduction);
      set_io_cost(c, acc ? 1 : 0);
      if (s.tag != "big_acc" && !is_half(dt)) c.grad_inputs = {0, static_cast<int>(ni + 1)};
      out.push_back(std::move(c));
    }
  }
}

}  // namespace

void add_select_cases(std::vector<OpCase>& out) {
  add_reductions(out);
  add_one_hot(out);
  add_masked_select(out);
  add_index_put(out);
}

}  // namespace ember::cases
