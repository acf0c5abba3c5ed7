// Under ddp each rank reads its share of every training and evaluation loader (Lightning's
// use_distributed_sampler). The share is taken from the loader's own order, not from a
// fresh DistributedSampler shuffle (docs/distributed.md, "Data order"): rank r of N reads
// positions r, r + N, r + 2N, ... of the order the loader would give one process (its
// RandomSampler by seed and epoch, its sampler, or 0..n-1), padded by repeating its start
// to a multiple of N as torch's DistributedSampler. So global batch i of N ranks with batch
// size B holds the samples of batch i of one process with batch size N * B, and the two
// runs train on the same data in the same order. predict's share is not padded (Lightning's
// UnrepeatedDistributedSamplerWrapper), so the ranks predict every sample exactly once.
#include "trainer/distributed_loaders.h"

#include <algorithm>

#include "trainer/distributed_sampler.h"
#include "trainer/trainer.h"

namespace ember {

namespace {

// Lightning's DistributedSamplerWrapper (pad) or UnrepeatedDistributedSamplerWrapper (not):
// a rank's share of another sampler's indices.
class RankShareSampler : public Sampler {
 public:
  RankShareSampler(std::shared_ptr<const Sampler> inner, int64_t replicas, int64_t rank, bool pad)
      : inner_(std::move(inner)), replicas_(replicas), rank_(rank), pad_(pad) {}
  std::vector<int64_t> indices(int64_t epoch) const override {
    std::vector<int64_t> all = inner_->indices(epoch);
    const size_t total = pad_ ? static_cast<size_t>(size() * replicas_) : all.size();
    for (size_t i = 0, len = all.size(); all.size() < total && len > 0; ++i)
      all.push_back(all[i % len]);
    std::vector<int64_t> mine;
    for (size_t i = static_cast<size_t>(rank_); i < total; i += static_cast<size_t>(replicas_))
      mine.push_back(all[i]);
    return mine;
  }
  int64_t size() const override {
    const int64_t n = inner_->size();
    if (pad_) return (n + replicas_ - 1) / replicas_;
    return n > rank_ ? (n - rank_ + replicas_ - 1) / replicas_ : 0;
  }

 private:
  std::shared_ptr<const Sampler> inner_;
  int64_t replicas_, rank_;
  bool pad_;
};

}  // namespace

std::unique_ptr<DataLoader> rank_share(const DataLoader& loader, int64_t replicas, int64_t rank,
                                       bool pad, const char* stage) {
  const DataLoaderOptions& o = loader.options();
  if (dynamic_cast<const DistributedSampler*>(o.sampler.get())) return nullptr;  // the user's
  if (o.batch_sampler)
    fail<ValueError>(stage,
                     "under strategy \"ddp\" a loader with a batch_sampler cannot be split between "
                     "the ranks: give it a DistributedSampler's indices yourself and set "
                     "use_distributed_sampler=false");
  const int64_t n = loader.num_samples();
  std::shared_ptr<const Sampler> inner = o.sampler;
  if (!inner && o.shuffle)
    inner = std::make_shared<RandomSampler>(n, RandomSamplerOptions{.seed = loader.seed()});
  if (!inner) inner = std::make_shared<SequentialSampler>(n);
  DataLoaderOptions share = o;
  share.shuffle = false;
  share.seed = loader.seed();
  share.sampler = std::make_shared<RankShareSampler>(inner, replicas, rank, pad);
  // The twin reads the caller's dataset, which outlives the run (a non-owning handle, as
  // overfit_batches' twin).
  std::shared_ptr<const Dataset> data(std::shared_ptr<const Dataset>(), &loader.dataset());
  auto twin = std::make_unique<DataLoader>(std::move(data), share);
  twin->set_epoch(loader.epoch());
  return twin;
}

DataLoader* Trainer::distributed_view(DataLoader* loader) {
  if (!loader || world_size() == 1 || !options_.use_distributed_sampler) return loader;
  for (const auto& [original, twin] : distributed_twins_)
    if (original == loader || twin.get() == loader) return twin.get();
  std::unique_ptr<DataLoader> twin =
      rank_share(*loader, world_size(), global_rank(), true, "Trainer");
  if (!twin) return loader;
  DataLoader* out = twin.get();
  distributed_twins_.emplace_back(loader, std::move(twin));
  return out;
}

std::vector<DataLoader*> Trainer::distributed_views(const std::vector<DataLoader*>& loaders) {
  std::vector<DataLoader*> out;
  for (DataLoader* l : loaders) out.push_back(distributed_view(l));
  return out;
}

}  // namespace ember
