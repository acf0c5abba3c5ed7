#include "registry/device_checks.h"

#include <exception>

namespace ember::cases {

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

std::string check_sim(const OpCase& c, sim::Schedule schedule) {
  const bool sequential = schedule == sim::Schedule::sequential;
  sim::ScheduleGuard guard(schedule,
                           sequential ? sim::schedule_seed() : sim::schedule_seed() ^ c.seed());
  std::string report = check_case(c, Device::sim());
  if (sequential) report += compare_with_cpu(c, Device::sim());
  return report;
}

std::string check_device(const OpCase& c, Device device) {
  return check_case(c, device) + compare_with_cpu(c, device);
}

}  // namespace ember::cases
