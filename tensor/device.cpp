#include "tensor/device.h"

#include <charconv>
#include <ostream>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace ember {

Device::Device(std::string_view spec) {
  auto bad = [&] {
    fail<ValueError>("Device", "cannot parse '", spec,
                     "': expected cpu, sim, sim:N, cuda or cuda:N");
  };
  std::string_view name = spec;
  int idx = 0;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    name = spec.substr(0, colon);
    auto num = spec.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), idx);
    if (ec != std::errc() || ptr != num.data() + num.size() || idx < 0 || num.empty()) bad();
  }
  if (name == "cpu") {
    type = DeviceType::cpu;
  } else if (name == "cuda") {
    type = DeviceType::cuda;
  } else if (name == "sim") {
    type = DeviceType::sim;
  } else {
    bad();
  }
  if (type == DeviceType::cpu && idx != 0) bad();
  index = idx;
}

Device Device::best() {
  return backend_available(DeviceType::cuda) ? Device::cuda(0) : Device::cpu();
}

std::string Device::str() const {
  switch (type) {
    case DeviceType::cpu: return "cpu";
    // sim:0 prints as "sim", as it did before sim had ordinals (issue 17): logs and
    // fallback warnings keep their spelling.
    case DeviceType::sim: return index == 0 ? "sim" : "sim:" + std::to_string(index);
    case DeviceType::cuda: return "cuda:" + std::to_string(index);
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace ember
