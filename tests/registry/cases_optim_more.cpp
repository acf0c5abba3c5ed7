// The fused steps raw::rmsprop_step (plain, centered, momentum, weight decay, maximize),
// raw::adagrad_step (lr_decay, weight decay, maximize), raw::nadam_step (L2 and decoupled
// weight decay, maximize, mu_product) and raw::radam_step (steps before and after the
// rectification starts, L2 and decoupled weight decay, maximize).
// One case is one parameter group of tensors of many sizes: 1 element up to past the
// 65536-element chunk, sizes that are not multiples of the pack width, and every odd
// tensor misaligned (storage offset 1: the scalar path). Each tensor lives inside a
// buffer two elements longer: the case's inputs and outputs are the whole buffers, so an
// element written outside the tensor is a mismatch too. The steps run twice, tensor i at
// step 1 + 3 i then 2 + 3 i (RAdam: steps 1 to 32 cross rho_t = 5 at step 6); the
// reference is torch.optim's algorithm in f64, written here. bf16/f16 parameters keep f32
// state (tensor/optim_state_dtype.h); their cases take learning rates that move a
// parameter by several ulps a step.
// Napkin math per element: 8-16 flops; reads param, grad and states, writes param and
// states.
#include <cmath>
#include <functional>

#include "registry/builders.h"
#include "registry/reference_optim.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

const std::vector<int64_t> kSizes = {1, 2, 3, 4, 5, 7, 64, 127, 1000, 4097, 65536 + 5};
constexpr int kRounds = 2;

int64_t step_of(size_t tensor, int round) { return static_cast<int64_t>(1 + 3 * tensor) + round; }
bool misaligned(size_t tensor) { return tensor % 2 == 1; }

using Values = std::vector<double>;

// One optimizer's case: `states` state tensors per parameter, made by make_state(k, n)
// from a generator of scaled normal buffers; run(group, round) calls the raw op on the
// views (per tensor: param, grad, states...); ref updates one tensor's values at a step.
struct Spec {
  std::string op, family, tag;
  int states;
  std::function<Tensor(int k, const std::function<Tensor(double)>& normal)> make_state;
  std::function<void(const std::vector<std::vector<const Tensor*>>& group, int round)> run;
  std::function<void(Values& p, const Values& g, std::vector<Values>& s, int64_t step)> ref;
  double flops_per_element;
};

