// A rank's share of a DataLoader under ddp (trainer/distributed_loaders.cpp): the training and
// evaluation loaders' twins (padded, torch's DistributedSampler) and the predict loader's
// (unpadded, Lightning's UnrepeatedDistributedSamplerWrapper).
#pragma once

#include <cstdint>
#include <memory>

#include "trainer/data.h"

namespace ember {

// A twin of `loader` reading over `loader`'s dataset (which must outlive it) the positions
// rank, rank + replicas, ... of the order `loader` would give one process. With `pad` the
// order is first padded by repeating its start to a multiple of `replicas`, so every rank
// has as many samples; without it the shares cover the data set exactly once (the lower
// ranks then hold one sample more). nullptr for a loader whose sampler already is a
// DistributedSampler (the user's share). A batch_sampler is a ValueError naming `stage`.
std::unique_ptr<DataLoader> rank_share(const DataLoader& loader, int64_t replicas, int64_t rank,
                                       bool pad, const char* stage);

}  // namespace ember
