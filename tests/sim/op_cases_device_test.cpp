// Every op case of the registry on the GPU devices: `sim` (always) in the sequential and
// the shuffled schedule, and `cuda` (when a GPU is present; skipped with a message
// otherwise). Each is compared with the case's double reference, as the cpu is, and
// with the cpu backend's own output. Device memory on sim is filled with 0xFF (NaN)
// when allocated, so an output element a kernel never writes fails the comparison.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_required.h"
#include "registry/device_checks.h"

namespace ember::cases {
namespace {

std::vector<const OpCase*> all_cases() {
  std::vector<const OpCase*> v;
  for (const OpCase& c : op_cases()) v.push_back(&c);
  return v;
}

std::string case_name(const ::testing::TestParamInfo<const OpCase*>& info) {
  return sanitize(info.param->name);
}

class OpCaseSim : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(OpCaseSim, Sequential) {
  const OpCase& c = *GetParam();
  EXPECT_EQ(check_sim(c, sim::Schedule::sequential), "") << c.name;
}

TEST_P(OpCaseSim, Shuffled) {
  const OpCase& c = *GetParam();
  EXPECT_EQ(check_sim(c, sim::Schedule::shuffled), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(Registry, OpCaseSim, ::testing::ValuesIn(all_cases()), case_name);

class OpCaseCuda : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(OpCaseCuda, MatchesReferenceAndCpu) {
  EMBER_SKIP_WITHOUT_CUDA();
  const OpCase& c = *GetParam();
  EXPECT_EQ(check_device(c, Device::cuda()), "") << c.name;
}

INSTANTIATE_TEST_SUITE_P(Registry, OpCaseCuda, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace ember::cases
