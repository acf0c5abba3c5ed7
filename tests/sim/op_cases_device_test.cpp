// Every op case of the registry on the GPU devices: `sim` (always) in the sequential and
// the shuffled schedule, and `cuda` (when a GPU is present; skipped with a message
// otherwise). Each is compared with the case's double reference, as the cpu is, and
// with the cpu backend's own output. Device memory on sim is filled with 0xFF (NaN)
// when allocated, so an output element a kernel never writes fails the comparison.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_required.h"
#include "kernels/sim/scheduler.h"
#include "registry/op_cases.h"

namespace ember::cases {
namespace {

std::vector<const OpCase*> all_cases() {
  std::vector<const OpCase*> v;
  for (const OpCase& c : op_cases()) v.push_back(&c);
  return v;
}

std::string case_name(const ::testing::TestParamInfo<const OpCase*>& info) { return sanitize(info.param->name); }

// Runs the case on `device` and on the cpu from the same seed (so with the same inputs:
// Philox gives every device the same numbers) and compares the outputs.
std::string compare_with_cpu(const OpCase& c, Device device) {
  try {
    Outputs cpu = c.run(c.inputs(Device::cpu()));
    Outputs dev = c.run(c.inputs(device));
    if (cpu.size() != dev.size()) return "output counts differ from the cpu's";
    std::string report;
    for (size_t i = 0; i < cpu.size(); ++i) {
      std::string r = compare(dev[i], ref::from_tensor(cpu[i]), cpu[i].dtype(), c.tol);
      if (!r.empty()) report += "output " + std::to_string(i) + " vs cpu: " + r + "\n";
    }
    return report;
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

class OpCaseSim : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(OpCaseSim, Sequential) {
  const OpCase& c = *GetParam();
  sim::ScheduleGuard schedule(sim::Schedule::sequential);
  EXPECT_EQ(check_case(c, Device::sim()), "") << c.name;
  EXPECT_EQ(compare_with_cpu(c, Device::sim()), "") << c.name;
}

TEST_P(OpCaseSim, Shuffled) {
  const OpCase& c = *GetParam();
  sim::ScheduleGuard schedule(sim::Schedule::shuffled, sim::schedule_seed() ^ c.seed());
  EXPECT_EQ(check_case(c, Device::sim()), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(Registry, OpCaseSim, ::testing::ValuesIn(all_cases()), case_name);

class OpCaseCuda : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(OpCaseCuda, MatchesReferenceAndCpu) {
  EMBER_SKIP_WITHOUT_CUDA();
  const OpCase& c = *GetParam();
  EXPECT_EQ(check_case(c, Device::cuda()), "") << c.name;
  EXPECT_EQ(compare_with_cpu(c, Device::cuda()), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(Registry, OpCaseCuda, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace ember::cases
