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
// *out (device) = sum of |x|^norm_type over every element (max |x| for norm_type = inf).
void launch_norm_multi_tensor(DType dtype, const std::vector<NormSlot>& slots, double norm_type,
                              double* out);

}  // namespace ember::EMBER_VARIANT
