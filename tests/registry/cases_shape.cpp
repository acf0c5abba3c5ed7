// Data movement: cat/stack/split/chunk, tril/triu, casts between every dtype pair,
// contiguous copies of views, and the views themselves. Napkin math: no flops; bytes are
// what is read plus what is written (views move nothing).
#include <cmath>

#include "registry/builders.h"

namespace ember::cases {

namespace {
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

// Copy cost: every input read once, the same bytes written once.
void set_copy_cost(OpCase& c) {
  c.flops = [](const Inputs&) { return 0.0; };
  c.bytes = [](const Inputs& in) {
    double b = 0;
    for (const Tensor& t : in) b += 2 * bytes_of(t);
    return b;
  };
}

void set_view_cost(OpCase& c) {
  c.flops = [](const Inputs&) { return 0.0; };
  c.bytes = [](const Inputs&) { return 0.0; };
}

// Gradients are checked in f64 (bf16/f16 cases check the forward only).
std::vector<int> float_inputs(DType dt, size_t n) {
  std::vector<int> g;
  if (is_floating(dt) && !is_half(dt))
    for (size_t i = 0; i < n; ++i) g.push_back(static_cast<int>(i));
  return g;
}

void add_cat_stack(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  const Layout T = Layout::transposed, S = Layout::strided;
  struct CS {
    std::vector<In> ins;
    int64_t dim;
    bool stack;
  };
  std::vector<CS> specs = {
      {{In{{2, 3}}, In{{4, 3}}}, 0, false},
      {{In{{2, 3}}, In{{2, 5}}, In{{2, 1}}}, 1, false},
      {{In{{2, 3, 4}}, In{{2, 3, 2}, N, T}}, -1, false},
      {{In{{3, 2}, N, T}, In{{3, 4}, N, S}}, 1, false},
      {{In{{0, 3}}, In{{2, 3}}}, 0, false},
      {{In{{5}}}, 0, false},
      {{In{{2, 3}}, In{{2, 3}}, In{{2, 3}}}, 0, true},
      {{In{{2, 3}}, In{{2, 3}, N, T}}, 1, true},
      {{In{{2, 3}}, In{{2, 3}}}, 2, true},
      {{In{{2, 3}}, In{{2, 3}}}, -1, true},
      {{In{{}}, In{{}}}, 0, true},
      // Mixed dtypes promote (as torch.cat does).
      {{In{{2, 3}}, In{{1, 3}, N, Layout::contiguous, DType::f64}}, 0, false},
      {{In{{2, 2}, N, Layout::contiguous, DType::i64}, In{{2, 2}}}, 1, true},
      {{In{{300, 200}}, In{{300, 101}, N, T}}, 1, false},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::b8, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 1 && k != 3 && k != 7) continue;
      const CS& s = specs[k];
      std::vector<In> ins = s.ins;
      if (dt == DType::b8)
        for (In& in : ins) in.dist = Dist::boolean;
      OpCase c = make_case(s.stack ? "stack" : "cat", "join",
                           ins_tag(ins) + "_d" + std::to_string(s.dim), dt, ins);
      int64_t dim = s.dim;
      bool st = s.stack;
      c.run = [dim, st](const Inputs& x) { return Outputs{st ? stack(x, dim) : cat(x, dim)}; };
      c.reference = [dim, st](const Refs& x) {
        return Refs{st ? ref::stack(x, dim) : ref::cat(x, dim)};
      };
      DType out_dt = dt;
      for (const In& in : ins) out_dt = promote_types(out_dt, in.dtype.value_or(dt));
      c.out_dtypes = {out_dt};
      set_copy_cost(c);
      for (size_t i = 0; i < ins.size(); ++i)
        if (is_floating(ins[i].dtype.value_or(dt)) && !is_half(dt))
          c.grad_inputs.push_back(static_cast<int>(i));
      out.push_back(std::move(c));
    }
}

void add_split_chunk(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct SC {
    std::string op;
    In in;
    std::vector<int64_t> arg;  // split: {size} or sizes; chunk: {chunks}
    int64_t dim;
    std::vector<int64_t> expect;  // the pieces' sizes along dim (PyTorch's)
  };
  std::vector<SC> specs = {
      {"split", In{{7, 4}}, {3}, 0, {3, 3, 1}},
      {"split", In{{4, 6}}, {2}, 1, {2, 2, 2}},
      {"split", In{{4, 6}}, {8}, 1, {6}},
      {"split_sizes", In{{7, 4}}, {1, 4, 2}, 0, {1, 4, 2}},
      {"split_sizes", In{{3, 5}, N, Layout::transposed}, {2, 0, 3}, -1, {2, 0, 3}},
      {"chunk", In{{7, 4}}, {3}, 0, {3, 3, 1}},
      {"chunk", In{{6}}, {4}, 0, {2, 2, 2}},  // 4 chunks of 6 give three of 2
      {"chunk", In{{3, 5}, N, Layout::strided}, {2}, 1, {3, 2}},
      {"chunk", In{{2, 3}}, {5}, 1, {1, 1, 1}},
  };
  for (DType dt : {DType::f32, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt == DType::i64 && k != 0 && k != 5) continue;
      if (is_half(dt) && k != 0 && k != 3 && k != 4 && k != 7) continue;  // issue 16
      const SC& s = specs[k];
      std::string args;
      for (size_t i = 0; i < s.arg.size(); ++i) args += (i ? "," : "") + std::to_string(s.arg[i]);
      OpCase c = make_case(s.op, "split", in_tag(s.in) + "_" + args + "_d" + std::to_string(s.dim),
                           dt, {s.in});
      auto arg = s.arg;
      int64_t dim = s.dim;
      std::string op = s.op;
      bool method = k == 1 || k == 6;
      c.run = [arg, dim, op, method](const Inputs& x) {
        if (op == "split") return method ? x[0].split(arg[0], dim) : split(x[0], arg[0], dim);
        if (op == "split_sizes") return method ? x[0].split(arg, dim) : split(x[0], arg, dim);
        return method ? x[0].chunk(arg[0], dim) : chunk(x[0], arg[0], dim);
      };
      auto expect = s.expect;
      c.reference = [expect, dim](const Refs& x) { return ref::split(x[0], expect, dim); };
      c.out_dtypes.assign(s.expect.size(), dt);
      set_view_cost(c);
      c.grad_inputs = float_inputs(dt, 1);
      out.push_back(std::move(c));
    }
}

void add_tri(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct TR {
    In in;
    int64_t diagonal;
  };
  std::vector<TR> specs = {
      {In{{4, 5}}, 0},     {In{{4, 5}}, -1},   {In{{4, 5}}, 2},
      {In{{5, 3}}, 1},     {In{{2, 3, 4}}, 0}, {In{{4, 4}, N, Layout::transposed}, -2},
      {In{{3, 4}}, 10},    {In{{3, 4}}, -10},  {In{{4, 3}, N, Layout::strided}, 0},
      {In{{300, 401}}, 3},
  };
  for (bool upper : {false, true})
    for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
      for (size_t k = 0; k < specs.size(); ++k) {
        if (dt != DType::f32 && k != 1 && k != 4 && k != 5) continue;
        const TR& s = specs[k];
        std::string dtag =
            s.diagonal < 0 ? "m" + std::to_string(-s.diagonal) : std::to_string(s.diagonal);
        OpCase c =
            make_case(upper ? "triu" : "tril", "tri", in_tag(s.in) + "_k" + dtag, dt, {s.in});
        int64_t d = s.diagonal;
        bool method = k == 2;
        c.run = [d, upper, method](const Inputs& x) {
          if (method) return Outputs{upper ? x[0].triu(d) : x[0].tril(d)};
          return Outputs{upper ? triu(x[0], d) : tril(x[0], d)};
        };
        c.reference = [d, upper](const Refs& x) { return Refs{ref::tri(x[0], d, upper)}; };
        c.out_dtypes = {dt};
        set_copy_cost(c);
        c.grad_inputs = float_inputs(dt, 1);
        out.push_back(std::move(c));
      }
}

void add_casts(std::vector<OpCase>& out) {
  // bf16/f16 (issue 16): every pair with a 16-bit side, rounded to nearest even as
  // ref::cast (a double through float, as c10).
  const std::vector<DType> all = {DType::f32, DType::f64,  DType::i64,
                                  DType::b8,  DType::bf16, DType::f16};
  for (DType from : all)
    for (DType to : all) {
      // Floats with fractions and both signs (truncation), and small integers with zeros.
      std::vector<Dist> dists = {Dist::wide};
      if (is_floating(from)) dists.push_back(Dist::small_int);
      if (from == DType::b8) dists = {Dist::boolean};
      for (Dist dist : dists) {
        In in{{3, 4}, dist};
        std::string tag =
            in_tag(in) + "_to_" + dtype_tag(to) + (dist == Dist::small_int ? "_ints" : "");
        OpCase c = make_case("cast", "cast", tag, from, {in});
        c.run = [to](const Inputs& x) { return Outputs{x[0].to(to)}; };
        c.reference = [to](const Refs& x) { return Refs{ref::cast(x[0], to)}; };
        c.out_dtypes = {to};
        set_copy_cost(c);
        // (finite differences cannot see through a 16-bit rounding: no gradcheck there)
        if (is_floating(from) && is_floating(to) && !is_half(from) && !is_half(to))
          c.grad_inputs = {0};
        out.push_back(std::move(c));
      }
    }
  // Big casts (threads, vector tails).
  for (auto [from, to_] : std::vector<std::pair<DType, DType>>{{DType::f32, DType::f64},
                                                               {DType::f64, DType::f32},
                                                               {DType::f32, DType::i64},
                                                               {DType::i64, DType::f32}}) {
    const DType to = to_;  // clang 14 (the sanitizer builds) cannot capture a binding
    In in{{1031, 97}, Dist::wide};
    OpCase c = make_case("cast", "cast", in_tag(in) + "_to_" + dtype_tag(to), from, {in});
    c.run = [to](const Inputs& x) { return Outputs{x[0].to(to)}; };
    c.reference = [to](const Refs& x) { return Refs{ref::cast(x[0], to)}; };
    c.out_dtypes = {to};
    set_copy_cost(c);
    out.push_back(std::move(c));
  }
  // f64 -> f32 rounding of values that are not representable, and a strided source.
  {
    In in{{4, 3}, Dist::normal, Layout::transposed};
    OpCase c = make_case("cast", "cast", in_tag(in) + "_to_f32", DType::f64, {in});
    c.run = [](const Inputs& x) { return Outputs{x[0].to(DType::f32)}; };
    c.reference = [](const Refs& x) { return Refs{ref::cast(x[0], DType::f32)}; };
    c.out_dtypes = {DType::f32};
    set_copy_cost(c);
    c.grad_inputs = {0};
    out.push_back(std::move(c));
  }
}

void add_contiguous(std::vector<OpCase>& out) {
  struct CT {
    std::string tag;
    Shape shape;
    std::function<Tensor(const Tensor&)> view;
    std::function<ref::RefTensor(const ref::RefTensor&)> ref_view;
  };
  std::vector<CT> specs = {
      {"permute201",
       {2, 3, 4},
       [](const Tensor& x) {
         return x.permute({2, 0, 1});
       },
       [](const ref::RefTensor& x) {
         return ref::permute(x, {2, 0, 1});
       }},
      {"permute_last_first",
       {2, 3, 4, 5},
       [](const Tensor& x) {
         return x.permute({3, 1, 2, 0});
       },
       [](const ref::RefTensor& x) {
         return ref::permute(x, {3, 1, 2, 0});
       }},
      {"transpose01",
       {5, 7},
       [](const Tensor& x) { return x.transpose(0, 1); },
       [](const ref::RefTensor& x) { return ref::transpose(x, 0, 1); }},
      {"slice_step3",
       {4, 10},
       [](const Tensor& x) { return x.slice(1, 1, 10, 3); },
       [](const ref::RefTensor& x) { return ref::slice(x, 1, 1, 10, 3); }},
      {"expand",
       {1, 4},
       [](const Tensor& x) {
         return x.expand({3, 4});
       },
       [](const ref::RefTensor& x) {
         return ref::expand(x, {3, 4});
       }},
      {"select_col",
       {4, 5},
       [](const Tensor& x) { return x.select(1, 2); },
       [](const ref::RefTensor& x) { return ref::select(x, 1, 2); }},
      {"identity",
       {3, 4},
       [](const Tensor& x) { return x; },
       [](const ref::RefTensor& x) { return x; }},
      {"permute201_big",
       {64, 129, 3},
       [](const Tensor& x) {
         return x.permute({2, 0, 1});
       },
       [](const ref::RefTensor& x) {
         return ref::permute(x, {2, 0, 1});
       }},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::b8, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 0 && k != 3) continue;
      const CT& s = specs[k];
      In in{s.shape, dt == DType::b8 ? Dist::boolean : Dist::normal};
      for (bool clone : {false, true}) {
        if (clone && k > 2) continue;
        OpCase c = make_case(clone ? "clone" : "contiguous", "copy",
                             shape_tag(s.shape) + "_" + s.tag, dt, {in});
        auto view = s.view;
        auto rv = s.ref_view;
        c.run = [view, clone](const Inputs& x) {
          return Outputs{clone ? view(x[0]).clone() : view(x[0]).contiguous()};
        };
        c.reference = [rv](const Refs& x) { return Refs{rv(x[0])}; };
        c.out_dtypes = {dt};
        set_copy_cost(c);
        c.grad_inputs = float_inputs(dt, 1);
        out.push_back(std::move(c));
      }
    }
}

