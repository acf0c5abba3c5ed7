// Padding and flipping: nn::functional::pad in its four modes (negative pads crop) and
// flip. Both only move data: no flops; bytes are the input read once and the output
// written once. The references map each output index to its source index by plain loops.
#include <algorithm>
#include <optional>

#include "nn/functional.h"
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

// No flops; the input read and an output of out_numel elements written.
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

// out[o] = x[source(o)], or `fill` where source gives nothing.
using SourceFn = std::function<std::optional<ref::Index>(const ref::Index&)>;
ref::RefTensor remap(const ref::RefTensor& x, const Shape& out_shape, const SourceFn& source,
                     double fill = 0.0) {
  ref::RefTensor y = ref::filled(out_shape, 0.0);
  for (int64_t f = 0; f < y.numel(); ++f) {
    ref::Index o = ref::unravel(f, out_shape);
    std::optional<ref::Index> s = source(o);
    y.data[static_cast<size_t>(f)] = s ? x[*s] : fill;
  }
  return y;
}

// ---- pad -----------------------------------------------------------------------------------

struct PadSpec {
  In in;
  std::vector<int64_t> pads;
  std::string mode;
  double value = 0.0;
};

Shape padded_shape(const Shape& in, const std::vector<int64_t>& pads) {
  Shape out = in;
  for (size_t i = 0; i < pads.size() / 2; ++i)
    out[out.size() - 1 - i] += pads[2 * i] + pads[2 * i + 1];
  return out;
}

// torch's definitions, one dim at a time: p = o - before mapped into [0, n).
std::optional<int64_t> pad_source(const std::string& mode, int64_t o, int64_t before, int64_t n) {
  int64_t p = o - before;
  if (mode == "constant") return p >= 0 && p < n ? std::optional<int64_t>(p) : std::nullopt;
  if (mode == "replicate") return std::min(std::max<int64_t>(p, 0), n - 1);
  if (mode == "circular") return ((p % n) + n) % n;
  while (p < 0 || p >= n) p = p < 0 ? -p : 2 * (n - 1) - p;  // reflect
  return p;
}

ref::RefTensor ref_pad(const ref::RefTensor& x, const PadSpec& s) {
  Shape out = padded_shape(x.shape, s.pads);
  const size_t k = s.pads.size() / 2;
  return remap(
      x, out,
      [&](const ref::Index& o) -> std::optional<ref::Index> {
        ref::Index src = o;
        for (size_t i = 0; i < k; ++i) {
          size_t d = o.size() - 1 - i;
          auto p = pad_source(s.mode, o[d], s.pads[2 * i], x.shape[d]);
          if (!p) return std::nullopt;
          src[d] = *p;
        }
        return src;
      },
      s.value);
}

void add_pad(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  const Layout T = Layout::transposed, S = Layout::strided, C = Layout::contiguous;
  std::vector<PadSpec> specs = {
      {In{{3, 4}}, {1, 2}, "constant"},
      {In{{2, 3, 4}}, {1, 0, 2, 1}, "constant", 1.5},
      {In{{2, 3, 4}, N, T}, {-1, 2, 0, 0, 1, 1}, "constant", -2.0},
      {In{{4, 5}}, {-1, -2, -1, 0}, "constant"},  // crop only
      {In{{5}, N, S}, {2, 3}, "constant"},
      {In{{0, 3}}, {1, 1, 2, 0}, "constant", 3.0},
      {In{{8, 3, 32, 32}}, {4, 4, 4, 4}, "constant"},
      {In{{2, 5}}, {2, 3}, "reflect"},
      {In{{1, 2, 4, 5}}, {3, 1, 2, 3}, "reflect"},
      {In{{1, 1, 2, 3, 4}}, {1, 2, 1, 1, 1, 0}, "reflect"},
      {In{{3, 6}}, {-1, 2}, "reflect"},
      {In{{2, 3, 4}, N, T}, {3, 2}, "reflect"},
      {In{{2, 3}}, {4, 5}, "replicate"},
      {In{{1, 2, 3, 4}, N, S}, {2, 0, 5, 1}, "replicate"},
      {In{{1, 1, 2, 3, 4}}, {1, 1, 1, 1, 2, 2}, "replicate"},
      {In{{2, 4}}, {4, 2}, "circular"},  // a pad as large as the dim
      {In{{1, 2, 3, 4}}, {1, 2, 3, 0}, "circular"},
      {In{{1, 2, 3, 4}, N, C}, {-1, 1, 0, 2}, "circular"},
      {In{{1, 2, 2, 3, 4}}, {1, 1, 1, 1, 1, 1}, "circular"},
      {In{{8, 3, 32, 32}}, {4, 4, 4, 4}, "reflect"},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      const PadSpec& s = specs[k];
      bool big = s.in.shape.size() == 4 && s.in.shape[0] == 8;
      if (dt != DType::f32 && (big || (k % 3 != 0 && k != 8))) continue;
      std::string tag = s.mode + "_" + in_tag(s.in) + "_" + list_tag(s.pads);
      if (s.value != 0.0) tag += "_v";
      OpCase c = make_case("pad", tag, dt, {s.in});
      c.run = [s](const Inputs& x) { return Outputs{nn::F::pad(x[0], s.pads, s.mode, s.value)}; };
      c.reference = [s, dt](const Refs& x) {
        PadSpec r = s;
        r.value = ref::cast_value(s.value, dt);  // an i64 output holds the truncated value
        return Refs{ref_pad(x[0], r)};
      };
      c.out_dtypes = {dt};
      set_move_cost(c, ref::numel_of(padded_shape(s.in.shape, s.pads)));
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

// ---- flip ----------------------------------------------------------------------------------

void add_flip(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct FlipSpec {
    In in;
    DimList dims;
  };
  std::vector<FlipSpec> specs = {
      {In{{3, 4}}, {0}},
      {In{{2, 3, 4}}, {0, 2}},
      {In{{2, 3, 4}}, {-1}},
      {In{{4, 5}, N, Layout::transposed}, {0, 1}},
      {In{{7}, N, Layout::strided}, {0}},
      {In{{}}, {}},
      {In{{2, 0, 3}}, {1}},
      {In{{2, 1, 3}}, {1}},
      {In{{3, 4}, N, Layout::expanded}, {0, 1}},
      {In{{64, 3, 32, 32}}, {3}},
  };
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::b8, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 1 && k != 3 && k != 8) continue;
      In in = specs[k].in;
      if (dt == DType::b8) in.dist = Dist::boolean;
      DimList dims = specs[k].dims;
      OpCase c = make_case("flip", in_tag(in) + "_d" + list_tag(dims), dt, {in});
      bool method = k == 2;
      c.run = [dims, method](const Inputs& x) {
        return Outputs{method ? x[0].flip(dims) : flip(x[0], dims)};
      };
      c.reference = [dims](const Refs& x) {
        return Refs{remap(x[0], x[0].shape, [&](const ref::Index& o) {
          ref::Index s = o;
          for (int64_t d : dims) {
            size_t w = static_cast<size_t>(ref::wrap(d, x[0].dim()));
            s[w] = x[0].shape[w] - 1 - o[w];
          }
          return std::optional<ref::Index>(s);
        })};
      };
      c.out_dtypes = {dt};
      set_move_cost(c, ref::numel_of(in.shape));
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

}  // namespace

void add_pad_cases(std::vector<OpCase>& out) {
  add_pad(out);
  add_flip(out);
}

}  // namespace ember::cases
