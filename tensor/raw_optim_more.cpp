// The fused RMSprop, Adagrad, NAdam and RAdam steps: validate, group by device, dispatch
// (the same checks and routes as adam_step in raw_optim.cpp).
#include <map>
#include <utility>

#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/optim_state_dtype.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

void check_tensor(const char* op, const Tensor& param, const Tensor& grad) {
  check_defined(op, param);
  check_defined(op, grad);
  if (!is_floating(param.dtype()))
    fail<DTypeError>(op, "parameters must be floating-point, got ", param.dtype());
  if (!param.is_contiguous())
    fail<ValueError>(op, "parameter of shape ", str(param.sizes()), " must be contiguous");
  if (grad.sizes() != param.sizes() || grad.device() != param.device())
    fail<ShapeError>(op, "gradient of shape ", str(grad.sizes()), " on ", grad.device(),
                     " does not match its parameter of shape ", str(param.sizes()), " on ",
                     param.device());
  if (grad.dtype() != param.dtype())
    fail<DTypeError>(op, "gradient of dtype ", grad.dtype(), " does not match its parameter's ",
                     param.dtype(), " (shape ", str(param.sizes()), ")");
}

void check_buffer(const char* op, const Tensor& param, const Tensor* t, const char* what) {
  if (t == nullptr || !t->defined()) fail<ValueError>(op, "missing state ", what);
  if (t->sizes() != param.sizes() || t->dtype() != optim_state_dtype(param.dtype()) ||
      t->device() != param.device())
    fail<ShapeError>(op, what, " of shape ", str(t->sizes()), " (", t->dtype(), ", ", t->device(),
                     ") does not match its parameter of shape ", str(param.sizes()), " (",
                     param.dtype(), ", ", param.device(), "; state dtype ",
                     optim_state_dtype(param.dtype()), ")");
  if (!t->is_contiguous()) fail<ValueError>(op, what, " must be contiguous");
}

// A state member of an item, with its name; `used` says whether this step reads it.
template <typename Item>
struct StateMember {
  const Tensor* Item::*member;
  const char* name;
  bool used;
};

// Checks every item, then per device: contiguous gradients, the dispatch route, and
// run(backend, items) on the operands where the kernel reads them.
template <typename Item, typename Run>
void fused_step(const char* op, Primitive prim, const std::vector<Item>& tensors,
                const std::vector<StateMember<Item>>& states, Run run_kernel) {
  const profiler::OpScope profile(op);
  std::map<std::pair<int, int>, std::vector<Item>> by_device;
  for (Item t : tensors) {
    check_tensor(op, *t.param, *t.grad);
    for (const StateMember<Item>& s : states) {
      if (s.used) {
        check_buffer(op, *t.param, t.*s.member, s.name);
      } else {
        t.*s.member = nullptr;  // a state this step ignores is never dispatched
      }
    }
    if constexpr (requires { t.step; })
      if (t.step < 1) fail<ValueError>(op, "step counts start at 1, got ", t.step);
    const Device d = t.param->device();
    by_device[{static_cast<int>(d.type), d.index}].push_back(t);
  }
  for (auto& [key, group] : by_device) {
    std::vector<Tensor> keep;  // contiguous copies of strided gradients
    keep.reserve(group.size());
    for (Item& t : group)
      if (!t.grad->is_contiguous()) {
        keep.push_back(contiguous(*t.grad));
        t.grad = &keep.back();
      }
    Dispatch run(prim, group.front().param->device(), group.front().param->dtype());
    for (Item& t : group) {
      t.param = run.in_place(t.param);
      t.grad = run.in_place(t.grad);
      for (const StateMember<Item>& s : states) t.*s.member = run.in_place(t.*s.member);
    }
    run_kernel(run.backend(), group);
    run.write_back();
  }
}

}  // namespace

void rmsprop_step(const std::vector<RmspropTensors>& tensors, const RmspropStepParams& p) {
  using T = RmspropTensors;
  fused_step<T>("rmsprop_step", Primitive::rmsprop_step, tensors,
                {{&T::square_avg, "square_avg", true},
                 {&T::momentum_buffer, "momentum_buffer", p.momentum > 0},
                 {&T::grad_avg, "grad_avg", p.centered}},
                [&](Backend& b, const std::vector<T>& g) { b.rmsprop_step(g, p); });
}

void adagrad_step(const std::vector<AdagradTensors>& tensors, const AdagradStepParams& p) {
  using T = AdagradTensors;
  fused_step<T>("adagrad_step", Primitive::adagrad_step, tensors, {{&T::sum, "sum", true}},
                [&](Backend& b, const std::vector<T>& g) { b.adagrad_step(g, p); });
}

void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) {
  using T = NadamTensors;
  for (const T& t : tensors)
    if (!(t.mu_product >= 0 && t.mu_product < 1))
      fail<ValueError>("nadam_step", "mu_product must be in [0, 1), got ", t.mu_product);
  fused_step<T>("nadam_step", Primitive::nadam_step, tensors,
                {{&T::exp_avg, "exp_avg", true}, {&T::exp_avg_sq, "exp_avg_sq", true}},
                [&](Backend& b, const std::vector<T>& g) { b.nadam_step(g, p); });
}

void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) {
  using T = RadamTensors;
  fused_step<T>("radam_step", Primitive::radam_step, tensors,
                {{&T::exp_avg, "exp_avg", true}, {&T::exp_avg_sq, "exp_avg_sq", true}},
                [&](Backend& b, const std::vector<T>& g) { b.radam_step(g, p); });
}

}  // namespace ember::raw
