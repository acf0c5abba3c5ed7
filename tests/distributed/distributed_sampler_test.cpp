// DistributedSampler against torch's rules: sizes, padding, drop_last, shuffling.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "tensor/error.h"
#include "trainer/distributed_sampler.h"

using namespace ember;

namespace {

std::vector<int64_t> shares(int64_t n, int64_t replicas, bool shuffle, bool drop_last,
                            int64_t epoch, uint64_t seed = 0) {
  std::vector<int64_t> all;
  for (int64_t r = 0; r < replicas; ++r) {
    DistributedSampler s(n, {.num_replicas = replicas,
                             .rank = r,
                             .shuffle = shuffle,
                             .seed = seed,
                             .drop_last = drop_last});
    auto idx = s.indices(epoch);
    EXPECT_EQ(static_cast<int64_t>(idx.size()), s.size());
    all.insert(all.end(), idx.begin(), idx.end());
  }
  return all;
}

}  // namespace

TEST(DistributedSampler, SequentialPaddingRepeatsTheStart) {
  // torch: n=10, 3 replicas -> total 12, indices 0..9,0,1; rank r takes r::3.
  DistributedSampler r0(10, {.num_replicas = 3, .rank = 0, .shuffle = false});
  DistributedSampler r2(10, {.num_replicas = 3, .rank = 2, .shuffle = false});
  EXPECT_EQ(r0.size(), 4);
  EXPECT_EQ(r0.indices(0), (std::vector<int64_t>{0, 3, 6, 9}));
  EXPECT_EQ(r2.indices(0), (std::vector<int64_t>{2, 5, 8, 1}));
  // More padding than data: n=2, 5 replicas -> 0,1,0,1,0.
  DistributedSampler t(2, {.num_replicas = 5, .rank = 4, .shuffle = false});
  EXPECT_EQ(t.indices(0), (std::vector<int64_t>{0}));
}

TEST(DistributedSampler, DropLastCutsTheTail) {
  DistributedSampler s(10, {.num_replicas = 3, .rank = 1, .shuffle = false, .drop_last = true});
  EXPECT_EQ(s.size(), 3);  // ceil((10 - 3) / 3)
  EXPECT_EQ(s.indices(0), (std::vector<int64_t>{1, 4, 7}));
  DistributedSampler few(2, {.num_replicas = 3, .rank = 0, .drop_last = true});
  EXPECT_EQ(few.size(), 0);
  EXPECT_TRUE(few.indices(0).empty());
}

TEST(DistributedSampler, ShuffledPartitionsCoverTheDataOncePerEpoch) {
  for (int64_t n : {12, 13, 101}) {
    for (int64_t replicas : {2, 3}) {
      auto e0 = shares(n, replicas, true, false, 0);
      auto e1 = shares(n, replicas, true, false, 1);
      const int64_t total = (n + replicas - 1) / replicas * replicas;
      ASSERT_EQ(static_cast<int64_t>(e0.size()), total);
      EXPECT_EQ(std::set<int64_t>(e0.begin(), e0.end()).size(), static_cast<size_t>(n));
      EXPECT_NE(e0, e1) << "epochs must reshuffle";
      EXPECT_EQ(e0, shares(n, replicas, true, false, 0)) << "a pure function of the epoch";
      EXPECT_NE(e0, shares(n, replicas, true, false, 0, 7)) << "the seed changes the order";
      auto d = shares(n, replicas, true, true, 0);
      EXPECT_EQ(static_cast<int64_t>(d.size()), n / replicas * replicas);
      EXPECT_EQ(std::set<int64_t>(d.begin(), d.end()).size(), d.size()) << "no repeats";
    }
  }
}

TEST(DistributedSampler, BadArguments) {
  EXPECT_THROW(DistributedSampler(10, {.num_replicas = 2, .rank = 2}), ValueError);
  EXPECT_THROW(DistributedSampler(10, {.num_replicas = 0, .rank = 0}), ValueError);
  EXPECT_THROW(DistributedSampler(-1, {.num_replicas = 1, .rank = 0}), ValueError);
  EXPECT_THROW(DistributedSampler(10, {}), ValueError);
}
