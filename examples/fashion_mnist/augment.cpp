// Augmentation on a batch with ember ops: pad, one crop per image, a flip where drawn.
// The host draws only the offsets and the coin flips; the pixels never leave ember.
#include <random>

#include "fashion_mnist/data.h"

namespace fmnist {

using namespace ember;

Tensor augment_batch(const Tensor& images, const AugmentOptions& o, uint64_t stream) {
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t p = o.padding;
  TensorOptions like{.dtype = images.dtype(), .device = images.device()};
  Tensor padded = images;  // (N, C, H + 2p, W + 2p)
  if (p > 0) {
    Tensor side = full({N, C, H, p}, o.pad_value, like);
    Tensor rows = full({N, C, p, W + 2 * p}, o.pad_value, like);
    padded = cat({rows, cat({side, images, side}, 3), rows}, 2);
  }
  std::mt19937_64 rng(o.seed ^ stream);
  std::uniform_int_distribution<int64_t> offset(0, 2 * p);
  std::bernoulli_distribution coin(o.flip_p);
  std::vector<Tensor> crops;  // N x (C, H, W)
  std::vector<bool> flips;
  crops.reserve(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) {
    int64_t dy = offset(rng), dx = offset(rng);
    crops.push_back(padded.select(0, i).narrow(1, dy, H).narrow(2, dx, W));
    flips.push_back(coin(rng));
  }
  Tensor cropped = stack(crops);  // (N, C, H, W)
  Tensor reversed = arange(W - 1, -1, -1, {.dtype = DType::i64, .device = images.device()});
  Tensor mirrored = cropped.index_select(3, reversed);
  Tensor mask = from_vector<bool>(flips, {N, 1, 1, 1}, images.device());
  return where(mask, mirrored, cropped);
}

}  // namespace fmnist
