// nn::functional::one_hot: (indices[..., None] == arange(C)) as i64.
#include <cstdint>
#include <limits>

#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn::functional {

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  constexpr const char* op = "one_hot";
  raw::check_defined(op, indices);
  if (indices.dtype() != DType::i64)
    fail<DTypeError>(op, "indices must be an i64 tensor, got ", indices.dtype(), " of shape ",
                     str(indices.sizes()));
  if (num_classes < -1) fail<ValueError>(op, "num_classes must be -1 or >= 0, got ", num_classes);
  if (num_classes == -1) {
    if (indices.numel() == 0)
      fail<ValueError>(op, "cannot infer the number of classes from an empty tensor of shape ",
                       str(indices.sizes()));
    num_classes = raw::reduce(ReduceOp::max, indices, {}, false).item<int64_t>() + 1;
  }
  // The range check reads back to the host on the cpu only; GPU devices raise at the next
  // synchronization (Backend::check_index_range).
  raw::check_index_range(op, raw::contiguous(indices), num_classes,
                         std::numeric_limits<int64_t>::min());
  Tensor classes = arange(num_classes, {.dtype = DType::i64, .device = indices.device()});
  return raw::cast(raw::binary(BinaryOp::eq, raw::unsqueeze(indices, -1), classes), DType::i64);
}

}  // namespace ember::nn::functional
