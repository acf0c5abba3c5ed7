#include "tensor/device_guard.h"

#include "tensor/backend.h"

namespace ember {

int device_count(DeviceType type) {
  if (type == DeviceType::cpu) return 1;
  if (!backend_available(type)) return 0;  // not built in, or cuda without a GPU
  return backend(type).device_count();
}

Device current_device(DeviceType type) {
  if (type == DeviceType::cpu || !backend_available(type)) return {type, 0};
  return {type, backend(type).current_device()};
}

void set_device(Device d) { backend(d); }  // validates the ordinal and selects it

DeviceGuard::DeviceGuard(Device device) : original_(device), current_(device) {
  if (device.is_cpu()) return;
  Backend& b = backend(device.type);
  original_ = Device(device.type, b.current_device());
  if (original_ != device) backend(device);  // throws for a bad ordinal before anything changed
}

DeviceGuard::~DeviceGuard() {
  if (current_.is_cpu()) return;
  // Always: a backend call inside the scope may have made another device current. The
  // original was a valid current device, so restoring it cannot fail.
  backend(current_.type).set_device(original_.index);
}

}  // namespace ember
