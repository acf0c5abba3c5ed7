// The fused optimizer steps raw::adam_step (Adam and AdamW: weight decay, amsgrad,
// maximize) and raw::sgd_step (momentum, dampening, Nesterov, weight decay, maximize, the
// first step), and raw::multi_tensor_norm (norm types 1, 2, 3, inf; NaN propagation).
// One case is one parameter group of tensors of many sizes: 1 element up to past the
// 65536-element chunk, sizes that are not multiples of the pack width (4 floats,
// 2 doubles), and every other tensor misaligned (storage offset 1, the scalar path).
// Each tensor lives inside a buffer two elements longer: the case's inputs and outputs
// are the whole buffers, so an element written outside the tensor is a mismatch too.
// The steps run twice (step counts differ per tensor; SGD's first step then a later
// one); the reference is torch.optim's formula in f64. bf16/f16 parameters keep f32 state
// (tensor/optim_state_dtype.h), with learning rates large enough that an update moves a
// parameter by several of its ulps (a skipped update or a rounding per operation shows).
// Napkin math per element: Adam about 16 flops, reads p, g, m, v (and vmax), writes p,
// m, v (and vmax); SGD about 6 flops; the norm 2 flops and one read.
#include <cmath>
#include <limits>

#include "registry/builders.h"
#include "registry/reference_nn.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

// Sizes around the pack width and the chunk.
const std::vector<int64_t> kSizes = {1, 2, 3, 4, 5, 7, 64, 127, 1000, 4097, 65536 + 5};
constexpr int kRounds = 2;

int64_t offset_of(bool misaligned) { return misaligned ? 1 : 0; }

// The tensor inside buffer `b` of n + 2 elements.
Tensor inner(const Tensor& b, bool misaligned) {
  return b.narrow(0, offset_of(misaligned), b.numel() - 2);
}

// A buffer of n + 2 values of `scale` * N(0, 1).
Tensor buffer(int64_t n, DType dt, Device dev, double scale) {
  return randn({n + 2}, {.dtype = dt, .device = dev}) * scale;
}

// Writes the inner elements of a reference buffer, leaving the two others.
void set_inner(ref::RefTensor& b, bool misaligned, const std::vector<double>& values) {
  std::copy(values.begin(), values.end(), b.data.begin() + offset_of(misaligned));
}

std::vector<double> inner_values(const ref::RefTensor& b, bool misaligned) {
  const int64_t at = offset_of(misaligned), n = b.numel() - 2;
  return {b.data.begin() + at, b.data.begin() + at + n};
}

// bf16/f16 parameters: the f32 update rounded once per step (half an ulp each of the two
// rounds, against an f64 reference that never rounds). A parameter that crosses zero keeps
// the first round's half ulp of a value up to one update larger: atol (the cases' updates
// stay below 0.5, and are 10 to 100 times atol).
Tolerance half_step_tol(DType dt) {
  const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
  return {0.5 * eps, eps};
}

double elements(const std::vector<int64_t>& sizes) {
  double n = 0;
  for (int64_t s : sizes) n += static_cast<double>(s);
  return n;
}

OpCase group_case(const std::string& op, const std::string& family, const std::string& tag,
                  DType dt) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = family;
  c.op = op;
  c.dtype = dt;
  return c;
}

// ---- Adam ------------------------------------------------------------------------------

