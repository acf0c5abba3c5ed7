// Device memory of the sim device: host memory with guard bytes, poisoned when allocated.
//
// Each allocation is [64 guard bytes][the bytes asked for][64+ guard bytes]; the guards
// hold a known pattern that check_guards() verifies after every launch, so a kernel that
// writes past either end fails with an error naming it. The bytes handed out are filled
// with 0xFF (NaN for floats, -1 for integers), so an output element a kernel forgets to
// write shows up in a comparison. Under AddressSanitizer the guards are also poisoned,
// so the sanitizer reports the faulty access itself, with its stack.
#pragma once

#include <cstddef>

#include "kernels/memory.h"

namespace ember::sim {

inline constexpr size_t kGuardBytes = 64;

// The most simulated devices (EMBER_SIM_DEVICES); each keeps its own statistics (issue 17).
inline constexpr int kMaxDevices = 16;

// On simulated device `device` (< kMaxDevices); throws ember::Error when the host is out of
// memory. device_free counts the release on the allocation's device, whichever is current.
void* device_malloc(size_t nbytes, int device = 0);
void device_free(void* ptr) noexcept;
MemoryStats memory_stats(int device);
void reset_peak_memory_stats(int device);
// Throws ember::Error naming `kernel` if a guard of a live allocation changed, and restores
// the guard (the error is reported once).
void check_guards(const char* kernel);

}  // namespace ember::sim
