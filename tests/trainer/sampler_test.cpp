// Samplers, batch samplers, collate_fn, pad_sequence and persistent workers: orders,
// frequencies against the weights, torch's option rules, variable-length batches, and
// worker threads kept between epochs.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>

#include "test_models.h"

using namespace trainer_test;

namespace {

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<int64_t> iota_vec(int64_t n, int64_t start = 0) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

}  // namespace

TEST(Sampler, SequentialVisitsEveryIndexInOrder) {
  SequentialSampler s(5);
  EXPECT_EQ(s.size(), 5);
  EXPECT_EQ(s.indices(3), iota_vec(5));
  EXPECT_THROW(SequentialSampler(-1), ValueError);
}

TEST(Sampler, RandomPermutesPerEpochAndIsTheShuffleOrder) {
  RandomSampler s(50, {.seed = 11});
  const auto e0 = s.indices(0), e1 = s.indices(1);
  EXPECT_EQ(sorted(e0), iota_vec(50));
  EXPECT_EQ(sorted(e1), iota_vec(50));
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, iota_vec(50));
  EXPECT_EQ(e0, RandomSampler(50, {.seed = 11}).indices(0));  // a pure function of (seed, epoch)
  EXPECT_NE(e0, RandomSampler(50, {.seed = 12}).indices(0));
  // shuffle=true is this sampler under the loader's seed: today's orders are kept.
  DataLoader loader(regression_data(50), {.batch_size = 8, .shuffle = true, .seed = 11});
  EXPECT_EQ(loader.sample_order(0), e0);
  EXPECT_EQ(loader.sample_order(1), e1);
}

TEST(Sampler, RandomNumSamplesAndReplacement) {
  // Without replacement, 2n samples are two whole permutations.
  RandomSampler twice(7, {.num_samples = 14, .seed = 3});
  const auto idx = twice.indices(0);
  ASSERT_EQ(idx.size(), 14u);
  EXPECT_EQ(sorted({idx.begin(), idx.begin() + 7}), iota_vec(7));
  EXPECT_EQ(sorted({idx.begin() + 7, idx.end()}), iota_vec(7));
  // With replacement: uniform draws in range, each index about num_samples / n times.
  RandomSampler rep(4, {.replacement = true, .num_samples = 8000, .seed = 5});
  std::vector<int64_t> counts(4, 0);
  for (int64_t i : rep.indices(0)) {
    ASSERT_GE(i, 0);
    ASSERT_LT(i, 4);
    ++counts[static_cast<size_t>(i)];
  }
  const double sd = std::sqrt(8000 * 0.25 * 0.75);  // binomial standard deviation
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c), 2000.0, 5 * sd);
  EXPECT_THROW(RandomSampler(4, {.num_samples = 0}), ValueError);
}

TEST(Sampler, WeightedWithReplacementFollowsTheWeights) {
  const std::vector<double> w{1, 0, 2, 3, 4};
  const int64_t n = 40000;
  WeightedRandomSampler s(w, n, true, 42);
  EXPECT_EQ(s.size(), n);
  std::vector<double> counts(w.size(), 0);
  for (int64_t i : s.indices(0)) ++counts[static_cast<size_t>(i)];
  EXPECT_EQ(counts[1], 0);  // weight zero is never drawn
  for (size_t i = 0; i < w.size(); ++i) {
    const double p = w[i] / 10.0;
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(counts[i], n * p, 5 * sd + 1e-9) << "index " << i;
  }
  EXPECT_NE(s.indices(0), s.indices(1));
  EXPECT_EQ(s.indices(1), WeightedRandomSampler(w, n, true, 42).indices(1));
}