// Inputs per tensor i: param, grad, exp_avg, exp_avg_sq (positive), and max_exp_avg_sq
// with amsgrad; tensor i of a mixed group is f64 when i is odd.
OpCase adam_case(const std::string& tag, const AdamStepParams& p, DType dt,
                 std::vector<int64_t> sizes = kSizes, bool mixed = false) {
  OpCase c = group_case("adam_step", "adam", tag, dt);
  const int per = p.amsgrad ? 5 : 4;
  auto dtype_of = [mixed, dt](size_t i) { return mixed && i % 2 == 1 ? DType::f64 : dt; };
  c.make_inputs = [=](Device dev, DType) {
    Inputs in;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const DType d = dtype_of(i), sd = optim_state_dtype(d);
      const int64_t n = sizes[i];
      Tensor s = buffer(n, sd, dev, 0.01);
      Tensor v = s * s + 1e-6;
      in.push_back(buffer(n, d, dev, 1.0));
      in.push_back(buffer(n, d, dev, 0.5));
      in.push_back(buffer(n, sd, dev, 0.1));
      in.push_back(v);
      if (p.amsgrad) in.push_back(v * 1.5);
    }
    return in;
  };
  // Tensor i is misaligned when i is odd; its max_exp_avg_sq the other way round.
  auto mis = [](size_t i, int k) { return (i % 2 == 1) != (k == 4); };
  c.run = [=](const Inputs& x) {
    std::vector<Tensor> views;
    for (size_t t = 0; t < x.size(); ++t)
      views.push_back(inner(x[t], mis(t / static_cast<size_t>(per), static_cast<int>(t) % per)));
    for (int round = 0; round < kRounds; ++round) {
      std::vector<AdamTensors> group;
      for (size_t i = 0; i < sizes.size(); ++i) {
        const Tensor* v = &views[i * static_cast<size_t>(per)];
        group.push_back({v, v + 1, v + 2, v + 3, p.amsgrad ? v + 4 : nullptr,
                         static_cast<int64_t>(1 + 3 * i) + round});
      }
      raw::adam_step(group, p);
    }
    return Outputs(x.begin(), x.end());
  };
  c.reference = [=](const Refs& x) {
    Refs r = x;
    for (size_t i = 0; i < sizes.size(); ++i) {
      ref::RefTensor* b = &r[i * static_cast<size_t>(per)];
      const bool m = mis(i, 0);
      std::vector<double> param = inner_values(b[0], m), grad = inner_values(b[1], m);
      std::vector<double> avg = inner_values(b[2], m), sq = inner_values(b[3], m), vmax;
      if (p.amsgrad) vmax = inner_values(b[4], mis(i, 4));
      for (int round = 0; round < kRounds; ++round)
        ref::adam_step(param, grad, avg, sq, p.amsgrad ? &vmax : nullptr,
                       static_cast<int64_t>(1 + 3 * i) + round, p);
      set_inner(b[0], m, param);
      set_inner(b[2], m, avg);
      set_inner(b[3], m, sq);
      if (p.amsgrad) set_inner(b[4], mis(i, 4), vmax);
    }
    return r;
  };
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int k = 0; k < per; ++k)
      c.out_dtypes.push_back(k < 2 ? dtype_of(i) : optim_state_dtype(dtype_of(i)));
  // A few roundings of the parameter and of the update (an update is about lr).
  // exp_avg is a difference of terms about 0.1 in size: their f32 roundings are absolute.
  c.tol = dt == DType::f64 ? Tolerance{1e-15, 1e-13} : Tolerance{5e-8, 2e-6};
  if (is_half(dt)) c.tol = half_step_tol(dt);
  const double n = elements(sizes);
  c.flops = [n](const Inputs&) { return kRounds * 16.0 * n; };
  c.bytes = [n, per](const Inputs& x) {
    const double esize = static_cast<double>(x[0].element_size());
    return kRounds * n * esize * (2.0 * per - 1);  // all read, all but the grad written
  };
  return c;
}

// ---- SGD -------------------------------------------------------------------------------