OpCase step_case(const Spec& spec, DType dt) {
  OpCase c;
  c.name = spec.op + "/" + spec.tag + "/" + dtype_tag(dt);
  c.family = spec.family;
  c.op = spec.op;
  c.dtype = dt;
  const int per = 2 + spec.states;
  const std::vector<int64_t> sizes = kSizes;
  c.make_inputs = [=](Device dev, DType d) {
    Inputs in;
    for (int64_t n : sizes) {
      auto normal = [&](double scale) {
        return randn({n + 2}, {.dtype = d, .device = dev}) * scale;
      };
      auto state_normal = [&](double scale) {
        return randn({n + 2}, {.dtype = optim_state_dtype(d), .device = dev}) * scale;
      };
      in.push_back(normal(1.0));  // param
      in.push_back(normal(0.5));  // grad
      for (int k = 0; k < spec.states; ++k) in.push_back(spec.make_state(k, state_normal));
    }
    return in;
  };
  c.run = [=](const Inputs& x) {
    std::vector<Tensor> views;
    for (size_t t = 0; t < x.size(); ++t) {
      const size_t i = t / static_cast<size_t>(per);
      views.push_back(x[t].narrow(0, misaligned(i) ? 1 : 0, sizes[i]));
    }
    std::vector<std::vector<const Tensor*>> group(sizes.size());
    for (size_t t = 0; t < views.size(); ++t)
      group[t / static_cast<size_t>(per)].push_back(&views[t]);
    for (int round = 0; round < kRounds; ++round) spec.run(group, round);
    return Outputs(x.begin(), x.end());
  };
  c.reference = [=](const Refs& x) {
    Refs r = x;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const auto at = static_cast<ptrdiff_t>(misaligned(i) ? 1 : 0);
      auto inner = [&](int k) {
        const Values& d = r[i * static_cast<size_t>(per) + static_cast<size_t>(k)].data;
        return Values(d.begin() + at, d.begin() + at + sizes[i]);
      };
      Values p = inner(0), g = inner(1);
      std::vector<Values> s;
      for (int k = 0; k < spec.states; ++k) s.push_back(inner(2 + k));
      for (int round = 0; round < kRounds; ++round) spec.ref(p, g, s, step_of(i, round));
      auto put = [&](int k, const Values& v) {
        Values& d = r[i * static_cast<size_t>(per) + static_cast<size_t>(k)].data;
        std::copy(v.begin(), v.end(), d.begin() + at);
      };
      put(0, p);
      for (int k = 0; k < spec.states; ++k) put(2 + k, s[static_cast<size_t>(k)]);
    }
    return r;
  };
  for (size_t i = 0; i < sizes.size(); ++i)
    for (int k = 0; k < per; ++k) c.out_dtypes.push_back(k < 2 ? dt : optim_state_dtype(dt));
  // A few roundings of each value; states like square_avg are sums of rounded squares.
  c.tol = dt == DType::f64 ? Tolerance{1e-15, 1e-13} : Tolerance{1e-7, 4e-6};
  // bf16/f16: the f32 update rounded once per step, two steps against an f64 reference that
  // never rounds; atol for a parameter crossing zero, which keeps the first round's half ulp
  // of a value up to one update (< 0.5 in these cases) larger.
  if (is_half(dt)) {
    const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
    c.tol = {0.5 * eps, eps};
  }
  double n = 0;
  for (int64_t s : sizes) n += static_cast<double>(s);
  const double fl = spec.flops_per_element;
  c.flops = [n, fl](const Inputs&) { return kRounds * fl * n; };
  c.bytes = [n, per](const Inputs& x) {
    const double esize = static_cast<double>(x[0].element_size());
    return kRounds * n * esize * (2.0 * per - 1);  // all read, all but the grad written
  };
  return c;
}

// ---- RMSprop -------------------------------------------------------------------------------

Spec rmsprop_spec(const std::string& tag, const RmspropStepParams& p) {
  const bool momentum = p.momentum > 0;
  Spec s;
  s.op = "rmsprop_step";
  s.family = "rmsprop";
  s.tag = tag;
  // square_avg, then momentum_buffer and grad_avg where used. square_avg = grad_avg^2 +
  // a positive part, so the centered variance stays positive.
  s.states = 1 + (momentum ? 1 : 0) + (p.centered ? 1 : 0);
  s.make_state = [](int k, const std::function<Tensor(double)>& normal) {
    if (k == 0) {
      Tensor a = normal(0.1);
      return a * a + 0.05;
    }
    return normal(0.05);
  };
  s.run = [p, momentum](const std::vector<std::vector<const Tensor*>>& group, int) {
    std::vector<RmspropTensors> items;
    for (const auto& v : group)
      items.push_back({v[0], v[1], v[2], momentum ? v[3] : nullptr,
                       p.centered ? v[momentum ? 4 : 3] : nullptr});
    raw::rmsprop_step(items, p);
  };
  s.ref = [p, momentum](Values& w, const Values& grad, std::vector<Values>& st, int64_t) {
    Values& sq = st[0];
    Values* buf = momentum ? &st[1] : nullptr;
    Values* ga = p.centered ? &st[momentum ? 2 : 1] : nullptr;
    for (size_t i = 0; i < w.size(); ++i) {
      double g = p.maximize ? -grad[i] : grad[i];
      g += p.weight_decay * w[i];
      sq[i] = p.alpha * sq[i] + (1 - p.alpha) * g * g;
      double avg = sq[i];
      if (ga) {
        (*ga)[i] += (1 - p.alpha) * (g - (*ga)[i]);
        avg -= (*ga)[i] * (*ga)[i];
      }
      const double den = std::sqrt(avg) + p.eps;
      if (buf) {
        (*buf)[i] = p.momentum * (*buf)[i] + g / den;
        w[i] -= p.lr * (*buf)[i];
      } else {
        w[i] -= p.lr * g / den;
      }
    }
  };
  s.flops_per_element = 8.0 + (momentum ? 2 : 0) + (p.centered ? 5 : 0);
  return s;
}

