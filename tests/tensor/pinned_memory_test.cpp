// pin_memory: the caching host allocator (reuse, fences of in-flight copies, running out),
// pinned tensors, and the asynchronous copy path of to(device). A fake PinnedMemoryApi
// stands in for cudaHostAlloc and the stream: its copies target `sim` and its events
// complete only when the test says so, so the keep-alive logic is checked without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tensor/ops.h"
#include "tensor/pinned_memory.h"

namespace ember {
namespace {

// What the fake device did: the blocks it allocated and freed, copies, events.
struct FakeDevice {
  int mallocs = 0, frees = 0, copies = 0, destroyed = 0;
  size_t fail_above = SIZE_MAX;              // malloc of more bytes than this fails
  std::vector<std::unique_ptr<int>> events;  // every event recorded (never reused)
  std::set<const int*> completed;            // events the "stream" has run past
  std::set<void*> live;                      // malloc'd, not yet freed

  PinnedMemoryApi api() {
    PinnedMemoryApi a;
    a.name = "fake";
    a.copy_target = DeviceType::sim;
    a.malloc = [this](size_t n) -> void* {
      if (n > fail_above) return nullptr;
      ++mallocs;
      void* p = std::malloc(n);
      live.insert(p);
      return p;
    };
    a.free = [this](void* p) {
      ++frees;
      live.erase(p);
      std::free(p);
    };
    a.copy_to_device_async = [this](void* dst, const void* src, size_t n) {
      ++copies;
      std::memcpy(dst, src, n);  // sim memory is host memory
    };
    a.record_event = [this]() -> void* {
      events.push_back(std::make_unique<int>(static_cast<int>(events.size())));
      return events.back().get();
    };
    a.event_done = [this](void* e) { return completed.count(static_cast<int*>(e)) != 0; };
    a.destroy_event = [this](void*) { ++destroyed; };
    return a;
  }
  void complete_all() {
    for (const auto& e : events) completed.insert(e.get());
  }
};

// An allocator over a fresh fake device.
class CachingHostAllocatorTest : public ::testing::Test {
 protected:
  FakeDevice dev;
  CachingHostAllocator a{dev.api()};
};

TEST(CachingHostAllocator, RoundsToPowersOfTwoOfAtLeast512) {
  EXPECT_EQ(CachingHostAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingHostAllocator::round_size(512), 512u);
  EXPECT_EQ(CachingHostAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingHostAllocator::round_size((size_t{1} << 20) + 1), size_t{2} << 20);
}

TEST_F(CachingHostAllocatorTest, AFreedBlockIsReusedForTheSameRoundedSize) {
  void* p = a.allocate(3000);
  EXPECT_TRUE(a.owns(p));
  a.deallocate(p);
  EXPECT_FALSE(a.owns(p));
  EXPECT_EQ(a.allocate(4096), p);  // 3000 and 4096 both round to 4096
  void* q = a.allocate(4096);      // p is live again: a second block
  EXPECT_NE(q, p);
  EXPECT_EQ(dev.mallocs, 2);
  const PinnedMemoryStats s = a.stats();
  EXPECT_EQ(s.num_allocs, 3);
  EXPECT_EQ(s.num_host_allocs, 2);
  EXPECT_EQ(s.allocated_bytes, 2 * 4096);
  a.deallocate(p);
  a.deallocate(q);
  EXPECT_EQ(a.stats().allocated_bytes, 0);
  EXPECT_EQ(a.stats().reserved_bytes, 2 * 4096);
  a.empty_cache();
  EXPECT_EQ(dev.frees, 2);
  EXPECT_EQ(a.stats().reserved_bytes, 0);
}

TEST_F(CachingHostAllocatorTest, ABlockFreedDuringACopyWaitsForItsEvent) {
  std::vector<char> dst(1024);
  void* p = a.allocate(1000);
  a.copy_to_device_async(dst.data(), p, p, 1000);
  EXPECT_EQ(dev.copies, 1);
  ASSERT_EQ(dev.events.size(), 1u);
  a.deallocate(p);  // the copy has not run: p must not be handed out
  EXPECT_EQ(a.stats().fenced_blocks, 1);
  EXPECT_EQ(a.stats().pending_events, 1);
  void* q = a.allocate(1000);
  EXPECT_NE(q, p);
  a.empty_cache();  // a fenced block is not cached, so not freed either
  EXPECT_EQ(dev.live.count(p), 1u);
  dev.complete_all();
  EXPECT_EQ(a.allocate(1000), p);  // its event completed: back in service
  EXPECT_EQ(dev.mallocs, 2);
  a.deallocate(q);
  EXPECT_EQ(a.stats().fenced_blocks, 0);
  EXPECT_EQ(a.stats().pending_events, 0);
}

TEST_F(CachingHostAllocatorTest, CompletedEventsOfALiveBlockDoNotPileUp) {
  std::vector<char> dst(512);
  void* p = a.allocate(512);
  for (int i = 0; i < 100; ++i) {
    a.copy_to_device_async(dst.data(), p, p, 512);
    dev.complete_all();
  }
  EXPECT_EQ(a.stats().pending_events, 1);  // only the last copy's
  EXPECT_EQ(dev.destroyed, 99);            // the completed ones were released
  a.deallocate(p);
  EXPECT_EQ(a.stats().fenced_blocks, 0);
  EXPECT_EQ(dev.destroyed, 100);
}

TEST_F(CachingHostAllocatorTest, RunningOutReturnsTheCacheThenNamesTheBytes) {
  a.deallocate(a.allocate(1 << 20));  // cached
  dev.fail_above = (1 << 20) - 1;     // now nothing of 1 MiB or more can be had
  try {
    a.allocate(3 << 20);
    FAIL() << "allocated";
  } catch (const DeviceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pin_memory"), std::string::npos) << what;
    EXPECT_NE(what.find("3145728 bytes"), std::string::npos) << what;
  }
  EXPECT_EQ(dev.frees, 1);  // the cached block went back before giving up
}

// The process allocator replaced by a fake one for a test, and restored after.
class PinnedTensor : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_ = set_pinned_host_allocator(std::make_shared<CachingHostAllocator>(dev_.api()));
  }
  void TearDown() override { set_pinned_host_allocator(previous_); }
  FakeDevice dev_;
  std::shared_ptr<CachingHostAllocator> previous_;
};

