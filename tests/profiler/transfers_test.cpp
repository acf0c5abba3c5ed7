// ember::profiler's transfer counters: copies between the host and a device and stream
// synchronizations, counted by the runtime layer under the sim (and cuda) device.
#include <gtest/gtest.h>

#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"

namespace {

using namespace ember;
using profiler::TransferCounts;

TEST(Profiler, CountsACopyToADeviceAsOneH2dAndBackAsOneD2h) {
  const Tensor host = randn({4, 5});  // (4, 5) f32: 80 bytes
  profiler::start();
  const Tensor dev = host.to(Device::sim());
  EXPECT_EQ(profiler::transfer_counts(), (TransferCounts{1, 0, 0, 80, 0}));
  const Tensor back = dev.to(Device::cpu());
  EXPECT_EQ(profiler::transfer_counts(), (TransferCounts{1, 1, 0, 80, 80}));
  profiler::stop();
  EXPECT_TRUE(equal(back, host));
  // Kept after stop, per device: sim made them, cpu none.
  EXPECT_EQ(profiler::transfer_counts(DeviceType::sim), (TransferCounts{1, 1, 0, 80, 80}));
  EXPECT_EQ(profiler::transfer_counts(DeviceType::cpu), TransferCounts{});
  EXPECT_NE(profiler::table().find("Transfers (sim): h2d=1 (80 B) d2h=1 (80 B) syncs=0"),
            std::string::npos)
      << profiler::table();
}

TEST(Profiler, CountsItemAsOneD2hAndSynchronizeAsOneSync) {
  const Tensor dev = randn({3}, {.device = Device::sim()});
  profiler::start();
  const Tensor s = dev.sum();  // computed on the device: no transfer
  EXPECT_EQ(profiler::transfer_counts(), TransferCounts{});
  (void)s.item<float>();
  backend(Device::sim()).synchronize();
  profiler::stop();
  EXPECT_EQ(profiler::transfer_counts(), (TransferCounts{0, 1, 1, 0, 4}));
}

TEST(Profiler, CountsNothingWhileOffAndRestartsAtZero) {
  const Tensor host = randn({8});
  (void)host.to(Device::sim());  // off: not counted
  profiler::start();
  EXPECT_EQ(profiler::transfer_counts(), TransferCounts{});
  (void)host.to(Device::sim()).to(Device::cpu());
  (void)host.to(Device::cpu());  // already there: no copy
  profiler::stop();
  (void)host.to(Device::sim());  // off again
  EXPECT_EQ(profiler::transfer_counts(), (TransferCounts{1, 1, 0, 32, 32}));
  EXPECT_EQ(profiler::to_string(profiler::transfer_counts()), "h2d=1 (32 B) d2h=1 (32 B) syncs=0");
  profiler::start();
  EXPECT_EQ(profiler::transfer_counts(), TransferCounts{});
  profiler::stop();
  EXPECT_EQ(profiler::table().find("Transfers"), std::string::npos);  // no device made any
}

}  // namespace