// ---- Adagrad -------------------------------------------------------------------------------

Spec adagrad_spec(const std::string& tag, const AdagradStepParams& p) {
  Spec s;
  s.op = "adagrad_step";
  s.family = "adagrad";
  s.tag = tag;
  s.states = 1;
  s.make_state = [](int, const std::function<Tensor(double)>& normal) {
    Tensor a = normal(0.3);
    return a * a + 0.01;
  };
  s.run = [p](const std::vector<std::vector<const Tensor*>>& group, int round) {
    std::vector<AdagradTensors> items;
    for (size_t i = 0; i < group.size(); ++i)
      items.push_back({group[i][0], group[i][1], group[i][2], step_of(i, round)});
    raw::adagrad_step(items, p);
  };
  s.ref = [p](Values& w, const Values& grad, std::vector<Values>& st, int64_t step) {
    const double clr = p.lr / (1 + static_cast<double>(step - 1) * p.lr_decay);
    for (size_t i = 0; i < w.size(); ++i) {
      double g = p.maximize ? -grad[i] : grad[i];
      g += p.weight_decay * w[i];
      st[0][i] += g * g;
      w[i] -= clr * g / (std::sqrt(st[0][i]) + p.eps);
    }
  };
  s.flops_per_element = 8.0;
  return s;
}

// ---- NAdam and RAdam -----------------------------------------------------------------------

Tensor moment_state(int k, const std::function<Tensor(double)>& normal) {
  if (k == 0) return normal(0.1);  // exp_avg
  Tensor a = normal(0.01);
  return a * a + 1e-6;  // exp_avg_sq
}

// The shared reference of the step params' common fields.
template <typename AdamLikeParams>
AdamLikeRef adam_like_ref(const AdamLikeParams& p) {
  return {p.lr, p.beta1, p.beta2, p.weight_decay, p.decoupled_weight_decay, p.maximize};
}

// A step case of two moment states (exp_avg, exp_avg_sq).
Spec moment_spec(const char* op, const char* family, const std::string& tag) {
  Spec s;
  s.op = op;
  s.family = family;
  s.tag = tag;
  s.states = 2;
  s.make_state = moment_state;
  return s;
}

double nadam_mu_at(const NadamStepParams& p, int64_t t) {
  return p.beta1 * (1 - 0.5 * std::pow(0.96, static_cast<double>(t) * p.momentum_decay));
}

double nadam_product(const NadamStepParams& p, int64_t step) {
  double product = 1;
  for (int64_t t = 1; t <= step; ++t) product *= nadam_mu_at(p, t);
  return product;
}

Spec nadam_spec(const std::string& tag, const NadamStepParams& p) {
  Spec s = moment_spec("nadam_step", "nadam", tag);
  s.run = [p](const std::vector<std::vector<const Tensor*>>& group, int round) {
    std::vector<NadamTensors> items;
    for (size_t i = 0; i < group.size(); ++i) {
      const int64_t t = step_of(i, round);
      items.push_back({group[i][0], group[i][1], group[i][2], group[i][3], t, nadam_product(p, t)});
    }
    raw::nadam_step(items, p);
  };
  s.ref = [p](Values& w, const Values& grad, std::vector<Values>& st, int64_t step) {
    const double bc2 = 1 - std::pow(p.beta2, static_cast<double>(step));
    const double mu = nadam_mu_at(p, step), mu_next = nadam_mu_at(p, step + 1);
    const double product = nadam_product(p, step);
    for (size_t i = 0; i < w.size(); ++i) {
      double& m = st[0][i];
      double& v = st[1][i];
      const double g = adam_like_moments(adam_like_ref(p), w[i], grad[i], m, v);
      const double den = std::sqrt(v / bc2) + p.eps;
      w[i] -= p.lr * (1 - mu) / (1 - product) * g / den;
      w[i] -= p.lr * mu_next / (1 - product * mu_next) * m / den;
    }
  };
  s.flops_per_element = 16.0;
  return s;
}

