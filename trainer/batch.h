// Batch: the tensors of one sample or one collated batch, in a fixed order.
//
//   auto [image, text, target] = batch.unpack<3>();   // by position, checked
//   const Tensor& image = batch[0];
//
// A Dataset's get() returns one sample as a Batch (no batch dim); the DataLoader stacks
// samples position by position into a Batch whose tensors gain a leading batch dim.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <vector>

#include "tensor/tensor.h"

namespace ember {

class Batch {
 public:
  Batch() = default;
  Batch(std::vector<Tensor> tensors)
      : tensors_(std::move(tensors)) {}  // NOLINT: implicit on purpose
  Batch(std::initializer_list<Tensor> tensors) : tensors_(tensors) {}

  size_t size() const { return tensors_.size(); }
  bool empty() const { return tensors_.empty(); }
  // Throws IndexError naming the position and the batch's size.
  const Tensor& operator[](size_t i) const;
  const Tensor& at(size_t i) const { return (*this)[i]; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  auto begin() const { return tensors_.begin(); }
  auto end() const { return tensors_.end(); }

  // The N tensors, for structured bindings; throws ValueError when the batch holds a
  // different number (a mismatch is a bug in the caller, not something to truncate).
  template <size_t N>
  std::array<Tensor, N> unpack() const {
    check_unpack(N);
    std::array<Tensor, N> out;
    for (size_t i = 0; i < N; ++i) out[i] = tensors_[i];
    return out;
  }

  // The leading size of the first tensor with at least one dim (what Lightning infers as
  // the batch size to weight epoch means); 1 when there is none.
  int64_t batch_size() const;
  // Every tensor moved to `device` (the same batch when all are already there).
  Batch to(Device device) const;

 private:
  void check_unpack(size_t n) const;
  std::vector<Tensor> tensors_;
};

}  // namespace ember
