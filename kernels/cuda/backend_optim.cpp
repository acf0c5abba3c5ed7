// DeviceBackend's fused optimizer steps (kernels/cuda/device_backend.h): Adam, SGD, RMSprop,
// Adagrad, NAdam and RAdam, one multi-tensor launch per parameter dtype of the group, with the
// step-dependent scalars (bias corrections, decayed learning rates) computed per tensor on the
// host (optim.cu, optim_more.cu); the norm of a list of tensors (gradient clipping); and
// GradScaler's unscale and scale update (amp.cu).
#include "kernels/cuda/device_backend.h"

#include <algorithm>
#include <cmath>

#include "kernels/cuda/amp.h"
#include "kernels/cuda/optim.h"
#include "tensor/optim_coeffs.h"

namespace ember::EMBER_VARIANT {

namespace {

void* data_of(const Tensor* t) { return t == nullptr ? nullptr : t->raw_data(); }

// f(dtype, members) for each parameter dtype present in the group, in first-seen order.
template <typename Item, typename F>
void for_each_dtype(const std::vector<Item>& items, F f) {
  std::vector<DType> seen;
  for (const Item& it : items)
    if (std::find(seen.begin(), seen.end(), it.param->dtype()) == seen.end())
      seen.push_back(it.param->dtype());
  for (DType dtype : seen) {
    std::vector<const Item*> group;
    for (const Item& it : items)
      if (it.param->dtype() == dtype) group.push_back(&it);
    f(dtype, group);
  }
}

// launch_group(dtype, slots) per dtype of the group, each slot from slot_of(item) (its states
// and scalars) with the parameter, gradient and size filled in here.
template <typename Item, typename Launch, typename SlotOf>
void step_slots(const std::vector<Item>& items, Launch launch_group, SlotOf slot_of) {
  for_each_dtype(items, [&](DType dtype, const std::vector<const Item*>& group) {
    std::vector<StepSlot> slots;
    slots.reserve(group.size());
    for (const Item* t : group) {
      StepSlot s = slot_of(*t);
      s.param = t->param->raw_data();
      s.grad = t->grad->raw_data();
      s.n = t->param->numel();
      slots.push_back(s);
    }
    launch_group(dtype, slots);
  });
}

}  // namespace

void DeviceBackend::adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) {
  for_each_dtype(tensors, [&](DType dtype, const std::vector<const AdamTensors*>& group) {
    std::vector<AdamSlot> slots;
    slots.reserve(group.size());
    for (const AdamTensors* t : group) {
      const auto step = static_cast<double>(t->step);
      slots.push_back({t->param->raw_data(), t->grad->raw_data(), t->exp_avg->raw_data(),
                       t->exp_avg_sq->raw_data(),
                       p.amsgrad ? t->max_exp_avg_sq->raw_data() : nullptr, t->param->numel(),
                       p.lr / (1.0 - std::pow(p.beta1, step)),
                       1.0 / std::sqrt(1.0 - std::pow(p.beta2, step))});
    }
    launch_adam_multi_tensor(dtype, slots, p);
  });
}

void DeviceBackend::sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) {
  for_each_dtype(tensors, [&](DType dtype, const std::vector<const SgdTensors*>& group) {
    std::vector<SgdSlot> slots;
    slots.reserve(group.size());
    for (const SgdTensors* t : group)
      slots.push_back({t->param->raw_data(), t->grad->raw_data(),
                       p.momentum != 0.0 ? t->momentum_buffer->raw_data() : nullptr,
                       t->param->numel(), t->first_step});
    launch_sgd_multi_tensor(dtype, slots, p);
  });
}

// RMSprop, Adagrad, NAdam, RAdam: the step-dependent scalars per tensor on the host.
void DeviceBackend::rmsprop_step(const std::vector<RmspropTensors>& tensors,
                                 const RmspropStepParams& p) {
  step_slots(
      tensors,
      [&](DType dtype, const std::vector<StepSlot>& slots) {
        launch_rmsprop_multi_tensor(dtype, slots, p);
      },
      [](const RmspropTensors& t) {
        return StepSlot{nullptr,
                        nullptr,
                        {data_of(t.square_avg), data_of(t.momentum_buffer), data_of(t.grad_avg)},
                        0,
                        {}};
      });
}

void DeviceBackend::adagrad_step(const std::vector<AdagradTensors>& tensors,
                                 const AdagradStepParams& p) {
  step_slots(
      tensors,
      [&](DType dtype, const std::vector<StepSlot>& slots) {
        launch_adagrad_multi_tensor(dtype, slots, p);
      },
      [&](const AdagradTensors& t) {
        return StepSlot{nullptr,
                        nullptr,
                        {data_of(t.sum), nullptr, nullptr},
                        0,
                        {adagrad_clr(p, t.step), 0.0, 0.0}};
      });
}

void DeviceBackend::nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) {
  step_slots(
      tensors,
      [&](DType dtype, const std::vector<StepSlot>& slots) {
        launch_nadam_multi_tensor(dtype, slots, p);
      },
      [&](const NadamTensors& t) {
        const NadamCoeffs k = nadam_coeffs(p, t.step, t.mu_product);
        return StepSlot{nullptr,
                        nullptr,
                        {data_of(t.exp_avg), data_of(t.exp_avg_sq), nullptr},
                        0,
                        {k.inv_bc2_sqrt, k.grad_coef, k.avg_coef}};
      });
}

void DeviceBackend::radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) {
  step_slots(
      tensors,
      [&](DType dtype, const std::vector<StepSlot>& slots) {
        launch_radam_multi_tensor(dtype, slots, p);
      },
      [&](const RadamTensors& t) {
        const RadamCoeffs k = radam_coeffs(p, t.step);
        return StepSlot{nullptr,
                        nullptr,
                        {data_of(t.exp_avg), data_of(t.exp_avg_sq), nullptr},
                        0,
                        {k.step_size, k.adaptive, k.rectified ? 1.0 : 0.0}};
      });
}

void DeviceBackend::multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                               double norm_type) {
  std::vector<NormSlot> slots;
  slots.reserve(tensors.size());
  for (const Tensor* t : tensors) slots.push_back({t->raw_data(), t->numel()});
  launch_norm_multi_tensor(tensors.empty() ? DType::f32 : tensors.front()->dtype(), slots,
                           norm_type, static_cast<double*>(out.raw_data()));
}

// GradScaler (issue 16, scaler): kernels/cuda/amp.cu.
void DeviceBackend::amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                                const Tensor& inv_scale) {
  std::vector<UnscaleSlot> slots;
  slots.reserve(tensors.size());
  for (const Tensor* t : tensors) slots.push_back({t->raw_data(), t->numel()});
  if (slots.empty()) return;
  launch_amp_unscale(tensors.front()->dtype(), slots, static_cast<float*>(found_inf.raw_data()),
                     static_cast<const float*>(inv_scale.raw_data()));
}

void DeviceBackend::amp_update_scale(const Tensor& scale, const Tensor& growth_tracker,
                                     const Tensor& found_inf, const AmpScaleParams& p) {
  launch_amp_update_scale(static_cast<float*>(scale.raw_data()),
                          static_cast<int64_t*>(growth_tracker.raw_data()),
                          static_cast<const float*>(found_inf.raw_data()), p);
}

}  // namespace ember::EMBER_VARIANT