Spec radam_spec(const std::string& tag, const RadamStepParams& p) {
  Spec s = moment_spec("radam_step", "radam", tag);
  s.run = [p](const std::vector<std::vector<const Tensor*>>& group, int round) {
    std::vector<RadamTensors> items;
    for (size_t i = 0; i < group.size(); ++i)
      items.push_back({group[i][0], group[i][1], group[i][2], group[i][3], step_of(i, round)});
    raw::radam_step(items, p);
  };
  s.ref = [p](Values& w, const Values& grad, std::vector<Values>& st, int64_t step) {
    const auto t = static_cast<double>(step);
    const double bc1 = 1 - std::pow(p.beta1, t), bc2 = 1 - std::pow(p.beta2, t);
    const double rho_inf = 2 / (1 - p.beta2) - 1;
    const double rho_t = rho_inf - 2 * t * std::pow(p.beta2, t) / bc2;
    for (size_t i = 0; i < w.size(); ++i) {
      double& m = st[0][i];
      double& v = st[1][i];
      adam_like_moments(adam_like_ref(p), w[i], grad[i], m, v);
      const double corrected = m / bc1;
      if (rho_t > 5) {
        const double rect = std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                      ((rho_inf - 4) * (rho_inf - 2) * rho_t));
        w[i] -= corrected * p.lr * std::sqrt(bc2) / (std::sqrt(v) + p.eps) * rect;
      } else {
        w[i] -= corrected * p.lr;
      }
    }
  };
  s.flops_per_element = 14.0;
  return s;
}

}  // namespace

void add_optim_more_cases(std::vector<OpCase>& out) {
  const std::vector<Spec> specs = {
      rmsprop_spec("plain", {.lr = 1e-2}),
      rmsprop_spec(
          "centered_wd_maximize",
          {.lr = 5e-3, .alpha = 0.9, .weight_decay = 0.1, .centered = true, .maximize = true}),
      rmsprop_spec("momentum", {.lr = 1e-3, .momentum = 0.9}),
      rmsprop_spec("centered_momentum",
                   {.lr = 2e-3, .alpha = 0.95, .eps = 1e-6, .momentum = 0.8, .centered = true}),
      adagrad_spec("plain", {.lr = 1e-2}),
      adagrad_spec(
          "lr_decay_wd_maximize",
          {.lr = 0.1, .lr_decay = 0.05, .weight_decay = 0.01, .eps = 1e-6, .maximize = true}),
      nadam_spec("plain", {}),
      nadam_spec("l2", {.lr = 1e-2, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.1}),
      nadam_spec("decoupled_maximize", {.lr = 1e-2,
                                        .weight_decay = 0.05,
                                        .momentum_decay = 0.5,
                                        .decoupled_weight_decay = true,
                                        .maximize = true}),
      radam_spec("plain", {}),
      radam_spec("l2_maximize", {.lr = 1e-2,
                                 .beta1 = 0.8,
                                 .beta2 = 0.99,
                                 .eps = 1e-6,
                                 .weight_decay = 0.1,
                                 .maximize = true}),
      radam_spec("decoupled", {.lr = 1e-2, .weight_decay = 0.05, .decoupled_weight_decay = true}),
  };
  for (const Spec& s : specs)
    for (DType dt : {DType::f32, DType::f64}) out.push_back(step_case(s, dt));
  // bf16/f16 parameters with f32 state (issue 16): learning rates that move a parameter by
  // several ulps (RAdam's first, unrectified steps move it by lr m).
  const std::vector<Spec> half_specs = {
      rmsprop_spec("centered_momentum_half",
                   {.lr = 0.02, .alpha = 0.95, .eps = 1e-6, .momentum = 0.8, .centered = true}),
      rmsprop_spec("wd_maximize_half", {.lr = 0.02, .weight_decay = 0.1, .maximize = true}),
      adagrad_spec("lr_decay_wd_half", {.lr = 0.2, .lr_decay = 0.05, .weight_decay = 0.01}),
      nadam_spec("decoupled_half",
                 {.lr = 0.05, .weight_decay = 0.05, .decoupled_weight_decay = true}),
      radam_spec("l2_half", {.lr = 0.1, .weight_decay = 0.1}),
  };
  for (const Spec& s : half_specs)
    for (DType dt : {DType::bf16, DType::f16}) out.push_back(step_case(s, dt));
}

}  // namespace ember::cases
