// The matmul family in bf16 and f16 (issue 16, autocast): matmul in its forms, mm, bmm,
// addmm, baddbmm and linear forward, and the gradients of matmul and linear computed by
// autograd in the 16-bit dtype, each against the f64 reference of the (exactly
// representable) 16-bit inputs. mm and bmm get f32 and f64 cases too (gradcheck in f64).
//
// Tolerance (half_matmul_tolerance): the kernels accumulate in f32 and round once, so a
// plain product is off by half an ulp of its own value (rtol = 4 eps covers that and a
// different f32 summation order on another device). A composite (addmm's product plus the
// scaled input, linear's bias add, a gradient summed over a broadcast batch) rounds an
// intermediate product first: half an ulp of a value whose size, for unit-variance
// inputs, is about sqrt(K) for K terms, which cancellation against the other operand can
// leave in a result near zero. Hence atol = eps * sqrt(K) (K the contraction length,
// at least 1), eps = 2^-7 for bf16 and 2^-10 for f16.
// Napkin math as cases_linalg.cpp: 2*M*N*K flops per product.
#include <algorithm>
#include <cmath>

#include "nn/functional.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;
using ref::RefTensor;

Tolerance half_matmul_tolerance(DType dt, int64_t k) {
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  return {eps * std::sqrt(static_cast<double>(std::max<int64_t>(k, 1))), 4 * eps};
}

OpCase make_case(const std::string& op, const std::string& family, const std::string& tag, DType dt,
                 std::vector<In> ins) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = family;
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(std::move(ins));
  c.out_dtypes = {dt};
  return c;
}