TEST_F(PinnedTensor, PinMemoryCopiesIntoAPinnedBlock) {
  Tensor x = randn({3, 5});
  EXPECT_FALSE(is_pinned(x));
  Tensor p = pin_memory(x);
  EXPECT_TRUE(is_pinned(p));
  EXPECT_FALSE(is_pinned(x));
  EXPECT_NE(p.raw_data(), x.raw_data());
  EXPECT_TRUE(equal(p, x));
  EXPECT_TRUE(p.device().is_cpu());
  EXPECT_TRUE(pin_memory(p).is_same(p));     // already pinned: itself
  EXPECT_TRUE(is_pinned(p.slice(0, 1, 3)));  // views share the pinned storage
  EXPECT_EQ(dev_.mallocs, 1);
  // A non-contiguous source comes out contiguous, values in logical order.
  Tensor t = x.transpose(0, 1);
  Tensor pt = pin_memory(t);
  EXPECT_TRUE(pt.is_contiguous());
  EXPECT_TRUE(equal(pt, t));
}

TEST_F(PinnedTensor, MethodsAsTorch) {
  // x.pin_memory() / x.is_pinned(), as torch spells them, are the free functions.
  Tensor x = randn({4, 2});
  EXPECT_FALSE(x.is_pinned());
  Tensor p = x.pin_memory();
  EXPECT_TRUE(p.is_pinned());
  EXPECT_TRUE(is_pinned(p));
  EXPECT_TRUE(equal(p, x));
  EXPECT_TRUE(p.pin_memory().is_same(p));
  EXPECT_TRUE(p.transpose(0, 1).is_pinned());
  EXPECT_EQ(dev_.mallocs, 1);
}