TEST(Sampler, WeightedWithoutReplacementDrawsInProportionToTheWeightsLeft) {
  // P(first = i) = w_i / S; P(second = j) = sum_{i != j} w_i / S * w_j / (S - w_i).
  const std::vector<double> w{1, 2, 3, 4};
  const double S = 10;
  const int64_t epochs = 20000;
  WeightedRandomSampler s(w, 2, false, 9);
  std::vector<double> first(4, 0), second(4, 0);
  for (int64_t e = 0; e < epochs; ++e) {
    const auto idx = s.indices(e);
    ASSERT_EQ(idx.size(), 2u);
    ASSERT_NE(idx[0], idx[1]);
    ++first[static_cast<size_t>(idx[0])];
    ++second[static_cast<size_t>(idx[1])];
  }
  for (size_t j = 0; j < 4; ++j) {
    double p2 = 0;
    for (size_t i = 0; i < 4; ++i)
      if (i != j) p2 += w[i] / S * w[j] / (S - w[i]);
    const double p1 = w[j] / S;
    EXPECT_NEAR(first[j], epochs * p1, 5 * std::sqrt(epochs * p1 * (1 - p1))) << j;
    EXPECT_NEAR(second[j], epochs * p2, 5 * std::sqrt(epochs * p2 * (1 - p2))) << j;
  }
  // All positive-weight indices, each once.
  EXPECT_EQ(sorted(WeightedRandomSampler({0, 1, 1, 0, 5}, 3, false, 1).indices(0)),
            (std::vector<int64_t>{1, 2, 4}));
}

TEST(Sampler, WeightedErrors) {
  EXPECT_THROW(WeightedRandomSampler({1, 2}, 0), ValueError);
  EXPECT_THROW(WeightedRandomSampler({1, -2}, 3), ValueError);
  EXPECT_THROW(WeightedRandomSampler({0, 0}, 3), ValueError);
  EXPECT_THROW(WeightedRandomSampler({1, NAN}, 3), ValueError);
  EXPECT_THROW(WeightedRandomSampler({1, 0, 2}, 3, false), ValueError);  // two positive
  try {
    WeightedRandomSampler({1, 0, 2}, 3, false);
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("without replacement"), std::string::npos) << e.what();
  }
}

TEST(Sampler, SubsetRandomPermutesTheSubset) {
  SubsetRandomSampler s({10, 3, 7, 8}, 4);
  EXPECT_EQ(s.size(), 4);
  EXPECT_EQ(sorted(s.indices(0)), (std::vector<int64_t>{3, 7, 8, 10}));
  bool differs = false;
  for (int64_t e = 1; e < 6; ++e) differs |= s.indices(e) != s.indices(0);
  EXPECT_TRUE(differs);
  EXPECT_THROW(SubsetRandomSampler({1, -1}), ValueError);
}

TEST(BatchSampler, GroupsAndDropsTheLastBatch) {
  auto seq = std::make_shared<SequentialSampler>(10);
  BatchSampler keep(seq, 4, false), drop(seq, 4, true);
  EXPECT_EQ(keep.size(), 3);
  EXPECT_EQ(drop.size(), 2);
  const auto kb = keep.batches(0), db = drop.batches(0);
  ASSERT_EQ(kb.size(), 3u);
  EXPECT_EQ(kb[2], (std::vector<int64_t>{8, 9}));
  ASSERT_EQ(db.size(), 2u);
  EXPECT_EQ(db[1], (std::vector<int64_t>{4, 5, 6, 7}));
  EXPECT_THROW(BatchSampler(seq, 0, false), ValueError);
  EXPECT_THROW(BatchSampler(nullptr, 2, false), ValueError);
}

