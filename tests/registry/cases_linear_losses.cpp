// nn::functional's composites: linear, and the losses mse_loss, l1_loss,
// binary_cross_entropy_with_logits and nll_loss with every reduction and option.
// Napkin math: linear 2*M*N*K (+ M*N with a bias); the losses a few flops per element.
#include <cmath>

#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using F::Reduction;

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

const char* reduction_tag(Reduction r) {
  switch (r) {
    case Reduction::none: return "none";
    case Reduction::mean: return "mean";
    case Reduction::sum: return "sum";
  }
  return "?";
}

ref::RefTensor reduce_ref(const ref::RefTensor& x, Reduction r) {
  if (r == Reduction::none) return x;
  double s = ref::sum_of(x.data);
  if (r == Reduction::mean) s /= static_cast<double>(x.numel());
  return ref::from_values({}, {s});
}

// ---- linear ----------------------------------------------------------------------------

void add_linear(std::vector<OpCase>& out) {
  const Layout T = Layout::transposed;
  struct LS {
    In x, w;
    bool bias;
  };
  const std::vector<LS> specs = {
      {In{{4, 3}}, In{{5, 3}}, true},
      {In{{2, 3, 4}}, In{{6, 4}}, false},
      {In{{3}}, In{{2, 3}}, true},  // an unbatched input
      {In{{4, 3}, Dist::normal, T}, In{{5, 3}, Dist::normal, T}, true},
      {In{{64, 128}}, In{{96, 128}}, true},
  };
  for (DType dt : {DType::f32, DType::f64})
    for (size_t k = 0; k < specs.size(); ++k) {
      if (dt == DType::f64 && k == specs.size() - 1) continue;
      const LS& s = specs[k];
      std::vector<In> ins = {s.x, s.w};
      if (s.bias) ins.push_back(In{{s.w.shape[0]}});
      OpCase c = make_case("linear", "linear", ins_tag(ins), dt, ins);
      c.run = [](const Inputs& x) {
        return Outputs{F::linear(x[0], x[1], x.size() > 2 ? x[2] : Tensor())};
      };
      c.reference = [](const Refs& x) {
        ref::RefTensor y = ref::matmul(x[0], ref::transpose(x[1], 0, 1));
        if (x.size() > 2) y = ref::zip(y, x[2], [](double a, double b) { return a + b; });
        return Refs{y};
      };
      c.out_dtypes = {dt};
      c.tol = tolerance(dt, TolKind::matmul);
      c.flops = [](const Inputs& x) {
        double mn =
            numel_d(x[0]) / static_cast<double>(x[0].size(-1)) * static_cast<double>(x[1].size(0));
        return mn * (2.0 * static_cast<double>(x[1].size(1)) + (x.size() > 2 ? 1.0 : 0.0));
      };
      c.bytes = [](const Inputs& x) {
        double b = 0;
        for (const Tensor& t : x) b += bytes_of(t);
        double outs =
            numel_d(x[0]) / static_cast<double>(x[0].size(-1)) * static_cast<double>(x[1].size(0));
        return b + outs * static_cast<double>(x[0].element_size());
      };
      c.grad_inputs = s.bias ? std::vector<int>{0, 1, 2} : std::vector<int>{0, 1};
      out.push_back(std::move(c));
    }
}

// ---- elementwise losses ------------------------------------------------------------------

// Loss cost: `per_elem` flops per element, both inputs read, the (reduced) output written.
void set_loss_cost(OpCase& c, double per_elem, Reduction r) {
  c.flops = [per_elem](const Inputs& x) { return per_elem * numel_d(x[0]); };
  c.bytes = [r](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return b + (r == Reduction::none ? bytes_of(x[0]) : static_cast<double>(x[0].element_size()));
  };
}

