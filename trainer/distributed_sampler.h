// DistributedSampler: the share of a dataset one rank of a data-parallel job visits
// (torch.utils.data.DistributedSampler).
//
//   auto s = std::make_shared<DistributedSampler>(n, {.num_replicas = 2, .rank = r});
//   DataLoader loader(data, {.batch_size = 32, .sampler = s});
//
// Each epoch the indices 0..n-1 (shuffled by seed + epoch when shuffle is on: every rank
// draws the same permutation) are padded by repeating their start to a multiple of
// num_replicas, or cut down to one with drop_last; rank r takes every num_replicas-th
// index starting at r. So the ranks' shares are disjoint (but for the padding) and cover
// the data set once per epoch, and every rank sees the same number of batches.
// indices(epoch) is a pure function of the epoch: torch's set_epoch is the epoch argument.
//
// The shuffle draws from ember's Philox generator, not torch's: the same seed gives a
// different (but equally fixed) order than in PyTorch.
#pragma once

#include <cstdint>
#include <optional>

#include "trainer/sampler.h"

namespace ember {

struct DistributedSamplerOptions {
  // Unset: the process group's world size and rank (the Trainer fills them in; set them
  // when building the sampler yourself).
  std::optional<int64_t> num_replicas{};
  std::optional<int64_t> rank{};
  bool shuffle = true;
  uint64_t seed = 0;  // torch's default: the same on every rank
  bool drop_last = false;
};

class DistributedSampler : public Sampler {
 public:
  DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options);
  std::vector<int64_t> indices(int64_t epoch) const override;
  int64_t size() const override { return num_samples_; }  // per rank
  int64_t total_size() const { return num_samples_ * num_replicas_; }
  int64_t num_replicas() const { return num_replicas_; }
  int64_t rank() const { return rank_; }

 private:
  int64_t n_;
  int64_t num_replicas_;
  int64_t rank_;
  bool shuffle_;
  uint64_t seed_;
  bool drop_last_;
  int64_t num_samples_;
};

}  // namespace ember
