// The launchers of amp.cu (issue 16, scaler): GradScaler's unscale with the inf/NaN check
// over a group of tensors of one dtype, and its scale update. Device pointers throughout.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/cuda/variant.h"
#include "tensor/backend.h"
#include "tensor/dtype.h"

namespace ember::EMBER_VARIANT {

struct UnscaleSlot {
  void* data;  // n contiguous elements, scaled in place
  int64_t n;
};
// x *= *inv_scale over every slot; *found_inf = 1 when some x was inf or NaN.
void launch_amp_unscale(DType dtype, const std::vector<UnscaleSlot>& slots, float* found_inf,
                        const float* inv_scale);
// PyTorch's _amp_update_scale_ (AmpScaleParams) in one single-thread launch.
void launch_amp_update_scale(float* scale, int64_t* growth_tracker, const float* found_inf,
                             const AmpScaleParams& p);

}  // namespace ember::EMBER_VARIANT
