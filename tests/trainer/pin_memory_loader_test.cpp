// DataLoader's pin_memory: batches pinned in the loading thread when pinned memory serves
// a device, the Trainer's copies to that device then asynchronous; without a device a
// one-time warning and ordinary batches. A fake PinnedMemoryApi targets `sim`, so all of
// this runs without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "tensor/pinned_memory.h"
#include "test_models.h"

using namespace trainer_test;

namespace {

// Pinned memory that "copies to" sim: plain memory, copies counted, events always done.
struct SimPinning {
  int copies = 0;
  std::shared_ptr<CachingHostAllocator> previous;
  SimPinning() {
    PinnedMemoryApi api;
    api.name = "fake for sim";
    api.copy_target = DeviceType::sim;
    api.malloc = [](size_t n) { return std::malloc(n); };
    api.free = [](void* p) { std::free(p); };
    api.copy_to_device_async = [this](void* dst, const void* src, size_t n) {
      ++copies;
      std::memcpy(dst, src, n);
    };
    api.record_event = []() -> void* { return nullptr; };
    api.event_done = [](void*) { return true; };
    api.destroy_event = [](void*) {};
    previous = set_pinned_host_allocator(std::make_shared<CachingHostAllocator>(std::move(api)));
  }
  ~SimPinning() { set_pinned_host_allocator(previous); }
};

std::vector<Batch> all_batches(const DataLoader& loader) {
  std::vector<Batch> out;
  for (const Batch& b : loader) out.push_back(b);
  return out;
}

}  // namespace

TEST(PinMemoryLoader, PinsEveryBatchWithTheSameValues) {
  SimPinning pinning;
  auto data = regression_data(20);
  for (int64_t workers : {0, 2}) {
    const auto plain = all_batches(DataLoader(data, {.batch_size = 6, .num_workers = workers}));
    const auto pinned = all_batches(
        DataLoader(data, {.batch_size = 6, .num_workers = workers, .pin_memory = true}));
    ASSERT_EQ(pinned.size(), 4u);
    ASSERT_EQ(plain.size(), pinned.size());
    for (size_t b = 0; b < pinned.size(); ++b) {
      for (size_t i = 0; i < 2; ++i) {
        EXPECT_TRUE(is_pinned(pinned[b][i])) << "batch " << b << " tensor " << i;
        EXPECT_FALSE(is_pinned(plain[b][i]));
        EXPECT_TRUE(equal(pinned[b][i], plain[b][i])) << "batch " << b << " tensor " << i;
      }
    }
  }
}

TEST(PinMemoryLoader, PinsWhatACollateFnReturns) {
  SimPinning pinning;
  auto data = regression_data(8);
  DataLoaderOptions o{.batch_size = 4, .pin_memory = true};
  o.collate_fn = [](const std::vector<Batch>& samples) { return collate(samples); };
  for (const Batch& b : DataLoader(data, o)) EXPECT_TRUE(is_pinned(b[0]) && is_pinned(b[1]));
}

TEST(PinMemoryLoader, TheTrainersCopiesToTheDeviceGoThroughPinnedMemory) {
  SimPinning pinning;
  auto data = regression_data(24);
  DataLoader train(data, {.batch_size = 8, .pin_memory = true});  // 3 batches of (x, y)
  Regressor model;
  TrainerOptions o = quiet({.max_epochs = 1,
                            .enable_checkpointing = false,
                            .default_root_dir = temp_dir("pin_memory_loader")});
  o.accelerator = "sim";
  o.logger = false;
  Trainer(o).fit(model, train);
  EXPECT_EQ(pinning.copies, 3 * 2);  // each batch's x and y, asynchronously
  EXPECT_EQ(model.losses.size(), 3u);
}

TEST(PinMemoryLoader, WithoutAGpuWarnsOnceAndLoadsAsUsual) {
  if (pinned_memory_has_device()) GTEST_SKIP() << "a GPU is present";
  auto data = regression_data(8);
  DataLoader loader(data, {.batch_size = 4, .pin_memory = true});
  testing::internal::CaptureStderr();
  const auto first = all_batches(loader);
  const auto second = all_batches(loader);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("pin_memory"), std::string::npos) << err;
  EXPECT_EQ(err.find("pin_memory"), err.rfind("pin_memory")) << "warned twice: " << err;
  ASSERT_EQ(first.size(), 2u);
  EXPECT_FALSE(is_pinned(first[0][0]));
  EXPECT_TRUE(equal(first[1][1], second[1][1]));
}
