// Samplers: which dataset indices an epoch visits, and in what order (torch.utils.data's
// Sampler family). A BatchSampler groups a sampler's indices into batches.
//
//   auto sampler = std::make_shared<WeightedRandomSampler>(class_weights, 1000);
//   DataLoader loader(data, {.batch_size = 32, .sampler = sampler});
//
// Unlike torch's iterators, a sampler here is a pure function of (seed, epoch): indices(e)
// always returns the same list, so a resumed run replays an epoch's order exactly and
// worker threads need no shared generator. Random samplers draw from a Philox stream of
// their own (the global generator never moves); an unset seed is the global generator's
// seed when the sampler is built, so manual_seed makes them reproducible.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace ember {

class Sampler {
 public:
  virtual ~Sampler() = default;
  // The indices of epoch `epoch`, in visiting order; size() of them.
  virtual std::vector<int64_t> indices(int64_t epoch) const = 0;
  virtual int64_t size() const = 0;  // len(sampler)
};

// 0, 1, ..., n-1.
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(int64_t n);
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return n_; }

 private:
  int64_t n_;
};

struct RandomSamplerOptions {
  bool replacement = false;
  // Unset: n. Without replacement a larger count repeats whole permutations (as torch).
  std::optional<int64_t> num_samples{};
  std::optional<uint64_t> seed{};
};

// A permutation of 0..n-1 per epoch, or num_samples uniform draws with replacement.
// DataLoaderOptions::shuffle uses this sampler (the same order as before samplers existed).
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(int64_t n, RandomSamplerOptions options = {});
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }
  uint64_t seed() const { return seed_; }

 private:
  int64_t n_, num_samples_;
  bool replacement_;
  uint64_t seed_;
};

// num_samples indices drawn with probability proportional to `weights` (which need not
// sum to one), with or without replacement (torch.multinomial's rules).
class WeightedRandomSampler : public Sampler {
 public:
  WeightedRandomSampler(std::vector<double> weights, int64_t num_samples, bool replacement = true,
                        std::optional<uint64_t> seed = {});
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }

 private:
  std::vector<double> weights_;
  int64_t num_samples_;
  bool replacement_;
  uint64_t seed_;
};

// A fresh permutation of the given indices each epoch (a train/validation split of one
// dataset, for instance).
class SubsetRandomSampler : public Sampler {
 public:
  explicit SubsetRandomSampler(std::vector<int64_t> indices, std::optional<uint64_t> seed = {});
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return static_cast<int64_t>(indices_.size()); }

 private:
  std::vector<int64_t> indices_;
  uint64_t seed_;
};

// Groups a sampler's indices into lists of batch_size (the last one shorter, or dropped
// with drop_last).
class BatchSampler {
 public:
  BatchSampler(std::shared_ptr<const Sampler> sampler, int64_t batch_size, bool drop_last);
  virtual ~BatchSampler() = default;
  virtual std::vector<std::vector<int64_t>> batches(int64_t epoch) const;
  virtual int64_t size() const;  // len(batch_sampler)
  const Sampler& sampler() const { return *sampler_; }
  int64_t batch_size() const { return batch_size_; }
  bool drop_last() const { return drop_last_; }

 private:
  std::shared_ptr<const Sampler> sampler_;
  int64_t batch_size_;
  bool drop_last_;
};

}  // namespace ember