// 2 K flops per output element of torch.matmul's shape rule.
double product_flops(const Inputs& x) {
  Shape a = x[0].sizes(), b = x[1].sizes();
  if (a.size() == 1) a.insert(a.begin(), 1);
  if (b.size() == 1) b.push_back(1);
  Shape outs = ref::broadcast(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  outs.push_back(a[a.size() - 2]);
  outs.push_back(b.back());
  return 2.0 * static_cast<double>(a.back()) * static_cast<double>(ref::numel_of(outs));
}
double all_bytes(const Inputs& x) {
  double b = 0;
  for (const Tensor& t : x) b += bytes_of(t);
  return b;
}

// matmul forward in its forms (the shapes of cases_linalg.cpp that matter for the kernels).
void add_matmul_half(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  const Layout T = Layout::transposed, S = Layout::strided, E = Layout::expanded;
  const std::vector<std::pair<In, In>> pairs = {
      {In{{7}}, In{{7}}},                          // dot
      {In{{33, 17}}, In{{17, 9}}},                 // mm, odd sizes
      {In{{5}}, In{{5, 4}}},                       // vector @ matrix
      {In{{2, 3, 5}}, In{{2, 5, 4}}},              // bmm
      {In{{2, 1, 3, 5}}, In{{4, 5, 2}}},           // broadcast batch dims
      {In{{2, 3, 5}}, In{{5, 4}}},                 // batched @ matrix (linear)
      {In{{3, 5}, N, T}, In{{5, 4}, N, T}},        // both transposed
      {In{{3, 5}, N, S}, In{{5, 4}, N, S}},        // strided rows
      {In{{3, 3, 5}, N, E}, In{{3, 5, 2}}},        // expanded batch (stride 0)
      {In{{3, 0}}, In{{0, 4}}},                    // K = 0: zeros
      {In{{64, 128}}, In{{128, 48}}},              // several tiles
      {In{{2, 65, 130}, N, T}, In{{130, 33}}},     // odd sizes, permuted
      {In{{1, 2, 64, 256}}, In{{3, 1, 256, 16}}},  // broadcast batches, K = 256
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const auto& pr : pairs) {
      const In& a = pr.first;
      const In& b = pr.second;
      OpCase c = make_case("matmul", "matmul", ins_tag({a, b}), dt, {a, b});
      c.run = [](const Inputs& x) { return Outputs{matmul(x[0], x[1])}; };
      c.reference = [](const Refs& x) { return Refs{ref::matmul(x[0], x[1])}; };
      c.tol = half_matmul_tolerance(dt, a.shape.back());
      c.flops = product_flops;
      c.bytes = all_bytes;
      out.push_back(std::move(c));
    }
}

// mm and bmm: f32 and f64 (gradcheck) and the halves.
void add_mm_bmm(std::vector<OpCase>& out) {
  const std::vector<std::pair<In, In>> mm_pairs = {{In{{3, 5}}, In{{5, 4}}},
                                                   {In{{40, 70}}, In{{70, 9}}}};
  const std::vector<std::pair<In, In>> bmm_pairs = {{In{{2, 3, 5}}, In{{2, 5, 4}}},
                                                    {In{{3, 17, 33}}, In{{3, 33, 8}}}};
  for (bool batched : {false, true})
    for (DType dt : {DType::f32, DType::f64, DType::bf16, DType::f16})
      for (const auto& pr : batched ? bmm_pairs : mm_pairs) {
        const In& a = pr.first;
        const In& b = pr.second;
        OpCase c = make_case(batched ? "bmm" : "mm", "matmul", ins_tag({a, b}), dt, {a, b});
        c.run = [batched](const Inputs& x) {
          return Outputs{batched ? bmm(x[0], x[1]) : mm(x[0], x[1])};
        };
        c.reference = [](const Refs& x) { return Refs{ref::matmul(x[0], x[1])}; };
        c.tol = is_half(dt) ? half_matmul_tolerance(dt, a.shape.back())
                            : tolerance(dt, TolKind::matmul);
        c.flops = product_flops;
        c.bytes = all_bytes;
        if (dt == DType::f64) c.grad_inputs = {0, 1};
        out.push_back(std::move(c));
      }
}

RefTensor ref_scaled_sum(const RefTensor& input, const RefTensor& p, double beta, double alpha) {
  RefTensor r = p;
  for (size_t i = 0; i < r.data.size(); ++i)
    r.data[i] = alpha * p.data[i] + beta * ref::bget(input, ref::unravel(i, p.shape));
  return r;
}

// addmm and baddbmm: the product rounded, then scaled and added (a composite).
void add_addmm_half(std::vector<OpCase>& out) {
  struct A {
    bool batched;
    In input, m1, m2;
    double beta, alpha;
  };
  const std::vector<A> specs = {
      {false, In{{5}}, In{{3, 40}}, In{{40, 5}}, 1.0, 1.0},
      {false, In{{3, 5}}, In{{3, 4}, Dist::normal, Layout::transposed}, In{{4, 5}}, 0.5, -2.0},
      {true, In{{2, 3, 5}}, In{{2, 3, 64}}, In{{2, 64, 5}}, 1.0, 1.0},
      {true, In{{3, 5}}, In{{2, 3, 4}}, In{{2, 4, 5}}, 2.0, -0.5},
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const A& s : specs) {
      OpCase c = make_case(
          s.batched ? "baddbmm" : "addmm", "addmm",
          ins_tag({s.input, s.m1, s.m2}) + (s.beta != 1.0 || s.alpha != 1.0 ? "_scaled" : ""), dt,
          {s.input, s.m1, s.m2});
      const double beta = s.beta, alpha = s.alpha;
      const bool batched = s.batched;
      c.run = [=](const Inputs& x) {
        return Outputs{batched ? baddbmm(x[0], x[1], x[2], beta, alpha)
                               : addmm(x[0], x[1], x[2], beta, alpha)};
      };
      c.reference = [=](const Refs& x) {
        return Refs{ref_scaled_sum(x[0], ref::matmul(x[1], x[2]), beta, alpha)};
      };
      c.tol = half_matmul_tolerance(dt, s.m1.shape.back());
      c.flops = [](const Inputs& x) { return product_flops({x[1], x[2]}); };
      c.bytes = all_bytes;
      out.push_back(std::move(c));
    }
}

// linear forward: the product and the bias add, each rounded.
void add_linear_half(std::vector<OpCase>& out) {
  const std::vector<std::vector<In>> specs = {
      {In{{4, 3}}, In{{5, 3}}, In{{5}}},
      {In{{2, 3, 40}}, In{{6, 40}}},
      {In{{64, 128}}, In{{96, 128}}, In{{96}}},
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const auto& ins : specs) {
      OpCase c = make_case("linear", "linear", ins_tag(ins), dt, ins);
      c.run = [](const Inputs& x) {
        return Outputs{F::linear(x[0], x[1], x.size() > 2 ? x[2] : Tensor())};
      };
      c.reference = [](const Refs& x) {
        RefTensor y = ref::matmul(x[0], ref::transpose(x[1], 0, 1));
        if (x.size() > 2) y = ref::zip(y, x[2], [](double a, double b) { return a + b; });
        return Refs{y};
      };
      c.tol = half_matmul_tolerance(dt, ins[1].shape[1]);
      c.flops = [](const Inputs& x) {
        return 2.0 * numel_d(x[0]) * static_cast<double>(x[1].size(0));
      };
      c.bytes = all_bytes;
      out.push_back(std::move(c));
    }
}

// (rows, cols) view of a reference of rank >= 2: leading dims folded into the rows.
RefTensor rows_of(const RefTensor& x) {
  const int64_t cols = x.shape.back();
  return ref::reshape(x, {x.numel() / std::max<int64_t>(cols, 1), cols});
}

// Backward in the 16-bit dtype: a and b (requiring grad) and the upstream gradient g of the
// output's shape; outputs y, dA = g @ b^T, dB = a^T @ g (summed over a's batch when b is a
// matrix, linear's case: one GEMM over the folded rows). `linear` runs F::linear(a, b)
// with b (out, in), so dB = g^T @ a there.
void add_backward_half(std::vector<OpCase>& out) {
  struct BS {
    bool linear;
    In a, b, g;
  };
  const Layout T = Layout::transposed;
  const std::vector<BS> specs = {
      {false, In{{9, 33}}, In{{33, 7}}, In{{9, 7}}},
      {false, In{{2, 5, 16}}, In{{2, 16, 3}}, In{{2, 5, 3}}},
      {false, In{{3, 6, 20}, Dist::normal, T}, In{{20, 4}}, In{{3, 6, 4}}},
      {true, In{{4, 8, 48}}, In{{10, 48}}, In{{4, 8, 10}}},
  };
  for (DType dt : {DType::bf16, DType::f16})
    for (const BS& s : specs) {
      OpCase c = make_case(s.linear ? "linear" : "matmul", s.linear ? "linear" : "matmul",
                           ins_tag({s.a, s.b}) + "_backward", dt, {s.a, s.b, s.g});
      const bool linear = s.linear;
      c.run = [linear](const Inputs& x) {
        Tensor a = x[0].detach().requires_grad_(), b = x[1].detach().requires_grad_();
        Tensor y = linear ? F::linear(a, b) : matmul(a, b);
        y.backward(x[2]);
        return Outputs{y.detach(), a.grad(), b.grad()};
      };
      c.reference = [linear](const Refs& x) {
        const RefTensor& a = x[0];
        RefTensor b = linear ? ref::transpose(x[1], 0, 1) : x[1];  // (.., K, N)
        const RefTensor& g = x[2];
        RefTensor y = ref::matmul(a, b);
        RefTensor da = ref::matmul(g, ref::transpose(b, -1, -2));
        RefTensor db = b.dim() == 2 ? ref::matmul(ref::transpose(rows_of(a), 0, 1), rows_of(g))
                                    : ref::matmul(ref::transpose(a, -1, -2), g);
        if (linear) db = ref::transpose(db, 0, 1);
        return Refs{y, da, db};
      };
      c.out_dtypes = {dt, dt, dt};
      // The longest contraction: K (y), N (dA), the folded rows (dB).
      const int64_t rows = ref::numel_of(s.g.shape) / s.g.shape.back();
      c.tol = half_matmul_tolerance(dt, std::max({s.a.shape.back(), s.g.shape.back(), rows}));
      c.flops = [linear](const Inputs& x) {  // forward and two gradient products
        return 3.0 * product_flops({x[0], linear ? x[1].t() : x[1]});
      };
      c.bytes = all_bytes;
      out.push_back(std::move(c));
    }
}

}  // namespace

void add_matmul_half_cases(std::vector<OpCase>& out) {
  add_matmul_half(out);
  add_mm_bmm(out);
  add_addmm_half(out);
  add_linear_half(out);
  add_backward_half(out);
}

}  // namespace ember::cases
