// Fashion-MNIST from Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist):
// 60 000 training and 10 000 test images of 28x28 grey pixels in 10 classes, normalized
// with the training set's mean and std. Training batches are augmented as torchvision's
// RandomCrop(28, padding=4) + RandomHorizontalFlip() would, with ember ops on the batch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <ember/ember.h>

namespace fmnist {

inline constexpr const char* kDefaultDir = "/usr/share/datasets/fashion-mnist";
inline constexpr const char* kPackage = "dataset-fashion-mnist";
inline constexpr double kMean = 0.2860, kStd = 0.3530;  // of the training pixels in [0, 1]
inline constexpr int64_t kClasses = 10;

struct Split {
  ember::Tensor images;  // (N, 1, 28, 28) f32, normalized
  ember::Tensor labels;  // (N) i64
};

// The training (train-*) or test (t10k-*) split from `dir`. A missing folder names the
// package to install; a bad file is an ember::Error naming it (idx.h).
Split load_split(const std::string& dir, bool train);

struct AugmentOptions {
  int64_t padding = 4;               // around each side before the crop
  double pad_value = -kMean / kStd;  // black (pixel 0) after normalization
  double flip_p = 0.5;               // probability of a horizontal flip
  uint64_t seed = 0;                 // the crops and flips are a pure function of (seed, indices)
};

// Samples (image (1, 28, 28), label ()); get_batch gathers the batch and, when augment is
// set, crops and flips it. DataLoader workers may call it concurrently: its randomness
// comes from the indices, never from the global generator.
class FashionMnist : public ember::Dataset {
 public:
  FashionMnist(Split split, std::optional<AugmentOptions> augment);
  int64_t size() const override { return split_.labels.size(0); }
  ember::Batch get(int64_t index) const override { return get_batch({index}); }
  ember::Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  Split split_;
  std::optional<AugmentOptions> augment_;
};

// A random crop of the padded images and a random horizontal flip, per image:
// images (N, C, H, W) -> (N, C, H, W); the draws are a pure function of (seed, stream).
ember::Tensor augment_batch(const ember::Tensor& images, const AugmentOptions& options,
                            uint64_t stream);

}  // namespace fmnist