void add_pointwise_losses(std::vector<OpCase>& out) {
  const std::vector<Shape> shapes = {{3, 4}, {2, 3, 5}, {1031, 97}};
  for (const char* op : {"mse_loss", "l1_loss"})
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
        for (size_t k = 0; k < shapes.size(); ++k) {
          if (dt == DType::f64 && k == shapes.size() - 1) continue;
          if (is_half(dt) && k > 1) continue;  // issue 16: composites of half ops
          std::vector<In> ins = {
              In{shapes[k]},
              In{shapes[k], Dist::normal, k == 1 ? Layout::transposed : Layout::contiguous}};
          OpCase c = make_case(op, "loss", ins_tag(ins) + "_" + reduction_tag(r), dt, ins);
          const bool mse = std::string(op) == "mse_loss";
          c.run = [mse, r](const Inputs& x) {
            return Outputs{mse ? F::mse_loss(x[0], x[1], r) : F::l1_loss(x[0], x[1], r)};
          };
          c.reference = [mse, r](const Refs& x) {
            auto f = [mse](double a, double b) {
              return mse ? (a - b) * (a - b) : std::fabs(a - b);
            };
            return Refs{reduce_ref(ref::zip(x[0], x[1], f), r)};
          };
          c.out_dtypes = {dt};
          c.tol = tolerance(dt, r == Reduction::none ? TolKind::elementwise : TolKind::reduction);
          set_loss_cost(c, mse ? 3 : 2, r);
          if (!is_half(dt)) c.grad_inputs = {0, 1};
          out.push_back(std::move(c));
        }
}

// log(1 + exp(-x)), stably.
double softplus_neg(double x) { return std::log1p(std::exp(-std::fabs(x))) + std::max(-x, 0.0); }

void add_bce_with_logits(std::vector<OpCase>& out) {
  // Inputs: logits, targets (soft: the loss is linear in t, so any value is defined),
  // then the optional weight (broadcast to the input) and pos_weight (C, the last dim).
  struct BS {
    Shape shape;
    bool weight, pos_weight;
  };
  const std::vector<BS> specs = {
      {{4, 3}, false, false}, {{4, 3}, true, false},     {{2, 3, 5}, false, true},
      {{4, 3}, true, true},   {{257, 33}, false, false},
  };
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
      for (size_t k = 0; k < specs.size(); ++k) {
        if (dt == DType::f64 && k == specs.size() - 1) continue;
        if (is_half(dt) && k != 0 && k != 2) continue;  // issue 16: composites of half ops
        const BS& s = specs[k];
        std::vector<In> ins = {In{s.shape, Dist::wide}, In{s.shape, Dist::positive}};
        if (s.weight) ins.push_back(In{{s.shape.back()}, Dist::positive});
        if (s.pos_weight) ins.push_back(In{{s.shape.back()}, Dist::positive});
        std::string tag = ins_tag(ins) + (s.weight ? "_w" : "") + (s.pos_weight ? "_pw" : "") +
                          "_" + reduction_tag(r);
        OpCase c = make_case("binary_cross_entropy_with_logits", "loss", tag, dt, ins);
        const bool w = s.weight, pw = s.pos_weight;
        c.run = [w, pw, r](const Inputs& x) {
          F::BceWithLogitsOptions o;
          o.reduction = r;
          if (w) o.weight = x[2];
          if (pw) o.pos_weight = x[w ? 3 : 2];
          return Outputs{F::binary_cross_entropy_with_logits(x[0], x[1], o)};
        };
        c.reference = [w, pw, r](const Refs& x) {
          ref::RefTensor loss = ref::filled(x[0].shape, 0.0);
          for (int64_t i = 0; i < loss.numel(); ++i) {
            ref::Index idx = ref::unravel(i, loss.shape);
            double xi = x[0].data[static_cast<size_t>(i)], t = x[1].data[static_cast<size_t>(i)];
            double p = pw ? ref::bget(x[w ? 3 : 2], idx) : 1.0;
            // -[p t log s(x) + (1 - t) log(1 - s(x))], log s(x) = -softplus(-x),
            // log(1 - s(x)) = -x - softplus(-x).
            double l = p * t * softplus_neg(xi) + (1.0 - t) * (xi + softplus_neg(xi));
            loss.data[static_cast<size_t>(i)] = w ? l * ref::bget(x[2], idx) : l;
          }
          return Refs{reduce_ref(loss, r)};
        };
        c.out_dtypes = {dt};
        c.tol = tolerance(dt, r == Reduction::none ? TolKind::transcendental : TolKind::reduction);
        set_loss_cost(c, 8, r);
        if (!is_half(dt)) c.grad_inputs = {0, 1};
        out.push_back(std::move(c));
      }
}