// The views themselves: the comparison reads them through their strides.
void add_views(std::vector<OpCase>& out) {
  using V = std::function<Tensor(const Tensor&)>;
  using R = std::function<ref::RefTensor(const ref::RefTensor&)>;
  struct VW {
    std::string tag;
    In in;
    V view;
    R ref_view;
  };
  const Dist N = Dist::normal;
  std::vector<VW> specs = {
      {"view_6x2", In{{3, 4}},
       [](const Tensor& x) {
         return x.view({6, 2});
       },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {6, 2});
       }},
      {"view_m1x4", In{{2, 3, 4}},
       [](const Tensor& x) {
         return x.view({-1, 4});
       },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {6, 4});
       }},
      {"reshape_T_12", In{{3, 4}, N, Layout::transposed},
       [](const Tensor& x) { return x.reshape({12}); },
       [](const ref::RefTensor& x) { return ref::reshape(x, {12}); }},
      {"transpose_02", In{{2, 3, 4}}, [](const Tensor& x) { return x.transpose(0, 2); },
       [](const ref::RefTensor& x) { return ref::transpose(x, 0, 2); }},
      {"t", In{{3, 4}}, [](const Tensor& x) { return x.t(); },
       [](const ref::RefTensor& x) { return ref::transpose(x, 0, 1); }},
      {"permute_120", In{{2, 3, 4}},
       [](const Tensor& x) {
         return x.permute({1, 2, 0});
       },
       [](const ref::RefTensor& x) {
         return ref::permute(x, {1, 2, 0});
       }},
      {"slice_1_1_8_3", In{{3, 9}}, [](const Tensor& x) { return x.slice(1, 1, 8, 3); },
       [](const ref::RefTensor& x) { return ref::slice(x, 1, 1, 8, 3); }},
      {"slice_neg", In{{6, 2}}, [](const Tensor& x) { return x.slice(0, -4, -1); },
       [](const ref::RefTensor& x) { return ref::slice(x, 0, -4, -1, 1); }},
      {"slice_clamped", In{{5}}, [](const Tensor& x) { return x.slice(0, 2, 100); },
       [](const ref::RefTensor& x) { return ref::slice(x, 0, 2, 100, 1); }},
      {"narrow_1_1_2", In{{3, 4}, N, Layout::transposed},
       [](const Tensor& x) { return x.narrow(1, 1, 2); },
       [](const ref::RefTensor& x) { return ref::slice(x, 1, 1, 3, 1); }},
      {"select_0_m1", In{{3, 4}}, [](const Tensor& x) { return x.select(0, -1); },
       [](const ref::RefTensor& x) { return ref::select(x, 0, -1); }},
      {"select_1d", In{{5}}, [](const Tensor& x) { return x.select(0, 3); },
       [](const ref::RefTensor& x) { return ref::select(x, 0, 3); }},
      {"unsqueeze_m1", In{{3, 4}}, [](const Tensor& x) { return x.unsqueeze(-1); },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {3, 4, 1});
       }},
      {"unsqueeze_1", In{{3, 4}, N, Layout::transposed},
       [](const Tensor& x) { return x.unsqueeze(1); },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {3, 1, 4});
       }},
      {"squeeze", In{{1, 3, 1, 4}}, [](const Tensor& x) { return x.squeeze(); },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {3, 4});
       }},
      {"squeeze_2", In{{1, 3, 1, 4}}, [](const Tensor& x) { return x.squeeze(2); },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {1, 3, 4});
       }},
      {"squeeze_noop", In{{3, 4}}, [](const Tensor& x) { return x.squeeze(0); },
       [](const ref::RefTensor& x) { return x; }},
      {"expand_m1", In{{3, 1}},
       [](const Tensor& x) {
         return x.expand({2, -1, 4});
       },
       [](const ref::RefTensor& x) {
         return ref::expand(x, {2, 3, 4});
       }},
      {"flatten", In{{2, 3, 4}}, [](const Tensor& x) { return x.flatten(); },
       [](const ref::RefTensor& x) { return ref::reshape(x, {24}); }},
      {"flatten_1", In{{2, 3, 4}, N, Layout::transposed},
       [](const Tensor& x) { return x.flatten(1); },
       [](const ref::RefTensor& x) {
         return ref::reshape(x, {2, 12});
       }},
      {"flatten_0d", In{{}}, [](const Tensor& x) { return x.flatten(); },
       [](const ref::RefTensor& x) { return ref::reshape(x, {1}); }},
      {"detach", In{{3, 4}}, [](const Tensor& x) { return x.detach(); },
       [](const ref::RefTensor& x) { return x; }},
  };
  for (DType dt : {DType::f32, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      const VW& s = specs[k];
      // bf16/f16 (issue 16): views are dtype-blind; a few with strides and offsets.
      if (dt != DType::f32 && k != 2 && k != 6 && k != 9 && k != 19) continue;
      OpCase c = make_case("view", "view", s.tag + "_" + in_tag(s.in), dt, {s.in});
      V v = s.view;
      R r = s.ref_view;
      c.run = [v](const Inputs& x) { return Outputs{v(x[0])}; };
      c.reference = [r](const Refs& x) { return Refs{r(x[0])}; };
      c.out_dtypes = {dt};
      set_view_cost(c);
      // detach cuts the graph: no gradient
      if (s.tag != "detach" && dt == DType::f32) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

}  // namespace

void add_shape_cases(std::vector<OpCase>& out) {
  add_cat_stack(out);
  add_split_chunk(out);
  add_tri(out);
  add_casts(out);
  add_contiguous(out);
  add_views(out);
}

}  // namespace ember::cases
