// The state tensors of one parameter, made to exist (zeros, or `fill`) and to follow the
// parameter to its device and dtype (after the module moved): for the fused steps, which
// need every state beside its parameter.
#pragma once

#include <initializer_list>

#include "optim/optimizer.h"
#include "tensor/ops.h"
#include "tensor/optim_state_dtype.h"

namespace ember::optim {

// All at once, before any pointer into st.buffers is taken: inserting may move the others.
inline void ensure_buffers(ParamState& st, const Tensor& param,
                           std::initializer_list<const char*> names, double fill = 0.0) {
  for (const char* name : names) {
    Tensor* b = st.buffers.find(name);
    const DType sd = optim_state_dtype(param.dtype());  // f32 for bf16/f16 params
    if (b == nullptr) {
      st.buffers.insert(name, full(param.sizes(), fill, {.dtype = sd, .device = param.device()}));
    } else if (b->device() != param.device() || b->dtype() != sd) {
      *b = b->to(param.device(), sd).contiguous();
    }
  }
}

}  // namespace ember::optim