// ---- nll_loss ------------------------------------------------------------------------------

void add_nll_loss(std::vector<OpCase>& out) {
  // input (N, C) or (N, C, D) log-probabilities (any values do), target (N) or (N, D)
  // class indices, optional weight (C). ignore_index 1 makes some rows ignored.
  struct NS {
    Shape input;
    bool weight;
    int64_t ignore_index;
  };
  const std::vector<NS> specs = {
      {{5, 4}, false, -100}, {{5, 4}, true, -100},    {{6, 3}, true, 1},
      {{2, 4, 3}, false, 1}, {{2, 4, 3}, true, -100}, {{512, 100}, false, -100},
  };
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})  // halves: halfnn2
      for (size_t k = 0; k < specs.size(); ++k) {
        if ((dt == DType::f64 || is_half(dt)) && k == specs.size() - 1) continue;
        const NS& s = specs[k];
        const int64_t C = s.input[1];
        Shape tshape = s.input;
        tshape.erase(tshape.begin() + 1);
        In target{tshape, Dist::index};
        target.index_high = C;
        std::vector<In> ins = {In{s.input}, target};
        if (s.weight) ins.push_back(In{{C}, Dist::positive});
        std::string tag = ins_tag(ins) + (s.weight ? "_w" : "") +
                          (s.ignore_index >= 0 ? "_ign" + std::to_string(s.ignore_index) : "") +
                          "_" + reduction_tag(r);
        OpCase c = make_case("nll_loss", "loss", tag, dt, ins);
        const bool w = s.weight;
        const int64_t ign = s.ignore_index;
        c.run = [w, ign, r](const Inputs& x) {
          F::NllLossOptions o;
          o.reduction = r;
          o.ignore_index = ign;
          if (w) o.weight = x[2];
          return Outputs{F::nll_loss(x[0], x[1], o)};
        };
        c.reference = [w, ign, r](const Refs& x) {
          const ref::RefTensor& in = x[0];
          const ref::RefTensor& t = x[1];
          ref::RefTensor loss = ref::filled(t.shape, 0.0);
          double wsum = 0;
          for (int64_t i = 0; i < t.numel(); ++i) {
            ref::Index ti = ref::unravel(i, t.shape);
            auto cls = static_cast<int64_t>(t.data[static_cast<size_t>(i)]);
            if (cls == ign) continue;
            double wi = w ? x[2].data[static_cast<size_t>(cls)] : 1.0;
            ref::Index ii = ti;
            ii.insert(ii.begin() + 1, cls);
            loss.data[static_cast<size_t>(i)] = -wi * in[ii];
            wsum += wi;
          }
          if (r != Reduction::mean) return Refs{reduce_ref(loss, r)};
          return Refs{ref::from_values({}, {ref::sum_of(loss.data) / wsum})};
        };
        c.out_dtypes = {dt};
        c.tol = tolerance(dt, r == Reduction::none ? TolKind::elementwise : TolKind::reduction);
        c.flops = [](const Inputs& x) { return 2.0 * numel_d(x[1]); };
        c.bytes = [](const Inputs& x) {
          double b =
              numel_d(x[1]) * (8.0 + static_cast<double>(x[0].element_size()));  // target, picked
          if (x.size() > 2) b += bytes_of(x[2]);
          return b + numel_d(x[1]) * static_cast<double>(x[0].element_size());
        };
        if (!is_half(dt)) c.grad_inputs = {0};
        out.push_back(std::move(c));
      }
}

}  // namespace

void add_linear_loss_cases(std::vector<OpCase>& out) {
  add_linear(out);
  add_pointwise_losses(out);
  add_bce_with_logits(out);
  add_nll_loss(out);
}

}  // namespace ember::cases
