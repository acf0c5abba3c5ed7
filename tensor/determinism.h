// ember::use_deterministic_algorithms (torch.use_deterministic_algorithms): a process-wide
// switch that the kernels with a non-deterministic path read at each call.
//
//   ember::use_deterministic_algorithms(true);   // Trainer({.deterministic = true}) does this
//
// While it is on, a path whose result can change from run to run (floating-point atomics
// on `cuda` and `sim`, a cuDNN algorithm without a determinism guarantee) takes a
// deterministic form where ember has one, and otherwise throws a ValueError naming the op
// (with warn_only: prints a warning once per op and runs it). docs/trainer.md ("Options")
// lists the paths.
#pragma once

#include <string_view>

namespace ember {

void use_deterministic_algorithms(bool mode, bool warn_only = false);
bool are_deterministic_algorithms_enabled();
bool is_deterministic_algorithms_warn_only_enabled();

// Called by an op on a path that has no deterministic form: throws (or warns once) while
// deterministic algorithms are on, and does nothing otherwise.
void alert_not_deterministic(std::string_view op);

}  // namespace ember
