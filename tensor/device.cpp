#include "tensor/device.h"

#include <charconv>
#include <ostream>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace ember {

Device::Device(std::string_view spec) {
  auto bad = [&] {
    fail<ValueError>("Device", "cannot parse '", spec, "': expected cpu, sim, cuda or cuda:N");
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
  if (type != DeviceType::cuda && idx != 0) bad();
  index = idx;
}

Device Device::best() {
  return backend_available(DeviceType::cuda) ? Device::cuda(0) : Device::cpu();
}

std::string Device::str() const {
  switch (type) {
    case DeviceType::cpu: return "cpu";
    case DeviceType::sim: return "sim";
    case DeviceType::cuda: return "cuda:" + std::to_string(index);
  }
  return "?";
}

std::ostream& operator<<(std::ostream& os, const Device& d) { return os << d.str(); }

}  // namespace ember