// Inputs per tensor: param, grad, and the momentum buffer (random: the first step must
// overwrite it) with momentum. Round 0 is the first step.
OpCase sgd_case(const std::string& tag, const SgdStepParams& p, DType dt) {
  OpCase c = group_case("sgd_step", "sgd", tag, dt);
  const bool momentum = p.momentum != 0.0;
  const int per = momentum ? 3 : 2;
  const std::vector<int64_t> sizes = kSizes;
  c.make_inputs = [=](Device dev, DType d) {
    Inputs in;
    for (int64_t n : sizes) {
      in.push_back(buffer(n, d, dev, 1.0));
      in.push_back(buffer(n, d, dev, 1.0));
      if (momentum) in.push_back(buffer(n, optim_state_dtype(d), dev, 1.0));
    }
    return in;
  };
  auto mis = [](size_t i) { return i % 3 == 1; };
  c.run = [=](const Inputs& x) {
    std::vector<Tensor> views;
    for (size_t t = 0; t < x.size(); ++t)
      views.push_back(inner(x[t], mis(t / static_cast<size_t>(per))));
    for (int round = 0; round < kRounds; ++round) {
      std::vector<SgdTensors> group;
      for (size_t i = 0; i < sizes.size(); ++i) {
        const Tensor* v = &views[i * static_cast<size_t>(per)];
        group.push_back({v, v + 1, momentum ? v + 2 : nullptr, round == 0});
      }
      raw::sgd_step(group, p);
    }
    return Outputs(x.begin(), x.end());
  };
  c.reference = [=](const Refs& x) {
    Refs r = x;
    for (size_t i = 0; i < sizes.size(); ++i) {
      ref::RefTensor* b = &r[i * static_cast<size_t>(per)];
      std::vector<double> param = inner_values(b[0], mis(i)), grad = inner_values(b[1], mis(i));
      std::vector<double> buf = momentum ? inner_values(b[2], mis(i)) : std::vector<double>{};
      for (int round = 0; round < kRounds; ++round)
        ref::sgd_step(param, grad, momentum ? &buf : nullptr, round == 0, p);
      set_inner(b[0], mis(i), param);
      if (momentum) set_inner(b[2], mis(i), buf);
    }
    return r;
  };
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int k = 0; k < per; ++k) c.out_dtypes.push_back(k < 2 ? dt : optim_state_dtype(dt));
  c.tol = dt == DType::f64 ? Tolerance{1e-15, 1e-13} : Tolerance{1e-7, 1e-6};
  if (is_half(dt)) c.tol = half_step_tol(dt);
  const double n = elements(sizes);
  c.flops = [n](const Inputs&) { return kRounds * 6.0 * n; };
  c.bytes = [n, per](const Inputs& x) {
    const double esize = static_cast<double>(x[0].element_size());
    return kRounds * n * esize * (2.0 * per - 1);
  };
  return c;
}

// ---- the multi-tensor norm -----------------------------------------------------------------

// Tensors of every size, f32 and f64 alternately, every third one misaligned (a view at
// offset 1). dist large: magnitudes over 100; with_nan: NaN somewhere in one tensor.
// halves: bf16 and f16 alternately instead (gradients of a bf16/f16 model; issue 16).
OpCase norm_case(const std::string& tag, double norm_type, Dist dist, bool halves = false) {
  OpCase c = group_case("multi_tensor_norm", "multi_norm", tag, halves ? DType::bf16 : DType::f32);
  const std::vector<int64_t> sizes = kSizes;
  c.make_inputs = [=](Device dev, DType) {
    Inputs in;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const DType d =
          halves ? (i % 2 == 1 ? DType::f16 : DType::bf16) : (i % 2 == 1 ? DType::f64 : DType::f32);
      const int64_t n = sizes[i], at = i % 3 == 2 ? 1 : 0;
      Tensor b = randn({n + 1}, {.dtype = d, .device = dev}) * (1.0 + static_cast<double>(i));
      if (dist == Dist::large) b = b * 40.0;
      if (dist == Dist::with_nan && n == 4097)
        b.narrow(0, 1000, 1).fill_(std::numeric_limits<double>::quiet_NaN());
      in.push_back(b.narrow(0, at, n));
    }
    return in;
  };
  c.run = [norm_type](const Inputs& x) {
    return Outputs{full({}, raw::multi_tensor_norm(x, norm_type), {.dtype = DType::f64})};
  };
  c.reference = [norm_type](const Refs& x) {
    return Refs{ref::filled({}, ref::multi_norm(x, norm_type))};
  };
  c.out_dtypes = {DType::f64};
  c.tol = {0.0, 1e-11};
  c.flops = [](const Inputs& x) {
    double n = 0;
    for (const Tensor& t : x) n += numel_d(t);
    return 2.0 * n;
  };
  c.bytes = [](const Inputs& x) {
    double b = 8;
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
  return c;
}

}  // namespace

