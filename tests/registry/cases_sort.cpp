// Sorting and sampling (issue 15): sort, argsort and topk along each dim, with ties
// (small integers) and NaNs, every layout, long rows (the sim's rank kernel past 2048) and
// many rows (the cpu's threads); multinomial with and without replacement against a
// plain-loop inverse CDF on the same Philox uniforms. Napkin math: sort N log2 N compares
// per row (counted as flops), bytes the input read and values + indices written.
#include <cmath>

#include "registry/builders.h"
#include "tensor/philox.h"

namespace ember::cases {

namespace {

// Whether a (at index ia) comes before b (at ib): by value, NaN the largest, ties by index.
bool ref_before(double a, int64_t ia, double b, int64_t ib, bool descending) {
  const bool an = std::isnan(a), bn = std::isnan(b);
  if (an || bn) return an && bn ? ia < ib : (descending ? an : bn);
  if (a != b) return descending ? a > b : a < b;
  return ia < ib;
}

// {values, indices} of the first k of each fiber of x along dim in the stable order: each
// element's rank is the count of elements before it (no library sort involved).
Refs sort_ref(const ref::RefTensor& x, int64_t dim, bool descending, int64_t k = -1) {
  if (x.dim() == 0) return Refs{x, ref::filled({}, 0.0)};
  const int64_t d = ref::wrap(dim, x.dim()), n = x.shape[static_cast<size_t>(d)];
  if (k < 0) k = n;
  Shape out_shape = x.shape;
  out_shape[static_cast<size_t>(d)] = k;
  ref::RefTensor values = ref::filled(out_shape, 0.0), indices = ref::filled(out_shape, 0.0);
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    ref::Index idx = ref::unravel(flat, x.shape);
    const int64_t i = idx[static_cast<size_t>(d)];
    const double v = x[idx];
    int64_t rank = 0;
    ref::Index other = idx;
    for (int64_t j = 0; j < n; ++j) {
      other[static_cast<size_t>(d)] = j;
      if (j != i && ref_before(x[other], j, v, i, descending)) ++rank;
    }
    if (rank >= k) continue;
    ref::Index at = idx;
    at[static_cast<size_t>(d)] = rank;
    values[at] = v;
    indices[at] = static_cast<double>(i);
  }
  return Refs{values, indices};
}

double sort_flops(const Tensor& x) {
  const double n = static_cast<double>(x.dim() == 0 ? 1 : x.sizes().back());
  return numel_d(x) * std::max(1.0, std::log2(n));
}

enum class Kind { sort, argsort, topk, sort_method };

OpCase sort_case(Kind kind, const In& in, DType dt, int64_t dim, bool descending, int64_t k = 0) {
  static const char* names[] = {"sort", "argsort", "topk", "sort"};
  OpCase c;
  c.op = names[static_cast<int>(kind)];
  c.family = "sort";
  c.dtype = dt;
  c.name = c.op + std::string(kind == Kind::sort_method ? "_method" : "") + "/" + in_tag(in) +
           "_d" + std::to_string(dim) + (descending ? "_desc" : "") +
           (kind == Kind::topk ? "_k" + std::to_string(k) : "") + "/" + dtype_tag(dt);
  c.make_inputs = input_maker({in});
  c.run = [kind, dim, descending, k](const Inputs& x) {
    switch (kind) {
      case Kind::sort: {
        auto [v, i] = sort(x[0], dim, descending, true);
        return Outputs{v, i};
      }
      case Kind::sort_method: {
        auto [v, i] = x[0].sort(dim, descending);
        return Outputs{v, i};
      }
      case Kind::argsort: return Outputs{argsort(x[0], dim, descending, true)};
      case Kind::topk: break;
    }
    auto [v, i] = x[0].topk(k, dim, descending);  // descending stands for largest
    return Outputs{v, i};
  };
  c.reference = [kind, dim, descending, k](const Refs& x) {
    Refs r = sort_ref(x[0], dim, descending, kind == Kind::topk ? k : -1);
    if (kind == Kind::argsort) return Refs{r[1]};
    return r;
  };
  const DType out_dt = dt == DType::b8 ? DType::b8 : dt;
  c.out_dtypes = kind == Kind::argsort ? std::vector<DType>{DType::i64}
                                       : std::vector<DType>{out_dt, DType::i64};
  c.tol = tolerance(out_dt, TolKind::exact);
  c.flops = [](const Inputs& x) { return sort_flops(x[0]); };
  c.bytes = [](const Inputs& x) { return bytes_of(x[0]) * 2 + numel_d(x[0]) * 8; };
  // Values are a permutation: differentiable where no ties or NaNs make the order flip.
  // (An expanded input repeats its values: ties.)
  const int64_t numel = ref::numel_of(in.shape);
  const bool smooth = in.dist == Dist::normal && in.layout != Layout::expanded &&
                      dt == DType::f64 && kind != Kind::argsort && numel > 0 && numel <= 200;
  if (smooth) c.grad_inputs = {0};
  return c;
}

// The inverse CDF of each row of weights on philox::uniform_f64(draw(seed, 0, r S + s)),
// a linear walk of the running f64 sum; without replacement over the weights not drawn yet.
ref::RefTensor multinomial_ref(const ref::RefTensor& p, int64_t S, bool replacement,
                               uint64_t seed) {
  const int64_t C = p.shape.back(), R = p.dim() == 2 ? p.shape[0] : 1;
  ref::RefTensor out = ref::filled(p.dim() == 2 ? Shape{R, S} : Shape{S}, 0.0);
  for (int64_t r = 0; r < R; ++r) {
    std::vector<double> w(p.data.begin() + r * C, p.data.begin() + (r + 1) * C);
    for (int64_t s = 0; s < S; ++s) {
      const double u = philox::uniform_f64(philox::draw(seed, 0, static_cast<uint64_t>(r * S + s)));
      double total = 0.0;
      for (double v : w) total += v;
      double acc = 0.0;
      int64_t pick = -1;
      for (int64_t c = 0; c < C; ++c) {
        if (w[static_cast<size_t>(c)] <= 0.0) continue;
        acc += w[static_cast<size_t>(c)];
        pick = c;
        if (acc > u * total) break;
      }
      out.data[static_cast<size_t>(r * S + s)] = static_cast<double>(pick);
      if (!replacement) w[static_cast<size_t>(pick)] = 0.0;
    }
  }
  return out;
}

void add_multinomial(std::vector<OpCase>& out, const Shape& shape, int64_t S, bool replacement,
                     DType dt) {
  constexpr uint64_t kSeed = 2024;
  OpCase c;
  c.op = "multinomial";
  c.family = "multinomial";
  c.dtype = dt;
  c.name = "multinomial/" + shape_tag(shape) + "_s" + std::to_string(S) +
           (replacement ? "_repl" : "") + "/" + dtype_tag(dt);
  // Positive weights with about a third exact zeros (never drawn), the first column kept.
  c.make_inputs = [shape](Device device, DType dtype) {
    Tensor w = rand(shape, {.dtype = dtype, .device = device});
    Tensor keep = rand(shape, {.dtype = dtype, .device = device}) > 0.33;
    Tensor first = zeros(shape, {.dtype = DType::b8, .device = device});
    first.narrow(-1, 0, 1).fill_(true);
    return Inputs{where(logical_or(keep, first), w + 0.01, 0.0)};
  };
  c.run = [S, replacement](const Inputs& x) {
    manual_seed(kSeed);
    return Outputs{multinomial(x[0], S, replacement)};
  };
  c.reference = [S, replacement](const Refs& x) {
    return Refs{multinomial_ref(x[0], S, replacement, kSeed)};
  };
  c.out_dtypes = {DType::i64};
  c.tol = tolerance(DType::i64, TolKind::exact);
  c.flops = [S](const Inputs& x) { return numel_d(x[0]) + static_cast<double>(S); };
  c.bytes = [S](const Inputs& x) { return bytes_of(x[0]) + 8.0 * static_cast<double>(S); };
  out.push_back(std::move(c));
}

}  // namespace

