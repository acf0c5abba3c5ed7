// Reordering and repetition: roll, repeat, tile, repeat_interleave. Data movement only:
// no flops; bytes are the input read once and the output written once. The references
// map each output index to its source index by plain loops.
#include <optional>

#include "registry/builders.h"

namespace ember::cases {

namespace {

OpCase make_case(const std::string& op, const std::string& tag, DType dt, std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = op;
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  return c;
}

void set_move_cost(OpCase& c, int64_t out_numel) {
  c.flops = [](const Inputs&) { return 0.0; };
  c.bytes = [out_numel](const Inputs& in) {
    return bytes_of(in[0]) + static_cast<double>(out_numel * element_size(in[0].dtype()));
  };
}

std::string list_tag(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? "," : "") + (v[i] < 0 ? "m" + std::to_string(-v[i]) : std::to_string(v[i]));
  return s;
}

// out[o] = x[source(o)] over out_shape.
ref::RefTensor remap(const ref::RefTensor& x, const Shape& out_shape,
                     const std::function<ref::Index(const ref::Index&)>& source) {
  ref::RefTensor y = ref::filled(out_shape, 0.0);
  for (int64_t f = 0; f < y.numel(); ++f)
    y.data[static_cast<size_t>(f)] = x[source(ref::unravel(f, out_shape))];
  return y;
}

int64_t mod(int64_t a, int64_t n) { return ((a % n) + n) % n; }

void add_roll(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct RollSpec {
    In in;
    std::vector<int64_t> shifts;
    DimList dims;
  };
  std::vector<RollSpec> specs = {
      {In{{3, 4}}, {1}, {0}},
      {In{{3, 4}}, {-5, 2}, {1, 0}},
      {In{{2, 3, 4}, N, Layout::transposed}, {7}, {-1}},
      {In{{3, 4}}, {5}, {}},  // flattened
      {In{{2, 3, 4}, N, Layout::strided}, {-3}, {}},
      {In{{5}}, {0}, {0}},
      {In{{2, 0, 3}}, {1}, {1}},
      {In{{64, 3, 32, 32}}, {3, -2}, {2, 3}},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 1 && k != 4) continue;
      const RollSpec& s = specs[k];
      OpCase c = make_case(
          "roll", in_tag(s.in) + "_s" + list_tag(s.shifts) + "_d" + list_tag(s.dims), dt, {s.in});
      bool method = k == 2;
      c.run = [s, method](const Inputs& x) {
        return Outputs{method ? x[0].roll(s.shifts, s.dims) : roll(x[0], s.shifts, s.dims)};
      };
      c.reference = [s](const Refs& x) {
        if (s.dims.empty()) {  // roll the flattened elements
          int64_t n = x[0].numel();
          ref::RefTensor y = x[0];
          for (int64_t i = 0; i < n; ++i)
            y.data[static_cast<size_t>(i)] =
                x[0].data[static_cast<size_t>(mod(i - s.shifts[0], n))];
          return Refs{y};
        }
        return Refs{remap(x[0], x[0].shape, [&](const ref::Index& o) {
          ref::Index src = o;
          for (size_t i = 0; i < s.dims.size(); ++i) {
            size_t d = static_cast<size_t>(ref::wrap(s.dims[i], x[0].dim()));
            src[d] = mod(src[d] - s.shifts[i], x[0].shape[d]);
          }
          return src;
        })};
      };
      c.out_dtypes = {dt};
      set_move_cost(c, ref::numel_of(s.in.shape));
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

// repeat and tile: out[o] = x[o mod in] on the trailing dims (leading ones added).
Shape tiled_shape(const Shape& in, std::vector<int64_t> reps) {
  if (reps.size() < in.size()) reps.insert(reps.begin(), in.size() - reps.size(), 1);
  Shape padded(reps.size() - in.size(), 1);
  padded.insert(padded.end(), in.begin(), in.end());
  Shape out;
  for (size_t i = 0; i < reps.size(); ++i) out.push_back(padded[i] * reps[i]);
  return out;
}

void add_repeat_tile(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct RepSpec {
    std::string op;
    In in;
    std::vector<int64_t> reps;
  };
  std::vector<RepSpec> specs = {
      {"repeat", In{{2, 3}}, {2, 1}},
      {"repeat", In{{2, 3}, N, Layout::transposed}, {3, 2, 2}},
      {"repeat", In{{3}}, {2, 0}},
      {"repeat", In{{}}, {4}},
      {"repeat", In{{4, 5}, N, Layout::expanded}, {1, 3}},
      {"repeat", In{{16, 3, 32, 32}}, {2, 1, 1, 2}},
      {"tile", In{{2, 3}}, {2}},
      {"tile", In{{2, 3, 2}, N, Layout::strided}, {2, 1}},
      {"tile", In{{3}}, {2, 2}},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 1 && k != 7) continue;
      const RepSpec& s = specs[k];
      OpCase c = make_case(s.op, in_tag(s.in) + "_r" + list_tag(s.reps), dt, {s.in});
      bool method = k == 0 || k == 6;
      c.run = [s, method](const Inputs& x) {
        if (s.op == "tile") return Outputs{method ? x[0].tile(s.reps) : tile(x[0], s.reps)};
        return Outputs{method ? x[0].repeat(s.reps) : repeat(x[0], s.reps)};
      };
      Shape out_shape = tiled_shape(s.in.shape, s.reps);
      c.reference = [out_shape](const Refs& x) {
        return Refs{remap(x[0], out_shape, [&](const ref::Index& o) {
          size_t lead = o.size() - x[0].shape.size();
          ref::Index src(x[0].shape.size());
          for (size_t d = 0; d < src.size(); ++d) src[d] = o[lead + d] % x[0].shape[d];
          return src;
        })};
      };
      c.out_dtypes = {dt};
      set_move_cost(c, ref::numel_of(out_shape));
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

void add_repeat_interleave(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct RiSpec {
    In in;
    std::vector<int64_t> counts;  // one value: an int repeats; several: a tensor
    std::optional<int64_t> dim;
    bool as_tensor = false;
  };
  std::vector<RiSpec> specs = {
      {In{{2, 3}}, {2}, std::nullopt},
      {In{{2, 3}}, {3}, 1},
      {In{{3, 4}, N, Layout::transposed}, {2}, -2},
      {In{{3, 2}}, {1, 0, 3}, 0, true},
      {In{{2, 4}, N, Layout::strided}, {2, 1, 1, 3}, 1, true},
      {In{{2, 2}}, {1, 2, 0, 1}, std::nullopt, true},
      {In{{2, 3}}, {2}, 0, true},  // a one-element tensor broadcasts
      {In{{64, 3, 32, 32}}, {2}, 3},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 2 && k != 4) continue;
      const RiSpec& s = specs[k];
      std::string tag = in_tag(s.in) + (s.as_tensor ? "_t" : "_r") + list_tag(s.counts) + "_d" +
                        (s.dim ? list_tag({*s.dim}) : "none");
      OpCase c = make_case("repeat_interleave", tag, dt, {s.in});
      bool method = k == 1 || k == 3;
      c.run = [s, method](const Inputs& x) {
        if (!s.as_tensor)
          return Outputs{method ? x[0].repeat_interleave(s.counts[0], s.dim)
                                : repeat_interleave(x[0], s.counts[0], s.dim)};
        Tensor r = from_vector(s.counts, x[0].device());
        if (s.counts.size() == 1) r = r.reshape({});
        return Outputs{method ? x[0].repeat_interleave(r, s.dim)
                              : repeat_interleave(x[0], r, s.dim)};
      };
      // The source slice of each output slice along the (flattened or given) dim.
      Shape src_shape = s.dim ? s.in.shape : Shape{ref::numel_of(s.in.shape)};
      size_t d =
          s.dim ? static_cast<size_t>(ref::wrap(*s.dim, static_cast<int64_t>(src_shape.size())))
                : 0;
      std::vector<int64_t> from;
      for (int64_t i = 0; i < src_shape[d]; ++i)
        from.insert(from.end(), s.counts.size() == 1 ? s.counts[0] : s.counts[i], i);
      Shape out_shape = src_shape;
      out_shape[d] = static_cast<int64_t>(from.size());
      c.reference = [src_shape, out_shape, from, d](const Refs& x) {
        ref::RefTensor src = ref::reshape(x[0], src_shape);
        return Refs{remap(src, out_shape, [&](const ref::Index& o) {
          ref::Index i = o;
          i[d] = from[static_cast<size_t>(o[d])];
          return i;
        })};
      };
      c.out_dtypes = {dt};
      set_move_cost(c, ref::numel_of(out_shape));
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

}  // namespace

void add_reorder_cases(std::vector<OpCase>& out) {
  add_roll(out);
  add_repeat_tile(out);
  add_repeat_interleave(out);
}

}  // namespace ember::cases
