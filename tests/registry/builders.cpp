#include "registry/builders.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace ember::cases {

namespace {
// Values of `dist` in a tensor of the generation shape g.
Tensor draw(const In& in, const Shape& g, DType dt, Device dev) {
  TensorOptions o{.dtype = dt, .device = dev};
  TensorOptions i64{.dtype = DType::i64, .device = dev};
  bool fp = is_floating(dt);
  switch (in.dist) {
    case Dist::normal:
      if (fp) return randn(g, o);
      if (dt == DType::i64) return randint(-9, 10, g, i64);
      return randint(0, 2, g, i64).to(DType::b8);
    case Dist::positive:
      if (fp) return rand(g, o) * 2.0 + 0.25;
      if (dt == DType::i64) return randint(1, 10, g, i64);
      return randint(0, 2, g, i64).to(DType::b8);
    case Dist::nonzero: {
      Tensor sgn = randint(0, 2, g, i64) * 2 - 1;  // +-1
      if (fp) return (rand(g, o) + 0.5) * sgn.to(dt);
      return randint(1, 10, g, i64) * sgn;
    }
    case Dist::small_int: return randint(-3, 4, g, i64).to(dt);
    case Dist::wide:
      if (fp) return randn(g, o) * 5.0;
      return randint(-100, 100, g, i64).to(dt);
    case Dist::large:
      if (fp) return randn(g, o) * 40.0;
      return randint(-1000, 1000, g, i64).to(dt);
    case Dist::with_nan:
    case Dist::with_ninf: {
      Tensor mask = rand(g, TensorOptions{.dtype = DType::f32, .device = dev}) < 0.25;
      double v = in.dist == Dist::with_nan ? std::numeric_limits<double>::quiet_NaN()
                                           : -std::numeric_limits<double>::infinity();
      return randn(g, o).masked_fill(mask, v);
    }
    case Dist::boolean: return randint(0, 2, g, i64).to(DType::b8);
    case Dist::index: return randint(0, in.index_high, g, i64);
  }
  throw std::logic_error("make_input: unknown dist");
}
}  // namespace

Tensor make_input(const In& in, Device device, DType case_dtype) {
  DType dt = in.dist == Dist::boolean ? DType::b8
             : in.dist == Dist::index ? DType::i64
                                      : in.dtype.value_or(case_dtype);
  const Shape& s = in.shape;
  Shape g = s;
  switch (in.layout) {
    case Layout::contiguous: return draw(in, g, dt, device);
    case Layout::transposed: {
      std::reverse(g.begin(), g.end());
      DimList rev(s.size());
      std::iota(rev.begin(), rev.end(), 0);
      std::reverse(rev.begin(), rev.end());
      return draw(in, g, dt, device).permute(rev);
    }
    case Layout::strided: {
      g.back() = 2 * s.back() + 1;
      return draw(in, g, dt, device).slice(-1, 1, 2 * s.back() + 1, 2);
    }
    case Layout::expanded: {
      g[0] = 1;
      return draw(in, g, dt, device).expand(s);
    }
  }
  throw std::logic_error("make_input: unknown layout");
}

std::function<Inputs(Device, DType)> input_maker(std::vector<In> ins) {
  return [ins = std::move(ins)](Device device, DType dtype) {
    Inputs v;
    for (const In& in : ins) v.push_back(make_input(in, device, dtype));
    return v;
  };
}

std::string shape_tag(const Shape& s) {
  if (s.empty()) return "0d";
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) t += (i ? "x" : "") + std::to_string(s[i]);
  return t;
}

std::string in_tag(const In& in) {
  std::string t = shape_tag(in.shape);
  switch (in.layout) {
    case Layout::contiguous: break;
    case Layout::transposed: t += "T"; break;
    case Layout::strided: t += "s"; break;
    case Layout::expanded: t += "e"; break;
  }
  if (in.dtype && in.dist != Dist::index && in.dist != Dist::boolean) t += dtype_tag(*in.dtype);
  return t;
}

std::string ins_tag(const std::vector<In>& ins) {
  std::string t;
  for (size_t i = 0; i < ins.size(); ++i) t += (i ? "_" : "") + in_tag(ins[i]);
  return t;
}

std::string dtype_tag(DType d) { return std::string(to_string(d)); }

Tolerance tolerance(DType out_dtype, TolKind kind) {
  if (!is_floating(out_dtype) || kind == TolKind::exact) return {0.0, 0.0};
  // bf16/f16: one rounding of an f32 result (half an ulp), a few ulps where an op is a
  // composite of rounded steps.
  if (is_half(out_dtype)) {
    const double eps = out_dtype == DType::bf16 ? 0x1p-7 : 0x1p-10;
    return {eps, 4 * eps};
  }
  bool f32 = out_dtype == DType::f32;
  switch (kind) {
    case TolKind::exact: return {0.0, 0.0};
    case TolKind::elementwise: return f32 ? Tolerance{1e-6, 1e-6} : Tolerance{1e-14, 1e-14};
    case TolKind::transcendental: return f32 ? Tolerance{1e-6, 1e-5} : Tolerance{1e-13, 1e-12};
    case TolKind::reduction: return f32 ? Tolerance{1e-5, 1e-5} : Tolerance{1e-12, 1e-12};
    case TolKind::matmul: return f32 ? Tolerance{2e-5, 1e-5} : Tolerance{1e-12, 1e-12};
    case TolKind::softmax: return f32 ? Tolerance{1e-6, 1e-5} : Tolerance{1e-13, 1e-12};
  }
  return {0.0, 0.0};
}

double numel_d(const Tensor& t) { return static_cast<double>(t.numel()); }
double bytes_of(const Tensor& t) { return numel_d(t) * static_cast<double>(t.element_size()); }

Shape broadcast_all(const Inputs& in) {
  Shape s;
  for (const Tensor& t : in) s = ref::broadcast(s, t.sizes());
  return s;
}

void set_elementwise_cost(OpCase& c, double flops_per_elem, DType out_dtype) {
  c.flops = [flops_per_elem](const Inputs& in) {
    return flops_per_elem * static_cast<double>(ref::numel_of(broadcast_all(in)));
  };
  c.bytes = [out_dtype](const Inputs& in) {
    double b = static_cast<double>(ref::numel_of(broadcast_all(in))) *
               static_cast<double>(element_size(out_dtype));
    for (const Tensor& t : in) b += bytes_of(t);
    return b;
  };
}

}  // namespace ember::cases