void add_sort_cases(std::vector<OpCase>& out) {
  const Dist N = Dist::normal, T = Dist::small_int, Q = Dist::with_nan;
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool desc : {false, true}) {
      out.push_back(sort_case(Kind::sort, In{{3, 7}}, dt, -1, desc));
      out.push_back(sort_case(Kind::sort, In{{4, 5, 3}}, dt, 1, desc));
      out.push_back(sort_case(Kind::sort, In{{4, 5, 3}}, dt, 0, desc));
      out.push_back(sort_case(Kind::sort, In{{6, 9}, T}, dt, 1, desc));    // ties
      out.push_back(sort_case(Kind::sort, In{{5, 12}, Q}, dt, -1, desc));  // NaNs
      out.push_back(sort_case(Kind::sort, In{{5, 12}, T, Layout::transposed}, dt, 0, desc));
      out.push_back(sort_case(Kind::argsort, In{{6, 9}, T}, dt, 1, desc));
      out.push_back(sort_case(Kind::argsort, In{{5, 12}, Q}, dt, 0, desc));
      out.push_back(sort_case(Kind::topk, In{{4, 10}}, dt, -1, desc, 3));
      out.push_back(sort_case(Kind::topk, In{{4, 10}, T}, dt, -1, desc, 4));  // ties at the cut
      out.push_back(sort_case(Kind::topk, In{{7, 6}, Q}, dt, 0, desc, 5));
      out.push_back(sort_case(Kind::topk, In{{3, 8}, N, Layout::strided}, dt, 1, desc, 8));
    }
    out.push_back(sort_case(Kind::sort_method, In{{9}}, dt, 0, false));
    out.push_back(sort_case(Kind::sort, In{{}}, dt, 0, false));
    out.push_back(sort_case(Kind::sort, In{{0, 4}}, dt, 1, false));
    out.push_back(sort_case(Kind::topk, In{{5}, T}, dt, 0, true, 0));
    out.push_back(sort_case(Kind::sort, In{{3, 4}, N, Layout::expanded}, dt, 0, true));
    // Rows past the bitonic limit (the rank kernel) and many rows (the cpu's threads).
    out.push_back(sort_case(Kind::sort, In{{2, 2500}, T}, dt, -1, false));
    out.push_back(sort_case(Kind::sort, In{{2, 2049}, Q}, dt, -1, true));
    out.push_back(sort_case(Kind::sort, In{{400, 100}, T}, dt, -1, true));
    out.push_back(sort_case(Kind::topk, In{{3, 1000}}, dt, -1, true, 50));
  }
  // bf16/f16 (issue 16): compared as floats, NaN the largest as torch; rounded normals tie
  // now and then, and the stable order must keep them by index.
  for (DType dt : {DType::bf16, DType::f16}) {
    for (bool desc : {false, true}) {
      out.push_back(sort_case(Kind::sort, In{{3, 7}}, dt, -1, desc));
      out.push_back(sort_case(Kind::sort, In{{4, 5, 3}}, dt, 0, desc));
      out.push_back(sort_case(Kind::sort, In{{5, 12}, Q}, dt, -1, desc));
      out.push_back(sort_case(Kind::argsort, In{{6, 9}, T}, dt, 1, desc));
      out.push_back(sort_case(Kind::topk, In{{4, 10}, T}, dt, -1, desc, 4));
      out.push_back(sort_case(Kind::topk, In{{7, 6}, Q}, dt, 0, desc, 5));
    }
    out.push_back(sort_case(Kind::sort_method, In{{9}}, dt, 0, false));
    out.push_back(sort_case(Kind::sort, In{{5, 12}, T, Layout::transposed}, dt, 0, true));
    out.push_back(sort_case(Kind::sort, In{{2, 2500}, T}, dt, -1, false));
    out.push_back(sort_case(Kind::argsort, In{{2, 2049}, Q}, dt, -1, true));
    out.push_back(sort_case(Kind::topk, In{{3, 1000}}, dt, -1, true, 50));
  }
  // Integers and bool (bool sorts as 0 < 1).
  out.push_back(sort_case(Kind::sort, In{{4, 11}}, DType::i64, -1, false));
  out.push_back(sort_case(Kind::topk, In{{4, 11}}, DType::i64, 1, true, 3));
  out.push_back(sort_case(Kind::argsort, In{{5, 9}, Dist::wide}, DType::i64, 0, true));
  out.push_back(sort_case(Kind::sort, In{{4, 9}, Dist::boolean}, DType::b8, -1, true));

  for (DType dt : {DType::f32, DType::f64}) {
    add_multinomial(out, {7}, 20, true, dt);
    add_multinomial(out, {7}, 4, false, dt);
    add_multinomial(out, {5, 30}, 64, true, dt);
    add_multinomial(out, {5, 30}, 12, false, dt);
    add_multinomial(out, {300, 9}, 3, true, dt);
  }
  // bf16/f16 weights (issue 16): the draw walks their values summed in f64, as for f32.
  for (DType dt : {DType::bf16, DType::f16}) {
    add_multinomial(out, {7}, 20, true, dt);
    add_multinomial(out, {5, 30}, 12, false, dt);
  }
}

}  // namespace ember::cases