TEST_F(PinnedTensor, ThePinnedBlockReturnsToItsAllocatorWhenTheTensorDies) {
  void* block = nullptr;
  {
    Tensor p = pin_memory(randn({64}));
    block = p.storage()->data();
  }
  EXPECT_EQ(dev_.frees, 0);  // cached, not freed
  EXPECT_EQ(pin_memory(randn({100})).storage()->data(), block);
  EXPECT_EQ(dev_.mallocs, 1);
}

TEST_F(PinnedTensor, ACopyToTheDeviceIsAsynchronousAndKeepsTheBlockAlive) {
  Tensor x = randn({4, 8});
  void* block = nullptr;
  Tensor y;
  {
    Tensor p = pin_memory(x);
    block = p.storage()->data();
    y = p.to(Device::sim());
  }  // p is gone while its copy is (for the fake device) still in flight
  EXPECT_EQ(dev_.copies, 1);
  EXPECT_TRUE(equal(y.cpu(), x));
  EXPECT_EQ(pinned_host_allocator()->stats().fenced_blocks, 1);
  Tensor other = pin_memory(randn({4, 8}));
  EXPECT_NE(other.storage()->data(), block);  // not reused while fenced
  dev_.complete_all();
  EXPECT_EQ(pin_memory(randn({4, 8})).storage()->data(), block);
}

TEST_F(PinnedTensor, UnpinnedAndNonContiguousSourcesCopyAsBefore) {
  Tensor x = randn({4, 6});
  Tensor y = x.to(Device::sim());
  EXPECT_EQ(dev_.copies, 0);
  Tensor pt = pin_memory(x).transpose(0, 1);  // contiguous() makes an unpinned copy
  EXPECT_TRUE(equal(pt.to(Device::sim()).cpu(), x.transpose(0, 1)));
  EXPECT_EQ(dev_.copies, 0);
  Tensor slice = pin_memory(x).narrow(0, 1, 2);  // contiguous, at an offset in its block
  EXPECT_TRUE(equal(slice.to(Device::sim()).cpu(), x.narrow(0, 1, 2)));
  EXPECT_EQ(dev_.copies, 1);
}

TEST_F(PinnedTensor, OnlyCpuTensorsCanBePinned) {
  Tensor s = randn({2, 3}).to(Device::sim());
  try {
    pin_memory(s);
    FAIL() << "pinned a sim tensor";
  } catch (const DeviceError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("pin_memory"), std::string::npos) << what;
    EXPECT_NE(what.find("sim"), std::string::npos) << what;
  }
  EXPECT_FALSE(is_pinned(s));
  EXPECT_THROW(pin_memory(Tensor()), Error);
}

TEST_F(PinnedTensor, GradientsFlowThroughPinMemory) {
  Tensor x = randn({3}).requires_grad_(true);
  Tensor p = pin_memory(x);
  EXPECT_TRUE(p.requires_grad());
  (p * p).sum().backward();
  EXPECT_TRUE(allclose(x.grad(), 2 * x.detach()));
}

TEST_F(PinnedTensor, TensorsPinnedByAReplacedAllocatorStayPinned) {
  Tensor p = pin_memory(randn({8}));
  auto mine = set_pinned_host_allocator(previous_);  // as after the test
  EXPECT_TRUE(is_pinned(p));
  set_pinned_host_allocator(mine);
}

// Without a GPU the process allocator is plain host memory: pinning works, copies do not
// go through it.
TEST(PinnedMemoryWithoutGpu, PinsIntoPlainMemoryAndCopiesSynchronously) {
  if (pinned_memory_has_device()) GTEST_SKIP() << "a GPU is present";
  EXPECT_EQ(pinned_host_allocator()->api().copy_target, DeviceType::cpu);
  Tensor x = randn({5});
  Tensor p = pin_memory(x);
  EXPECT_TRUE(is_pinned(p));
  EXPECT_TRUE(equal(p.to(Device::sim()).cpu(), x));
}

}  // namespace
}  // namespace ember
