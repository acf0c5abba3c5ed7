// Batch, datasets and the DataLoader: batching, collation, reproducible shuffling that
// leaves the global generator alone, and worker threads that deliver in order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "test_models.h"

using namespace trainer_test;

TEST(Batch, UnpacksByPositionAndChecksTheCount) {
  Batch b{ones({2, 3}), zeros({2}), full({2, 1}, 5.0)};
  auto [x, y, z] = b.unpack<3>();
  EXPECT_EQ(x.sizes(), (Shape{2, 3}));
  EXPECT_EQ(y.sizes(), (Shape{2}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{5.0f, 5.0f}));
  EXPECT_EQ(b.batch_size(), 2);
  EXPECT_TRUE(b[1].is_same(y));
  EXPECT_THROW(b.unpack<2>(), ValueError);
  EXPECT_THROW(b[3], IndexError);
}

TEST(TensorDataset, RowsAndErrors) {
  TensorDataset d({arange(6).reshape({3, 2}), arange(3)});
  EXPECT_EQ(d.size(), 3);
  Batch s = d.get(1);
  EXPECT_EQ(s[0].to_vector<int64_t>(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(s[1].item<int64_t>(), 1);
  EXPECT_THROW(d.get(3), IndexError);
  EXPECT_THROW(TensorDataset({zeros({3, 2}), zeros({4})}), ShapeError);
  EXPECT_THROW(TensorDataset({scalar_tensor(1.0)}), ValueError);
}

// A dataset of samples (i, i*i) built by get(), so collate stacks them.
struct Squares : Dataset {
  int64_t n;
  explicit Squares(int64_t count) : n(count) {}
  int64_t size() const override { return n; }
  Batch get(int64_t i) const override {
    return {scalar_tensor(i, {.dtype = DType::i64}), full({2}, static_cast<double>(i * i))};
  }
};

TEST(DataLoader, BatchesCollateAndDropLast) {
  auto data = std::make_shared<Squares>(10);
  DataLoader keep(data, {.batch_size = 4});
  EXPECT_EQ(keep.size(), 3);
  std::vector<int64_t> sizes, firsts;
  for (const Batch& b : keep) {
    sizes.push_back(b[0].size(0));
    firsts.push_back(b[0].to_vector<int64_t>()[0]);
    EXPECT_EQ(b[1].sizes(), (Shape{b[0].size(0), 2}));
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 4, 8}));
  DataLoader drop(data, {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(drop.size(), 2);
  int64_t count = 0;
  for (const Batch& b : drop) count += b[0].size(0);
  EXPECT_EQ(count, 8);
  EXPECT_THROW(DataLoader(data, {.batch_size = 0}), ValueError);
}

TEST(DataLoader, ShuffleIsAPermutationReproduciblePerEpoch) {
  auto data = std::make_shared<Squares>(50);
  DataLoader a(data, {.batch_size = 8, .shuffle = true, .seed = 123});
  DataLoader b(data, {.batch_size = 8, .shuffle = true, .seed = 123});
  DataLoader c(data, {.batch_size = 8, .shuffle = true, .seed = 124});
  const auto e0 = a.sample_order(0), e1 = a.sample_order(1);
  EXPECT_EQ(e0, b.sample_order(0));
  EXPECT_EQ(e1, b.sample_order(1));
  EXPECT_NE(e0, e1);
  EXPECT_NE(e0, c.sample_order(0));
  std::vector<int64_t> sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  // Iteration follows the order of the epoch set.
  a.set_epoch(1);
  std::vector<int64_t> seen;
  for (const Batch& batch : a)
    for (int64_t v : batch[0].to_vector<int64_t>()) seen.push_back(v);
  EXPECT_EQ(seen, e1);
  DataLoader plain(data, {.batch_size = 8});
  EXPECT_EQ(plain.sample_order(3)[7], 7);
}

TEST(DataLoader, ShufflingDoesNotMoveTheGlobalGenerator) {
  manual_seed(5);
  const PhiloxState before = get_rng_state();
  DataLoader loader(std::make_shared<Squares>(20), {.batch_size = 4, .shuffle = true});
  for (int64_t e = 0; e < 3; ++e) {
    loader.set_epoch(e);
    for (const Batch& b : loader) (void)b;
  }
  const PhiloxState after = get_rng_state();
  EXPECT_EQ(before.seed, after.seed);
  EXPECT_EQ(before.offset, after.offset);
  // Unseeded loaders take the global seed: the same manual_seed gives the same order.
  manual_seed(5);
  DataLoader again(std::make_shared<Squares>(20), {.batch_size = 4, .shuffle = true});
  EXPECT_EQ(loader.sample_order(2), again.sample_order(2));
}

// Slow, uneven samples that record which threads loaded them.
struct Slow : Dataset {
  int64_t n;
  mutable std::mutex mu;
  mutable std::set<std::thread::id> threads;
  mutable std::atomic<int> in_flight{0}, max_in_flight{0};
  mutable std::atomic<bool> first{true};
  explicit Slow(int64_t count) : n(count) {}
  int64_t size() const override { return n; }
  Batch get(int64_t i) const override {
    const int now = ++in_flight;
    int seen = max_in_flight.load();
    while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
    }
    // The first sample waits (up to 5 s) for a second thread to start loading, so the
    // test sees the prefetch overlap however busy the machine is.
    if (first.exchange(false)) {
      for (int k = 0; k < 5000 && max_in_flight.load() < 2; ++k)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % 5 * 300));
    --in_flight;
    if (i == 1000) throw ValueError("Slow", "sample 1000 is broken");
    return {scalar_tensor(i, {.dtype = DType::i64})};
  }
};

TEST(DataLoader, WorkersPrefetchInOrder) {
  auto data = std::make_shared<Slow>(64);
  DataLoader loader(data, {.batch_size = 2, .shuffle = true, .num_workers = 3, .seed = 9});
  std::vector<int64_t> seen;
  for (const Batch& b : loader)
    for (int64_t v : b[0].to_vector<int64_t>()) seen.push_back(v);
  EXPECT_EQ(seen, loader.sample_order(0));
  EXPECT_GE(data->threads.size(), 2u);  // the work was spread over threads
  EXPECT_EQ(data->threads.count(std::this_thread::get_id()), 0u);
  EXPECT_GE(data->max_in_flight.load(), 2);
}

TEST(DataLoader, StreamSkipsBatchesAndStopsEarly) {
  auto data = std::make_shared<Slow>(20);
  DataLoader loader(data, {.batch_size = 4, .num_workers = 2});
  auto s = loader.stream(2, 4);
  EXPECT_EQ(s->remaining(), 2);
  EXPECT_EQ(s->next()->at(0).to_vector<int64_t>(), (std::vector<int64_t>{8, 9, 10, 11}));
  EXPECT_EQ(s->next()->at(0).to_vector<int64_t>(), (std::vector<int64_t>{12, 13, 14, 15}));
  EXPECT_FALSE(s->next().has_value());
  // A stream dropped half way joins its workers.
  auto t = loader.stream();
  (void)t->next();
  t.reset();
}

TEST(DataLoader, AWorkerErrorReachesTheConsumerInTurn) {
  auto data = std::make_shared<Slow>(1002);
  DataLoader loader(data, {.batch_size = 1, .num_workers = 2});
  auto s = loader.stream(998, 1002);
  EXPECT_EQ(s->next()->at(0).item<int64_t>(), 998);
  EXPECT_EQ(s->next()->at(0).item<int64_t>(), 999);
  EXPECT_THROW(s->next(), ValueError);
  EXPECT_EQ(s->next()->at(0).item<int64_t>(), 1001);
}