void add_optim_cases(std::vector<OpCase>& out) {
  struct A {
    const char* tag;
    AdamStepParams p;
  };
  const std::vector<A> adams = {
      {"adam", {.lr = 1e-3}},
      {"adam_l2_amsgrad",
       {.lr = 1e-2,
        .beta1 = 0.8,
        .beta2 = 0.99,
        .eps = 1e-6,
        .weight_decay = 0.1,
        .amsgrad = true}},
      {"adamw_maximize",
       {.lr = 3e-3, .weight_decay = 1e-2, .decoupled_weight_decay = true, .maximize = true}},
      {"adamw_amsgrad",
       {.lr = 1e-3, .weight_decay = 0.05, .decoupled_weight_decay = true, .amsgrad = true}},
  };
  for (const A& a : adams)
    for (DType dt : {DType::f32, DType::f64}) out.push_back(adam_case(a.tag, a.p, dt));
  // One group of an f32 and an f64 parameter: one launch per dtype.
  out.push_back(adam_case("mixed_f32_f64_group", {.lr = 1e-2}, DType::f32, {1001, 37}, true));
  // bf16/f16 parameters with f32 state (issue 16): updates of several ulps.
  const std::vector<A> half_adams = {
      {"adam_half", {.lr = 0.05}},
      {"adam_l2_amsgrad_half",
       {.lr = 0.05, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.1, .amsgrad = true}},
      {"adamw_maximize_half",
       {.lr = 0.05, .weight_decay = 0.1, .decoupled_weight_decay = true, .maximize = true}},
  };
  for (const A& a : half_adams)
    for (DType dt : {DType::bf16, DType::f16}) out.push_back(adam_case(a.tag, a.p, dt));

  struct S {
    const char* tag;
    SgdStepParams p;
  };
  const std::vector<S> sgds = {
      {"plain", {.lr = 0.1}},
      {"momentum_dampening_wd",
       {.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2}},
      {"nesterov_maximize", {.lr = 0.01, .momentum = 0.8, .nesterov = true, .maximize = true}},
  };
  for (const S& s : sgds)
    for (DType dt : {DType::f32, DType::f64}) out.push_back(sgd_case(s.tag, s.p, dt));
  for (const S& s : sgds)  // bf16/f16 parameters, f32 momentum (issue 16)
    for (DType dt : {DType::bf16, DType::f16}) out.push_back(sgd_case(s.tag, s.p, dt));

  const double inf = std::numeric_limits<double>::infinity();
  out.push_back(norm_case("l1", 1.0, Dist::normal));
  out.push_back(norm_case("l2", 2.0, Dist::normal));
  out.push_back(norm_case("l3", 3.0, Dist::normal));
  out.push_back(norm_case("l3.5", 3.5, Dist::normal));
  out.push_back(norm_case("linf", inf, Dist::normal));
  out.push_back(norm_case("linf_large", inf, Dist::large));
  out.push_back(norm_case("l2_nan", 2.0, Dist::with_nan));
  out.push_back(norm_case("linf_nan", inf, Dist::with_nan));
  out.push_back(norm_case("l2_halves", 2.0, Dist::normal, true));
  out.push_back(norm_case("linf_halves", inf, Dist::large, true));
}

}  // namespace ember::cases