TEST(DataLoader, UsesASamplerOrABatchSampler) {
  auto data = regression_data(10);
  auto subset = std::make_shared<SubsetRandomSampler>(std::vector<int64_t>{0, 2, 4, 6, 8}, 1);
  DataLoader by_sampler(data, {.batch_size = 2, .sampler = subset});
  EXPECT_EQ(by_sampler.size(), 3);
  int64_t rows = 0;
  for (const Batch& b : by_sampler) rows += b[0].size(0);
  EXPECT_EQ(rows, 5);
  EXPECT_EQ(by_sampler.sample_order(2), subset->indices(2));

  auto batches = std::make_shared<BatchSampler>(std::make_shared<SequentialSampler>(10), 3, true);
  DataLoader by_batch(data, {.batch_sampler = batches});
  EXPECT_EQ(by_batch.size(), 3);
  std::vector<int64_t> sizes;
  for (const Batch& b : by_batch) sizes.push_back(b[0].size(0));
  EXPECT_EQ(sizes, (std::vector<int64_t>{3, 3, 3}));
  // Batch 1 holds rows 3..5 of the dataset.
  auto s = by_batch.stream(1, 2);
  EXPECT_TRUE(allclose(s->next()->at(0), data->get_batch({3, 4, 5})[0]));

  // torch's mutual exclusions.
  EXPECT_THROW(DataLoader(data, {.shuffle = true, .sampler = subset}), ValueError);
  EXPECT_THROW(DataLoader(data, {.batch_size = 2, .batch_sampler = batches}), ValueError);
  EXPECT_THROW(DataLoader(data, {.drop_last = true, .batch_sampler = batches}), ValueError);
  EXPECT_THROW(DataLoader(data, {.sampler = subset, .batch_sampler = batches}), ValueError);
  EXPECT_THROW(DataLoader(data, {.persistent_workers = true}), ValueError);
}

TEST(PadSequence, PadsToTheLongestInBothLayouts) {
  Tensor a = from_vector<float>({1, 2, 3}), b = from_vector<float>({4}),
         c = from_vector<float>({5, 6});
  Tensor bf = pad_sequence({a, b, c}, true, -1.0);
  EXPECT_EQ(bf.sizes(), (Shape{3, 3}));
  EXPECT_EQ(bf.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, -1, -1, 5, 6, -1}));
  Tensor tf = pad_sequence({a, b, c});  // (L, B), zero padding
  EXPECT_EQ(tf.sizes(), (Shape{3, 3}));
  EXPECT_EQ(tf.to_vector<float>(), (std::vector<float>{1, 4, 5, 2, 0, 6, 3, 0, 0}));
  // Trailing dims are kept: (L_i, 2) -> (B, L, 2).
  Tensor m = pad_sequence({ones({2, 2}), ones({1, 2})}, true);
  EXPECT_EQ(m.sizes(), (Shape{2, 2, 2}));
  EXPECT_EQ(m.sum().item<float>(), 6.0f);
  EXPECT_THROW(pad_sequence({}), ValueError);
  EXPECT_THROW(pad_sequence({ones({2, 2}), ones({2, 3})}), ShapeError);
  EXPECT_THROW(pad_sequence({scalar_tensor(1.0)}), ValueError);
  EXPECT_THROW(pad_sequence({ones({2}), ones({2}, {.dtype = DType::f64})}), ValueError);
}

TEST(PadSequence, GradientsReachTheSequences) {
  Tensor a = ones({3}).requires_grad_(), b = ones({1}).requires_grad_();
  (pad_sequence({a, b}, true, 7.0) * from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}))
      .sum()
      .backward();
  EXPECT_EQ(a.grad().to_vector<float>(), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(b.grad().to_vector<float>(), (std::vector<float>{4}));
}

// Sequences of length 1 + i % 3 holding i, and their label i.
struct Ragged : Dataset {
  int64_t size() const override { return 6; }
  Batch get(int64_t i) const override {
    return {full({1 + i % 3}, static_cast<double>(i)), scalar_tensor(i, {.dtype = DType::i64})};
  }
};

