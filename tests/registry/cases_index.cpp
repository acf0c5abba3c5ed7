// index_select, gather, scatter_add. Index values are random (with repeats) in range.
// Napkin math: no flops except scatter_add's one add per source element; bytes are the
// index and gathered values read plus the output written.
#include <algorithm>

#include "registry/builders.h"

namespace ember::cases {

namespace {
OpCase make_case(const std::string& op, const std::string& tag, DType dt, std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = "index";
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  return c;
}

In index_in(Shape shape, int64_t high, Layout layout = Layout::contiguous) {
  In in{std::move(shape), Dist::index, layout};
  in.index_high = high;
  return in;
}

void add_index_select(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct IS {
    In x;
    int64_t dim;
    In index;
  };
  std::vector<IS> specs = {
      {In{{5, 4}}, 0, index_in({7}, 5)},
      {In{{5, 4}}, 1, index_in({3}, 4)},
      {In{{2, 5, 3}}, 1, index_in({6}, 5)},
      {In{{2, 5, 3}}, -1, index_in({2}, 3)},
      {In{{4, 5}, N, Layout::transposed}, 0, index_in({4}, 4)},
      {In{{6}}, 0, index_in({9}, 6, Layout::strided)},
      {In{{5, 4}}, 0, index_in({0}, 5)},
      {In{{5, 4}}, 0, index_in({}, 5)},  // 0-dim index: the dim keeps size 1
      {In{{1000, 64}}, 0, index_in({500}, 1000)},
      {In{{64, 1000}}, 1, index_in({300}, 1000)},
  };
  // bf16/f16 (issue 16): index_select and gather move bytes, scatter_add adds in f32.
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 0 && k != 2 && k != 4) continue;
      const IS& s = specs[k];
      OpCase c = make_case("index_select", ins_tag({s.x, s.index}) + "_d" + std::to_string(s.dim),
                           dt, {s.x, s.index});
      int64_t dim = s.dim;
      bool method = k == 1;
      c.run = [dim, method](const Inputs& x) {
        return Outputs{method ? x[0].index_select(dim, x[1]) : index_select(x[0], dim, x[1])};
      };
      c.reference = [dim](const Refs& x) { return Refs{ref::index_select(x[0], dim, x[1])}; };
      c.out_dtypes = {dt};
      c.flops = [](const Inputs&) { return 0.0; };
      c.bytes = [dim](const Inputs& x) {
        double rows = numel_d(x[0]) / static_cast<double>(std::max<int64_t>(x[0].size(dim), 1));
        return bytes_of(x[1]) +
               2.0 * rows * numel_d(x[1]) * static_cast<double>(x[0].element_size());
      };
      if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
      out.push_back(std::move(c));
    }
}

void add_gather_scatter(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  struct GS {
    In x;
    int64_t dim;
    In index;
  };
  std::vector<GS> specs = {
      {In{{4, 5}}, 1, index_in({4, 3}, 5)},
      {In{{4, 5}}, 0, index_in({6, 5}, 4)},  // more rows than the input
      {In{{4, 5}}, 1, index_in({2, 3}, 5)},  // smaller in the other dim too
      {In{{2, 3, 4}}, -1, index_in({2, 3, 4}, 4)},
      {In{{2, 3, 4}}, 1, index_in({2, 5, 4}, 3, Layout::transposed)},
      {In{{4, 5}, N, Layout::transposed}, 0, index_in({3, 5}, 4)},
      // Many sources per destination: a parallel scatter must not race.
      {In{{200, 64}}, 0, index_in({1000, 64}, 200)},
      {In{{64, 30}}, 1, index_in({64, 2000}, 30)},
  };
  // bf16/f16 (issue 16): index_select and gather move bytes, scatter_add adds in f32.
  for (DType dt : {DType::f32, DType::f64, DType::i64, DType::bf16, DType::f16})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt != DType::f32 && k != 0 && k != 4) continue;
      const GS& s = specs[k];
      std::string tag = ins_tag({s.x, s.index}) + "_d" + std::to_string(s.dim);
      int64_t dim = s.dim;
      {
        OpCase c = make_case("gather", tag, dt, {s.x, s.index});
        bool method = k == 1;
        c.run = [dim, method](const Inputs& x) {
          return Outputs{method ? x[0].gather(dim, x[1]) : gather(x[0], dim, x[1])};
        };
        c.reference = [dim](const Refs& x) { return Refs{ref::gather(x[0], dim, x[1])}; };
        c.out_dtypes = {dt};
        c.flops = [](const Inputs&) { return 0.0; };
        c.bytes = [](const Inputs& x) {
          return bytes_of(x[1]) + 2.0 * numel_d(x[1]) * static_cast<double>(x[0].element_size());
        };
        if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
        out.push_back(std::move(c));
      }
      {
        // src has the index's shape (values added at the indexed positions).
        In src{s.index.shape, N, k == 3 ? Layout::transposed : Layout::contiguous};
        OpCase c = make_case("scatter_add", tag + "_" + in_tag(src), dt, {s.x, s.index, src});
        bool method = k == 0;
        c.run = [dim, method](const Inputs& x) {
          return Outputs{method ? x[0].scatter_add(dim, x[1], x[2])
                                : scatter_add(x[0], dim, x[1], x[2])};
        };
        c.reference = [dim](const Refs& x) {
          return Refs{ref::scatter_add(x[0], dim, x[1], x[2])};
        };
        c.out_dtypes = {dt};
        c.tol = tolerance(dt, TolKind::reduction);
        c.flops = [](const Inputs& x) { return numel_d(x[2]); };
        c.bytes = [](const Inputs& x) {
          return 2.0 * bytes_of(x[0]) + bytes_of(x[1]) + 2.0 * bytes_of(x[2]);
        };
        if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0, 2};
        out.push_back(std::move(c));
      }
    }
}

}  // namespace

void add_index_cases(std::vector<OpCase>& out) {
  add_index_select(out);
  add_gather_scatter(out);
}

}  // namespace ember::cases
