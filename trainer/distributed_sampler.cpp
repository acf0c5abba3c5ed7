#include "trainer/distributed_sampler.h"

#include <numeric>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace ember {

namespace {

// A stream of its own beside the other samplers' (trainer/sampler.cpp uses kinds 0..3 in
// bits 56..62 under the top bit).
uint64_t stream_of_epoch(int64_t epoch) {
  return (uint64_t{1} << 63) | (uint64_t{4} << 56) |
         (static_cast<uint64_t>(epoch) & ((uint64_t{1} << 56) - 1));
}

}  // namespace

DistributedSampler::DistributedSampler(int64_t dataset_size, DistributedSamplerOptions options)
    : n_(dataset_size),
      shuffle_(options.shuffle),
      seed_(options.seed),
      drop_last_(options.drop_last) {
  const char* op = "DistributedSampler";
  if (!options.num_replicas || !options.rank) {
    fail<ValueError>(op, "num_replicas and rank must be set (the Trainer sets them under ddp)");
  }
  num_replicas_ = *options.num_replicas;
  rank_ = *options.rank;
  if (n_ < 0) fail<ValueError>(op, "the dataset size must be >= 0, got ", n_);
  if (num_replicas_ < 1) fail<ValueError>(op, "num_replicas must be >= 1, got ", num_replicas_);
  if (rank_ < 0 || rank_ >= num_replicas_) {
    fail<ValueError>(op, "invalid rank ", rank_, ", rank should be in the interval [0, ",
                     num_replicas_ - 1, "]");
  }
  // torch: with drop_last the tail that does not divide evenly is dropped, else each
  // rank's share is rounded up (ceil) and padded.
  if (drop_last_ && n_ % num_replicas_ != 0) {
    num_samples_ = (n_ - num_replicas_ + num_replicas_ - 1) / num_replicas_;
    if (num_samples_ < 0) num_samples_ = 0;
  } else {
    num_samples_ = (n_ + num_replicas_ - 1) / num_replicas_;
  }
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  std::vector<int64_t> all(static_cast<size_t>(n_));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (shuffle_) {
    // Fisher-Yates with draws (seed, epoch's stream, i): the same on every rank.
    const uint64_t stream = stream_of_epoch(epoch);
    for (int64_t i = n_ - 1; i > 0; --i) {
      const int64_t j =
          philox::randint(philox::draw(seed_, stream, static_cast<uint64_t>(i)), 0, i + 1);
      std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
    }
  }
  const size_t total = static_cast<size_t>(total_size());
  if (all.size() < total && !all.empty()) {
    // Padding repeats the start, as often as needed (torch: indices * ceil(pad / len)).
    const size_t len = all.size();
    for (size_t i = 0; all.size() < total; ++i) all.push_back(all[i % len]);
  }
  all.resize(total);
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples_));
  for (size_t i = static_cast<size_t>(rank_); i < total; i += static_cast<size_t>(num_replicas_)) {
    mine.push_back(all[i]);
  }
  return mine;
}

}  // namespace ember
