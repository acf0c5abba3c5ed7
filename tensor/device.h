// Device: where a tensor's storage lives and which backend computes on it.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace ember {

// cpu: the host, computed by kernels/cpu. cuda: an NVIDIA GPU. sim: the CUDA
// kernels run on the host by the SIMT simulator (kernels/sim).
enum class DeviceType : uint8_t { cpu, cuda, sim };
inline constexpr int kNumDeviceTypes = 3;

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(i) {}  // NOLINT: implicit on purpose
  // Parses "cpu", "sim", "sim:1", "cuda", "cuda:1"; throws ValueError otherwise. Whether
  // the ordinal exists is checked where the device is used (backend(Device)), as in torch.
  Device(std::string_view spec);                                // NOLINT
  Device(const char* spec) : Device(std::string_view(spec)) {}  // NOLINT

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  static constexpr Device sim(int i = 0) { return {DeviceType::sim, i}; }
  // cuda:0 when a GPU backend is available, else cpu.
  static Device best();

  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  // Host-addressable memory: cpu, and sim (whose "device" memory is host memory).
  bool is_host_accessible() const { return type != DeviceType::cuda; }

  std::string str() const;  // "cpu", "sim" (sim:0), "sim:1", "cuda:0"
  friend constexpr bool operator==(const Device&, const Device&) = default;
};

std::ostream& operator<<(std::ostream& os, const Device& d);

}  // namespace ember
