// Index values found out of range by a kernel: recorded in the runtime's error slot
// (kernels/cuda/runtime.h), the first one claimed with atomicCAS, and raised as IndexError
// naming the op at the next synchronization the user causes (item(), a copy to the host,
// synchronize()), so no launch waits for the stream to check its indices.
#pragma once

#include <cstdint>

#include "kernels/cuda/index_error.h"
#include "kernels/cuda/runtime.h"
#include "kernels/cuda/target.h"

namespace ember::EMBER_VARIANT {

// True when j is in [0, size); else records (op, j, size) unless an error is pending.
EMBER_DEVICE bool check_index(int64_t j, int64_t size, rt::IndexErrorSlot* slot, unsigned op) {
  if (j >= 0 && j < size) return true;
  if (atomicCAS(&slot->flag, 0ull, 1ull) == 0ull) {
    slot->op = op;
    slot->value = static_cast<unsigned long long>(j);
    slot->bound = static_cast<unsigned long long>(size);
  }
  return false;
}

}  // namespace ember::EMBER_VARIANT
