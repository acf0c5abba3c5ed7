#include "fashion_mnist/data.h"

#include <filesystem>

#include "fashion_mnist/idx.h"

namespace fmnist {

using namespace ember;

Split load_split(const std::string& dir, bool train) {
  if (!std::filesystem::is_directory(dir))
    fail<ValueError>("fashion_mnist", "no data set at ", dir, ": install the package ", kPackage,
                     " (apt-get install ", kPackage, ", or bash scripts/bootstrap.sh core)");
  std::string prefix = dir + "/" + (train ? "train" : "t10k");
  Tensor images = read_idx_images(prefix + "-images-idx3-ubyte.gz");  // (N, 28, 28) in [0, 1]
  Tensor labels = read_idx_labels(prefix + "-labels-idx1-ubyte.gz", kClasses);  // (N)
  if (images.size(0) != labels.size(0))
    fail<ValueError>("fashion_mnist", prefix, "-*: ", images.size(0), " images but ",
                     labels.size(0), " labels");
  if (images.size(1) != 28 || images.size(2) != 28)
    fail<ValueError>("fashion_mnist", prefix, "-images-idx3-ubyte.gz holds images of ",
                     str(images.sizes()), ", expected 28x28");
  return {((images - kMean) / kStd).unsqueeze(1), labels};
}

FashionMnist::FashionMnist(Split split, std::optional<AugmentOptions> augment)
    : split_(std::move(split)), augment_(augment) {}

Batch FashionMnist::get_batch(const std::vector<int64_t>& indices) const {
  NoGradGuard no_grad;
  auto n = static_cast<int64_t>(indices.size());
  Tensor idx = from_vector<int64_t>(indices);
  Tensor images = split_.images.index_select(0, idx);  // (n, 1, 28, 28)
  Tensor labels = split_.labels.index_select(0, idx);  // (n)
  if (!augment_) return {images, labels};
  // One stream per batch, keyed by its indices: reproducible, and a new draw each epoch
  // (the shuffled indices differ) without shared state between workers.
  uint64_t stream = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(n);
  for (int64_t i : indices)
    stream = (stream ^ static_cast<uint64_t>(i)) * 0x100000001b3ull + 0x9e3779b97f4a7c15ull;
  return {augment_batch(images, *augment_, stream), labels};
}

}  // namespace fmnist
