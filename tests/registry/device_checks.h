// The per-case device checks that every driver of the registry runs (the gtest suites
// and ember_ops): a device against the case's f64 reference and against the cpu's own
// output, and sim in each of the simulator's schedules.
#pragma once

#include <string>

#include "kernels/sim/scheduler.h"
#include "registry/op_cases.h"

namespace ember::cases {

// Runs the case on `device` and on the cpu from the same seed (so with the same inputs:
// Philox gives every device the same numbers) and compares the outputs within the
// case's tolerance; "" when all match.
std::string compare_with_cpu(const OpCase& c, Device device);

// The case on sim in one schedule, against the reference; the sequential schedule also
// compares with the cpu. The shuffled order is seeded from the case, so a failure repeats.
std::string check_sim(const OpCase& c, sim::Schedule schedule);

// The case on a device other than sim (cuda): the reference, and the cpu's output.
std::string check_device(const OpCase& c, Device device);

}  // namespace ember::cases
