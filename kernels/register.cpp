// The backends built into this library register here, on first use of the registry.
#include "kernels/cpu/cpu_backend.h"
#include "tensor/backend.h"

namespace ember::detail {

void register_builtin_backends() { register_backend(&cpu::cpu_backend()); }

}  // namespace ember::detail
