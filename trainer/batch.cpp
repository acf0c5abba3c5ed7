#include "trainer/batch.h"

#include "tensor/error.h"

namespace ember {

const Tensor& Batch::operator[](size_t i) const {
  if (i >= tensors_.size())
    fail<IndexError>("Batch", "position ", i, " is out of range for a batch of ", tensors_.size(),
                     " tensors");
  return tensors_[i];
}

void Batch::check_unpack(size_t n) const {
  if (n != tensors_.size())
    fail<ValueError>("Batch::unpack", "asked for ", n, " tensors, but the batch holds ",
                     tensors_.size());
}

int64_t Batch::batch_size() const {
  for (const Tensor& t : tensors_)
    if (t.defined() && t.dim() > 0) return t.size(0);
  return 1;
}

Batch Batch::to(Device device) const {
  std::vector<Tensor> moved;
  moved.reserve(tensors_.size());
  for (const Tensor& t : tensors_) moved.push_back(t.defined() ? t.to(device) : t);
  return Batch(std::move(moved));
}

}  // namespace ember