TEST(DataLoader, CollateFnBuildsVariableLengthBatches) {
  CollateFn pad = [](const std::vector<Batch>& samples) {
    std::vector<Tensor> seqs, labels;
    for (const Batch& s : samples) {
      seqs.push_back(s[0]);
      labels.push_back(s[1]);
    }
    return Batch{pad_sequence(seqs, true, -1.0), stack(labels)};
  };
  for (int64_t workers : {0, 2}) {
    DataLoader loader(std::make_shared<Ragged>(),
                      {.batch_size = 2, .num_workers = workers, .collate_fn = pad});
    std::vector<Batch> got;
    for (const Batch& b : loader) got.push_back(b);
    ASSERT_EQ(got.size(), 3u);
    // Samples 2 (length 3) and 3 (length 1).
    EXPECT_EQ(got[1][0].sizes(), (Shape{2, 3}));
    EXPECT_EQ(got[1][0].to_vector<float>(), (std::vector<float>{2, 2, 2, 3, -1, -1}));
    EXPECT_EQ(got[1][1].to_vector<int64_t>(), (std::vector<int64_t>{2, 3}));
  }
  // Without it the default collate cannot stack unequal lengths.
  DataLoader plain(std::make_shared<Ragged>(), {.batch_size = 2});
  EXPECT_THROW(plain.stream()->next(), ShapeError);
}

// Counts the threads that load samples for the first time: a thread's thread_local flag
// starts false, so a thread kept between epochs is counted once, a new one again.
std::atomic<int64_t> fresh_threads{0};
struct SlowRows : Dataset {
  int64_t size() const override { return 16; }
  Batch get(int64_t i) const override {
    thread_local bool seen = false;
    if (!seen) {
      seen = true;
      ++fresh_threads;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return {scalar_tensor(i, {.dtype = DType::i64})};
  }
};

int64_t threads_over_epochs(bool persistent, int64_t epochs) {
  fresh_threads = 0;
  DataLoader loader(std::make_shared<SlowRows>(),
                    {.batch_size = 2, .num_workers = 2, .persistent_workers = persistent});
  for (int64_t e = 0; e < epochs; ++e) {
    loader.set_epoch(e);
    std::vector<int64_t> seen;
    for (const Batch& b : loader)
      for (int64_t v : b[0].to_vector<int64_t>()) seen.push_back(v);
    EXPECT_EQ(seen, iota_vec(16));  // in order, every epoch
  }
  return fresh_threads;
}

TEST(DataLoader, PersistentWorkersKeepTheirThreadsBetweenEpochs) {
  EXPECT_LE(threads_over_epochs(true, 4), 2);
  EXPECT_GE(threads_over_epochs(false, 4), 4);  // at least one new thread per epoch
  // Two live streams of one persistent loader: the second starts threads of its own.
  DataLoader loader(std::make_shared<SlowRows>(),
                    {.batch_size = 4, .num_workers = 2, .persistent_workers = true});
  auto first = loader.stream(), second = loader.stream();
  EXPECT_EQ(second->next()->at(0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(first->next()->at(0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(DataLoader, AStreamFromALaterBatchReplaysTheSamplersEpoch) {
  // How a resumed fit skips what it trained on: stream(first) gives the same batches as
  // the tail of the whole epoch, for a random sampler too.
  auto data = regression_data(20);
  auto weighted = std::make_shared<WeightedRandomSampler>(
      std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 15, true,
      8);
  DataLoader loader(data, {.batch_size = 4, .sampler = weighted});
  loader.set_epoch(3);
  EXPECT_EQ(loader.size(), 4);
  std::vector<Tensor> whole;
  for (const Batch& b : loader) whole.push_back(b[0]);
  ASSERT_EQ(whole.size(), 4u);
  auto tail = loader.stream(2);
  EXPECT_TRUE(allclose(tail->next()->at(0), whole[2]));
  EXPECT_TRUE(allclose(tail->next()->at(0), whole[3]));
  EXPECT_FALSE(tail->next().has_value());
  // Epoch 3's rows are the sampler's indices for epoch 3.
  const std::vector<int64_t> idx = weighted->indices(3);
  EXPECT_TRUE(allclose(whole[0], data->get_batch({idx.begin(), idx.begin() + 4})[0]));
}
