// ember::set_flush_denormal (torch.set_flush_denormal): whether ember's cpu kernels treat
// subnormal f32 and f64 values as zero, on their inputs and their results.
//
//   ember::set_flush_denormal(false);  // IEEE subnormals in every cpu kernel (PyTorch's default)
//
// On by default, unlike PyTorch (docs/performance.md, "Subnormal numbers on Intel"): on
// Intel cores every SSE/AVX operation that reads or produces a subnormal takes a microcode
// assist of about a hundred cycles, and a model that has learned to be confident produces
// them all the time (a softmax probability of 1e-30 times a gradient, Adam's g * g of a
// tiny gradient). The seed step with attention ran 3x slower from them. Values below
// 1.2e-38 (f32) or 2.2e-308 (f64) become zero; nothing above changes.
//
// While it is on, a cpu kernel runs with the x86 MXCSR's flush-to-zero and
// denormals-are-zero bits set on the calling thread (restored when the kernel returns) and
// on the OpenMP threads that run its parallel loops (left set: they are the OpenMP pool's,
// so a program's own OpenMP loops on them flush too; set_flush_denormal(false) clears
// them). Copies and dtype conversions are exact either way. `cuda` and `sim` kernels keep
// the GPU's default (subnormals kept). On a CPU without these bits nothing changes.
#pragma once

#include <cstdint>

namespace ember {

// Sets the mode; returns whether this CPU can flush (torch.set_flush_denormal's result).
bool set_flush_denormal(bool mode);
bool is_flush_denormal_enabled();

namespace detail {
// Changes whenever the mode is set, so that the cpu kernels update their worker threads.
uint64_t flush_denormal_generation();
}  // namespace detail

}  // namespace ember
