// Reductions: sum/mean/prod/var/std/amax/amin over one, several and all dims, with and
// without keepdim; max/min with indices; argmax/argmin. Napkin math: one flop per input
// element (three for var/std); bytes are the input read once plus the output written.
#include <cmath>

#include "registry/builders.h"

namespace ember::cases {

namespace {
OpCase make_case(const std::string& op, const std::string& tag, DType dt, std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = "reduce";
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  return c;
}

std::string dims_tag(const DimList& dims, bool keepdim) {
  std::string t = "d";
  if (dims.empty()) t += "all";
  for (size_t i = 0; i < dims.size(); ++i) t += (i ? "," : "") + std::to_string(dims[i]);
  return t + (keepdim ? "_keep" : "");
}

// Output elements of reducing `shape` over `dims` (empty = all).
double reduced_numel(const Shape& shape, const DimList& dims) {
  if (dims.empty() || shape.empty()) return 1.0;
  double n = static_cast<double>(ref::numel_of(shape));
  for (int64_t d : dims) {
    int64_t s = shape[static_cast<size_t>(ref::wrap(d, static_cast<int64_t>(shape.size())))];
    n = s == 0 ? 0.0 : n / static_cast<double>(s);
  }
  return n;
}

void set_reduce_cost(OpCase& c, const DimList& dims, double flops_per_elem, DType out_dt,
                     int n_out = 1) {
  c.flops = [flops_per_elem](const Inputs& in) { return flops_per_elem * numel_d(in[0]); };
  c.bytes = [dims, out_dt, n_out](const Inputs& in) {
    double out = reduced_numel(in[0].sizes(), dims);
    double b = bytes_of(in[0]) + out * static_cast<double>(element_size(out_dt));
    if (n_out == 2) b += out * 8.0;  // i64 indices
    return b;
  };
}

struct ReduceSpec {
  std::string op;
  std::function<Tensor(const Tensor&, const DimList&, bool)> fn;
  ref::Reducer ref;
  double flops = 1;
  bool int_ok = true;  // accepts i64 (sum, prod, amax, amin)
  Dist dist = Dist::normal;
};

struct Config {
  In in;
  DimList dims;
  bool keepdim;
};

void add_reduce(std::vector<OpCase>& out, const ReduceSpec& s, DType dt, Config cfg, DType out_dt) {
  cfg.in.dist = s.dist;
  std::string tag = in_tag(cfg.in) + "_" + dims_tag(cfg.dims, cfg.keepdim);
  if (s.dist == Dist::with_nan) tag += "_nan";
  OpCase c = make_case(s.op, tag, dt, {cfg.in});
  auto fn = s.fn;
  auto rf = s.ref;
  DimList dims = cfg.dims;
  bool keep = cfg.keepdim;
  c.run = [fn, dims, keep](const Inputs& x) { return Outputs{fn(x[0], dims, keep)}; };
  c.reference = [rf, dims, keep](const Refs& x) { return Refs{ref::reduce(x[0], dims, keep, rf)}; };
  c.out_dtypes = {out_dt};
  c.tol = tolerance(out_dt, TolKind::reduction);
  set_reduce_cost(c, dims, s.flops, out_dt);
  if (is_floating(dt) && !is_half(dt) && !cfg.in.shape.empty() && cfg.in.dist != Dist::with_nan)
    c.grad_inputs = {0};
  out.push_back(std::move(c));
}

std::vector<ReduceSpec> reduce_specs() {
  return {
      {"sum", [](const Tensor& x, const DimList& d, bool k) { return sum(x, d, k); }, ref::sum_of},
      {"mean", [](const Tensor& x, const DimList& d, bool k) { return mean(x, d, k); },
       ref::mean_of, 1, false},
      {"prod", [](const Tensor& x, const DimList& d, bool k) { return prod(x, d, k); },
       ref::prod_of, 1, true, Dist::nonzero},
      {"var", [](const Tensor& x, const DimList& d, bool k) { return var(x, d, 1, k); },
       [](const std::vector<double>& v) { return ref::var_of(v, 1); }, 3, false},
      {"var_c0", [](const Tensor& x, const DimList& d, bool k) { return var(x, d, 0, k); },
       [](const std::vector<double>& v) { return ref::var_of(v, 0); }, 3, false},
      {"std", [](const Tensor& x, const DimList& d, bool k) { return ember::std(x, d, 1, k); },
       [](const std::vector<double>& v) { return std::sqrt(ref::var_of(v, 1)); }, 3, false},
      {"std_c0", [](const Tensor& x, const DimList& d, bool k) { return ember::std(x, d, 0, k); },
       [](const std::vector<double>& v) { return std::sqrt(ref::var_of(v, 0)); }, 3, false},
      {"amax", [](const Tensor& x, const DimList& d, bool k) { return amax(x, d, k); },
       ref::max_of},
      {"amin", [](const Tensor& x, const DimList& d, bool k) { return amin(x, d, k); },
       ref::min_of},
      // Method spellings.
      {"sum_method", [](const Tensor& x, const DimList& d, bool k) { return x.sum(d, k); },
       ref::sum_of},
      {"mean_method", [](const Tensor& x, const DimList& d, bool k) { return x.mean(d, k); },
       ref::mean_of, 1, false},
      {"var_method", [](const Tensor& x, const DimList& d, bool k) { return x.var(d, 1, k); },
       [](const std::vector<double>& v) { return ref::var_of(v, 1); }, 3, false},
      {"std_method", [](const Tensor& x, const DimList& d, bool k) { return x.std(d, 1, k); },
       [](const std::vector<double>& v) { return std::sqrt(ref::var_of(v, 1)); }, 3, false},
  };
}

void add_reductions(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  std::vector<Config> configs = {
      {In{{2, 3, 4}}, {1}, false},
      {In{{2, 3, 4}}, {-1}, true},
      {In{{2, 3, 4}}, {0, 2}, false},
      {In{{2, 3, 4}}, {}, false},
      {In{{2, 3, 4}}, {}, true},
      {In{{4, 3, 5}, N, Layout::transposed}, {1}, false},
      {In{{5, 6}, N, Layout::strided}, {0}, true},
      {In{{}}, {}, false},
      {In{{33}}, {0}, false},
      {In{{3, 4}, N, Layout::expanded}, {0}, false},
      {In{{2, 3, 4, 5}}, {3, 1}, false},
  };
  for (const ReduceSpec& s : reduce_specs()) {
    bool method = s.op.find("_method") != std::string::npos;
    for (size_t k = 0; k < configs.size(); ++k) {
      if (method && k != 1 && k != 5) continue;
      add_reduce(out, s, DType::f32, configs[k], DType::f32);
      if (k == 0 || k == 2 || k == 3 || k == 5 || k == 10)
        add_reduce(out, s, DType::f64, configs[k], DType::f64);
      if (k == 0 || k == 3 || k == 5)  // bf16/f16, accumulated in f32 (issue 16)
        for (DType h : {DType::bf16, DType::f16}) add_reduce(out, s, h, configs[k], h);
      if (!s.int_ok || method) continue;
      // Products of i64 stay in range only over a few elements (configs 0 and 5).
      if (k == 0 || k == 5 || (s.op != "prod" && (k == 3 || k == 6)))
        add_reduce(out, s, DType::i64, configs[k], DType::i64);
    }
  }
  auto specs = reduce_specs();
  for (const ReduceSpec& s : specs) {
    if (s.op.find("_method") != std::string::npos) continue;
    // NaN propagates through every reduction (amax/amin included).
    ReduceSpec nan_spec = s;
    nan_spec.dist = Dist::with_nan;
    add_reduce(out, nan_spec, DType::f32, {In{{4, 6}}, {1}, false}, DType::f32);
    if (s.op == "prod") continue;  // products of hundreds of values over/underflow
    // Big enough for threads and vector loops.
    add_reduce(out, s, DType::f32, {In{{1000, 300}}, {0}, false}, DType::f32);
    add_reduce(out, s, DType::f32, {In{{300, 1000}}, {1}, true}, DType::f32);
    add_reduce(out, s, DType::f64, {In{{100003}}, {}, false}, DType::f64);
  }
  // A long f32 sum needs a better than naive accumulation to stay within 1e-5.
  {
    ReduceSpec s = specs[0];
    s.dist = Dist::positive;
    add_reduce(out, s, DType::f32, {In{{200003}}, {}, false}, DType::f32);
    ReduceSpec m = specs[1];
    m.dist = Dist::positive;
    add_reduce(out, m, DType::f32, {In{{100000, 3}}, {0}, false}, DType::f32);
  }
  // Sums and means over the leading dims of a contiguous input run down its columns in
  // place (issue 19): several row blocks of 256 and column chunks of 512, both with a rest.
  for (size_t i : {0, 1})
    add_reduce(out, specs[i], DType::f32, {In{{2, 150, 600}}, {0, 1}, true}, DType::f32);
  add_reduce(out, specs[0], DType::f64, {In{{300, 5, 2}}, {0}, false}, DType::f64);
  add_reduce(out, specs[0], DType::i64, {In{{300, 7}}, {0}, false}, DType::i64);
  // var/std over a single element with Bessel's correction is NaN (0/0), as in PyTorch.
  add_reduce(out, specs[3], DType::f32, {In{{3, 1}}, {1}, false}, DType::f32);
  out.back().grad_inputs.clear();  // NaN has no gradient to check
  add_reduce(out, specs[5], DType::f64, {In{{}}, {}, false}, DType::f64);
  // Empty inputs: sum is 0, prod is 1, mean is NaN (as PyTorch).
  add_reduce(out, specs[0], DType::f32, {In{{0, 3}}, {0}, false}, DType::f32);
  add_reduce(out, specs[0], DType::f32, {In{{0, 3}}, {}, false}, DType::f32);
  add_reduce(out, specs[2], DType::f32, {In{{0, 3}}, {0}, true}, DType::f32);
  add_reduce(out, specs[1], DType::f32, {In{{3, 0}}, {1}, false}, DType::f32);
  add_reduce(out, specs[0], DType::f32, {In{{3, 0}}, {0}, false}, DType::f32);
  // Bool sums count (i64), as in PyTorch.
  {
    ReduceSpec s = specs[0];
    s.dist = Dist::boolean;
    add_reduce(out, s, DType::b8, {In{{3, 4}}, {1}, false}, DType::i64);
    add_reduce(out, s, DType::b8, {In{{3, 4}}, {}, false}, DType::i64);
  }
  // prod(int64_t dim) method; bf16/f16 multiply in f32 and round once (issue 16).
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    In in{{3, 4}, Dist::nonzero};
    OpCase c = make_case("prod_method", in_tag(in) + "_d1", dt, {in});
    c.run = [](const Inputs& x) { return Outputs{x[0].prod(1)}; };
    c.reference = [](const Refs& x) { return Refs{ref::reduce(x[0], {1}, false, ref::prod_of)}; };
    c.out_dtypes = {dt};
    c.tol = tolerance(dt, TolKind::reduction);
    set_reduce_cost(c, {1}, 1, dt);
    if (!is_half(dt)) c.grad_inputs = {0};
    out.push_back(std::move(c));
  }
}

// ---- max/min with indices, argmax/argmin -----------------------------------------------------

struct ArgConfig {
  In in;
  int64_t dim;
  bool keepdim;
};

void add_arg_reductions(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  std::vector<ArgConfig> configs = {
      {In{{2, 3, 4}}, 0, false},
      {In{{2, 3, 4}}, 1, true},
      {In{{2, 3, 4}}, -1, false},
      {In{{4, 3, 5}, N, Layout::transposed}, 1, false},
      {In{{7}}, 0, false},
      {In{{}}, 0, false},
      {In{{5, 6}, N, Layout::strided}, 1, true},
  };
  for (bool is_max : {true, false})
    for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
      for (size_t k = 0; k < configs.size(); ++k) {
        if (dt == DType::f64 && k != 1 && k != 3) continue;
        // bf16/f16 (issue 16): rounded normals tie now and then; the first extreme wins.
        if (is_half(dt) && k != 1 && k != 3 && k != 6) continue;
        ArgConfig cfg = configs[k];
        // Integers in a small range tie often: the first extreme must win.
        cfg.in.dist = dt == DType::i64 ? Dist::small_int : Dist::normal;
        std::string tag = in_tag(cfg.in) + "_" + dims_tag({cfg.dim}, cfg.keepdim);
        int64_t dim = cfg.dim;
        bool keep = cfg.keepdim;
        {
          OpCase c = make_case(is_max ? "max_dim" : "min_dim", tag, dt, {cfg.in});
          c.run = [dim, keep, is_max](const Inputs& x) {
            auto [v, i] = is_max ? max(x[0], dim, keep) : x[0].min(dim, keep);
            return Outputs{v, i};
          };
          c.reference = [dim, keep, is_max](const Refs& x) {
            auto [v, i] = ref::arg_reduce(x[0], dim, keep, is_max);
            return Refs{v, i};
          };
          c.out_dtypes = {dt, DType::i64};
          c.tol = tolerance(dt, TolKind::exact);
          set_reduce_cost(c, {dim}, 1, dt, 2);
          if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
          out.push_back(std::move(c));
        }
        {
          OpCase c = make_case(is_max ? "argmax" : "argmin", tag, dt, {cfg.in});
          c.run = [dim, keep, is_max](const Inputs& x) {
            return Outputs{is_max ? argmax(x[0], dim, keep) : x[0].argmin(dim, keep)};
          };
          c.reference = [dim, keep, is_max](const Refs& x) {
            return Refs{ref::arg_reduce(x[0], dim, keep, is_max).second};
          };
          c.out_dtypes = {DType::i64};
          set_reduce_cost(c, {dim}, 1, DType::i64);
          out.push_back(std::move(c));
        }
      }
  // NaN is the extreme (the first NaN wins), and large inputs; bf16/f16 the NaN one and a
  // large one (issue 16).
  for (bool is_max : {true, false})
    for (DType dt : {DType::f32, DType::bf16, DType::f16})
      for (const ArgConfig& cfg0 :
           {ArgConfig{In{{4, 6}, Dist::with_nan}, 1, false}, ArgConfig{In{{1000, 300}}, 0, false},
            ArgConfig{In{{300, 1000}}, 1, false}}) {
        const ArgConfig& cfg = cfg0;
        if (is_half(dt) && cfg.in.shape[0] == 1000) continue;
        std::string tag = in_tag(cfg.in) + "_" + dims_tag({cfg.dim}, cfg.keepdim) +
                          (cfg.in.dist == Dist::with_nan ? "_nan" : "");
        int64_t dim = cfg.dim;
        OpCase c = make_case(is_max ? "max_dim" : "min_dim", tag, dt, {cfg.in});
        c.run = [dim, is_max](const Inputs& x) {
          auto [v, i] = is_max ? max(x[0], dim) : min(x[0], dim);
          return Outputs{v, i};
        };
        c.reference = [dim, is_max](const Refs& x) {
          auto [v, i] = ref::arg_reduce(x[0], dim, false, is_max);
          return Refs{v, i};
        };
        c.out_dtypes = {dt, DType::i64};
        set_reduce_cost(c, {dim}, 1, dt, 2);
        out.push_back(std::move(c));
        OpCase a = make_case(is_max ? "argmax" : "argmin", tag, dt, {cfg.in});
        a.run = [dim, is_max](const Inputs& x) {
          return Outputs{is_max ? argmax(x[0], dim) : argmin(x[0], dim)};
        };
        a.reference = [dim, is_max](const Refs& x) {
          return Refs{ref::arg_reduce(x[0], dim, false, is_max).second};
        };
        a.out_dtypes = {DType::i64};
        set_reduce_cost(a, {dim}, 1, DType::i64);
        out.push_back(std::move(a));
      }
  // Over all elements: Tensor::max()/min() values, argmax()/argmin() into the flattened tensor.
  for (bool is_max : {true, false})
    for (const In& in0 : {In{{3, 4}}, In{{4, 3}, N, Layout::transposed}, In{{}}})
      for (DType dt : {DType::f32, DType::i64, DType::bf16, DType::f16}) {
        In in = in0;
        in.dist = dt == DType::i64 ? Dist::small_int : Dist::normal;
        {
          OpCase c = make_case(is_max ? "max_all" : "min_all", in_tag(in), dt, {in});
          c.run = [is_max](const Inputs& x) { return Outputs{is_max ? x[0].max() : x[0].min()}; };
          c.reference = [is_max](const Refs& x) {
            return Refs{ref::reduce(
                x[0], {}, false, is_max ? ref::Reducer(ref::max_of) : ref::Reducer(ref::min_of))};
          };
          c.out_dtypes = {dt};
          set_reduce_cost(c, {}, 1, dt);
          if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
          out.push_back(std::move(c));
        }
        {
          OpCase c = make_case(is_max ? "argmax_all" : "argmin_all", in_tag(in), dt, {in});
          c.run = [is_max](const Inputs& x) {
            return Outputs{is_max ? x[0].argmax() : x[0].argmin()};
          };
          c.reference = [is_max](const Refs& x) {
            ref::RefTensor flat = ref::reshape(x[0], {x[0].numel()});
            return Refs{ref::arg_reduce(flat, 0, false, is_max).second};
          };
          c.out_dtypes = {DType::i64};
          set_reduce_cost(c, {}, 1, DType::i64);
          out.push_back(std::move(c));
        }
      }
}

}  // namespace

void add_reduce_cases(std::vector<OpCase>& out) {
  add_reductions(out);
  add_arg_reductions(out);
}

}  // namespace ember::cases
