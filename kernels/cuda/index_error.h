// The host side of the index errors kernels record (kernels/cuda/index_flag.h): the ops'
// ids and the IndexError raised from a recorded slot. No CUDA or simulator header needed.
#pragma once

#include <cstdint>

#include "kernels/cuda/runtime.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

// The ops whose kernels check index values (the slot's `op`).
enum IndexOp : unsigned {
  kIndexSelect = 1,
  kGather,
  kScatterAdd,
  kEmbedding,
  kCrossEntropy,
  kNllLoss
};

inline const char* index_op_name(unsigned long long op) {
  switch (op) {
    case kIndexSelect: return "index_select";
    case kGather: return "gather";
    case kScatterAdd: return "scatter_add";
    case kEmbedding: return "embedding";
    case kCrossEntropy: return "cross_entropy";
    case kNllLoss: return "nll_loss";
    default: return "index";
  }
}

// Records (into the error slot) every value of index (n) outside [0, bound) but `ignore`,
// as op (kernels/cuda/index.cu); nothing waits for the stream.
void launch_check_index_range(const int64_t* index, int64_t n, int64_t bound, int64_t ignore,
                              unsigned op);

[[noreturn]] inline void throw_index_error(const rt::IndexErrorSlot& e) {
  fail<IndexError>(index_op_name(e.op), "index ", static_cast<int64_t>(e.value),
                   " is out of bounds for size ", static_cast<int64_t>(e.bound),
                   " (found by a kernel, raised at this synchronization)");
}

}  // namespace ember::EMBER_VARIANT
