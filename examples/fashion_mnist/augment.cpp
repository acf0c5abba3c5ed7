// Augmentation on a batch with ember ops: pad, one crop per image, a flip where drawn.
// The host draws only the offsets and the coin flips; the pixels never leave ember.
#include <random>

#include "fashion_mnist/data.h"

namespace fmnist {

using namespace ember;

Tensor augment_batch(const Tensor& images, const AugmentOptions& o, uint64_t stream) {
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);
  const int64_t p = o.padding;
  Tensor padded = p > 0 ? nn::F::pad(images, {p, p, p, p}, "constant", o.pad_value)
                        : images;  // (N, C, H + 2p, W + 2p)
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
  Tensor mirrored = flip(cropped, {3});
  Tensor mask = from_vector<bool>(flips, {N, 1, 1, 1}, images.device());
  return where(mask, mirrored, cropped);
}

}  // namespace fmnist
