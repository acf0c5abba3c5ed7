// full_like, zeros_like, ones_like: the backend's fill primitive on every dtype. The
// input only gives the shape, dtype and device; its layout must not leak into the
// (contiguous) output. Napkin math: no flops; bytes = the output written.
#include "registry/builders.h"

namespace ember::cases {

namespace {

struct FillSpec {
  std::string op, tag;
  double value;  // as the op's result holds it: a bool or i64 fill is cast
  std::function<Tensor(const Tensor&)> fn;
};

}  // namespace

void add_fill_cases(std::vector<OpCase>& out) {
  const std::vector<FillSpec> specs = {
      {"full_like", "v2.5", 2.5, [](const Tensor& x) { return full_like(x, 2.5); }},
      {"full_like", "vm7", -7.0, [](const Tensor& x) { return full_like(x, -7); }},
      {"zeros_like", "", 0.0, [](const Tensor& x) { return zeros_like(x); }},
      {"ones_like", "", 1.0, [](const Tensor& x) { return ones_like(x); }},
  };
  const std::vector<In> ins = {
      In{{3, 4}},
      In{{}},
      In{{2, 3, 5}, Dist::normal, Layout::transposed},
      In{{7}, Dist::normal, Layout::strided},
      In{{0, 3}},
      In{{1031, 97}},
  };
  for (const FillSpec& s : specs)
    for (DType dt : {DType::f32, DType::f64, DType::i64, DType::b8, DType::bf16, DType::f16})
      for (size_t k = 0; k < ins.size(); ++k) {
        if (dt != DType::f32 && k != 0 && k != 2) continue;
        In in = ins[k];
        if (dt == DType::b8) in.dist = Dist::boolean;
        OpCase c;
        c.name = s.op + "/" + in_tag(in) + (s.tag.empty() ? "" : "_" + s.tag) + "/" + dtype_tag(dt);
        c.family = "fill";
        c.op = s.op;
        c.dtype = dt;
        c.make_inputs = input_maker({in});
        auto fn = s.fn;
        c.run = [fn](const Inputs& x) { return Outputs{fn(x[0])}; };
        const double v = ref::cast_value(s.value, dt);
        c.reference = [v](const Refs& x) { return Refs{ref::filled(x[0].shape, v)}; };
        c.out_dtypes = {dt};
        c.tol = tolerance(dt, TolKind::exact);
        c.flops = [](const Inputs&) { return 0.0; };
        c.bytes = [](const Inputs& x) { return bytes_of(x[0]); };
        out.push_back(std::move(c));
      }
}

}  // namespace ember::cases
