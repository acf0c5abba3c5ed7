// nn::functional's remaining pointwise losses: smooth_l1_loss, huber_loss,
// binary_cross_entropy (with weight) and kl_div (with batchmean and log_target), every
// reduction. Napkin math: a few flops per element, both inputs read, the (reduced) output
// written.
#include <cmath>

#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using F::KlDivReduction;
using F::Reduction;

OpCase make_case(const std::string& op, const std::string& tag, DType dt, std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = "loss";
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

void set_cost(OpCase& c, double per_elem, bool reduced) {
  c.flops = [per_elem](const Inputs& x) { return per_elem * numel_d(x[0]); };
  c.bytes = [reduced](const Inputs& x) {
    double b = 0;
    for (const Tensor& t : x) b += bytes_of(t);
    return b + (reduced ? static_cast<double>(x[0].element_size()) : bytes_of(x[0]));
  };
}

const std::vector<Shape> kShapes = {{3, 4}, {2, 3, 5}, {1031, 97}};
const std::vector<Reduction> kReductions = {Reduction::mean, Reduction::sum, Reduction::none};

// ---- smooth_l1_loss, huber_loss ------------------------------------------------------------

// randn inputs differ by N(0, 2): both sides of beta (delta) are reached in every case.
void add_smooth(std::vector<OpCase>& out) {
  for (const char* op : {"smooth_l1_loss", "huber_loss"})
    for (double beta : {1.0, 0.5, 0.0})
      for (Reduction r : kReductions)
        for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
          for (size_t k = 0; k < kShapes.size(); ++k) {
            const bool huber = std::string(op) == "huber_loss";
            if (huber && beta == 0.0) continue;                   // delta must be positive
            if (is_half(dt) && (k > 1 || beta != 1.0)) continue;  // issue 16: half composites
            if (dt == DType::f64 && k == kShapes.size() - 1) continue;
            if (beta != 1.0 && k == kShapes.size() - 1) continue;
            std::vector<In> ins = {
                In{kShapes[k]},
                In{kShapes[k], Dist::normal, k == 1 ? Layout::transposed : Layout::contiguous}};
            char b[16];
            std::snprintf(b, sizeof b, "b%g", beta);
            OpCase c = make_case(op, ins_tag(ins) + "_" + b + "_" + reduction_tag(r), dt, ins);
            c.run = [huber, r, beta](const Inputs& x) {
              return Outputs{huber ? F::huber_loss(x[0], x[1], r, beta)
                                   : F::smooth_l1_loss(x[0], x[1], r, beta)};
            };
            c.reference = [huber, r, beta](const Refs& x) {
              auto f = [huber, beta](double a, double t) {
                double d = std::fabs(a - t);
                if (huber) return d < beta ? 0.5 * d * d : beta * (d - 0.5 * beta);
                if (beta == 0.0) return d;
                return d < beta ? 0.5 * d * d / beta : d - 0.5 * beta;
              };
              return Refs{reduce_ref(ref::zip(x[0], x[1], f), r)};
            };
            c.out_dtypes = {dt};
            c.tol = tolerance(dt, r == Reduction::none ? TolKind::elementwise : TolKind::reduction);
            set_cost(c, 5, r != Reduction::none);
            if (!is_half(dt)) c.grad_inputs = {0, 1};
            out.push_back(std::move(c));
          }
}

// ---- binary_cross_entropy ------------------------------------------------------------------

// Probabilities and soft targets in [0.1, 0.9): Dist::positive ([0.25, 2.25)) times 0.4.
constexpr double kProbScale = 0.4;

void add_bce(std::vector<OpCase>& out) {
  for (bool weight : {false, true})
    for (Reduction r : kReductions)
      for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
        for (size_t k = 0; k < kShapes.size(); ++k) {
          if (dt == DType::f64 && k == kShapes.size() - 1) continue;
          if (is_half(dt) && k > 1) continue;  // issue 16, halfnn2: half composites
          if (weight && k == kShapes.size() - 1) continue;
          const Shape& s = kShapes[k];
          std::vector<In> ins = {In{s, Dist::positive}, In{s, Dist::positive}};
          if (weight) ins.push_back(In{{s.back()}, Dist::positive});  // broadcast
          std::string tag = ins_tag(ins) + (weight ? "_w_" : "_") + reduction_tag(r);
          OpCase c = make_case("binary_cross_entropy", tag, dt, ins);
          c.run = [weight, r](const Inputs& x) {
            F::BceOptions o;
            o.reduction = r;
            if (weight) o.weight = x[2];
            return Outputs{F::binary_cross_entropy(x[0] * kProbScale, x[1] * kProbScale, o)};
          };
          c.reference = [weight, r](const Refs& x) {
            ref::RefTensor loss = ref::filled(x[0].shape, 0.0);
            for (int64_t i = 0; i < loss.numel(); ++i) {
              auto u = static_cast<size_t>(i);
              double p = x[0].data[u] * kProbScale, t = x[1].data[u] * kProbScale;
              double l = -(t * std::log(p) + (1.0 - t) * std::log(1.0 - p));
              loss.data[u] = weight ? l * ref::bget(x[2], ref::unravel(i, loss.shape)) : l;
            }
            return Refs{reduce_ref(loss, r)};
          };
          c.out_dtypes = {dt};
          c.tol =
              tolerance(dt, r == Reduction::none ? TolKind::transcendental : TolKind::reduction);
          set_cost(c, 9, r != Reduction::none);
          if (!is_half(dt)) c.grad_inputs = {0, 1};
          out.push_back(std::move(c));
        }
}

// ---- kl_div --------------------------------------------------------------------------------

const char* kl_tag(KlDivReduction r) {
  switch (r) {
    case KlDivReduction::none: return "none";
    case KlDivReduction::mean: return "mean";
    case KlDivReduction::sum: return "sum";
    case KlDivReduction::batchmean: return "batchmean";
  }
  return "?";
}

void add_kl_div(std::vector<OpCase>& out) {
  for (bool log_target : {false, true})
    for (KlDivReduction r : {KlDivReduction::mean, KlDivReduction::sum, KlDivReduction::none,
                             KlDivReduction::batchmean})
      for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
        for (size_t k = 0; k < kShapes.size(); ++k) {
          if (dt == DType::f64 && k == kShapes.size() - 1) continue;
          if (is_half(dt) && k > 1) continue;  // issue 16, halfnn2: half composites
          const Shape& s = kShapes[k];
          // input: log-probabilities (any values); target: probabilities (> 0) or their logs.
          std::vector<In> ins = {In{s}, In{s, log_target ? Dist::normal : Dist::positive,
                                           k == 1 ? Layout::transposed : Layout::contiguous}};
          std::string tag = ins_tag(ins) + (log_target ? "_logt_" : "_") + kl_tag(r);
          OpCase c = make_case("kl_div", tag, dt, ins);
          c.run = [log_target, r](const Inputs& x) {
            return Outputs{F::kl_div(x[0], x[1], r, log_target)};
          };
          c.reference = [log_target, r](const Refs& x) {
            auto f = [log_target](double in, double t) {
              return log_target ? std::exp(t) * (t - in) : t * (std::log(t) - in);
            };
            ref::RefTensor loss = ref::zip(x[0], x[1], f);
            switch (r) {
              case KlDivReduction::none: return Refs{loss};
              case KlDivReduction::mean: return Refs{reduce_ref(loss, Reduction::mean)};
              case KlDivReduction::sum: return Refs{reduce_ref(loss, Reduction::sum)};
              case KlDivReduction::batchmean: break;
            }
            double n = static_cast<double>(x[0].shape[0]);
            return Refs{ref::from_values({}, {ref::sum_of(loss.data) / n})};
          };
          c.out_dtypes = {dt};
          c.tol = tolerance(
              dt, r == KlDivReduction::none ? TolKind::transcendental : TolKind::reduction);
          set_cost(c, 4, r != KlDivReduction::none);
          if (!is_half(dt)) c.grad_inputs = {0, 1};
          out.push_back(std::move(c));
        }
}

}  // namespace

void add_smooth_loss_cases(std::vector<OpCase>& out) {
  add_smooth(out);
  add_bce(out);
  add_kl_div(out);
}

}  // namespace ember::cases
