// The launchers of optim.cu: multi-tensor Adam/AdamW and SGD steps and norms over a group
// of tensors of one dtype. Pointers are device pointers to `n` contiguous elements; null
// where a state is absent.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct AdamSlot {
  void* param;
  const void* grad;
  void* exp_avg;
  void* exp_avg_sq;
  void* max_exp_avg_sq;
  int64_t n;
  double step_size;     // lr / (1 - beta1^step)
  double inv_bc2_sqrt;  // 1 / sqrt(1 - beta2^step)
};
struct SgdSlot {
  void* param;
  const void* grad;
  void* momentum_buffer;
  int64_t n;
  bool first_step;
};
struct NormSlot {
  const void* data;
  int64_t n;
};
void launch_adam_multi_tensor(DType dtype, const std::vector<AdamSlot>& slots,
                              const AdamStepParams& p);
void launch_sgd_multi_tensor(DType dtype, const std::vector<SgdSlot>& slots,
                             const SgdStepParams& p);

// One parameter of an RMSprop/Adagrad/NAdam/RAdam step (optim_more.cu): its state
// tensors in the optimizer's order (null where absent) and its step-dependent scalars
// (tensor/optim_coeffs.h): Adagrad {clr}; NAdam {inv_bc2_sqrt, grad_coef, avg_coef};
// RAdam {step_size, adaptive, rectified ? 1 : 0}; RMSprop none.
struct StepSlot {
  void* param;
  const void* grad;
  void* state[3];
  int64_t n;
  double k[3];
};
void launch_rmsprop_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                                 const RmspropStepParams& p);
void launch_adagrad_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                                 const AdagradStepParams& p);
void launch_nadam_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                               const NadamStepParams& p);
void launch_radam_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                               const RadamStepParams& p);
// *out (device) = sum of |x|^norm_type over every element (max |x| for norm_type = inf).
void launch_norm_multi_tensor(DType dtype, const std::vector<NormSlot>& slots, double norm_type,
                              double* out);

}  // namespace ember::EMBER_VARIANT
