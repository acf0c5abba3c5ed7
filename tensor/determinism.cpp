// The deterministic-algorithms switch (tensor/determinism.h).
#include "tensor/determinism.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>

#include "tensor/error.h"

namespace ember {

namespace {
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_warn_only{false};
}  // namespace

void use_deterministic_algorithms(bool mode, bool warn_only) {
  g_warn_only.store(mode && warn_only, std::memory_order_relaxed);
  g_deterministic.store(mode, std::memory_order_relaxed);
}

bool are_deterministic_algorithms_enabled() {
  return g_deterministic.load(std::memory_order_relaxed);
}

bool is_deterministic_algorithms_warn_only_enabled() {
  return g_warn_only.load(std::memory_order_relaxed);
}

void alert_not_deterministic(std::string_view op) {
  if (!are_deterministic_algorithms_enabled()) return;
  if (!is_deterministic_algorithms_warn_only_enabled())
    fail<ValueError>(op,
                     "does not have a deterministic implementation, but "
                     "use_deterministic_algorithms(true) is set (Trainer deterministic=true); "
                     "turn it off for this op, or use warn_only (deterministic=\"warn\")");
  static std::mutex mu;
  static std::set<std::string, std::less<>> warned;
  const std::lock_guard<std::mutex> lock(mu);
  if (warned.emplace(op).second)
    std::fprintf(stderr,
                 "ember: warning: %.*s does not have a deterministic implementation, but "
                 "use_deterministic_algorithms(true, warn_only) is set\n",
                 static_cast<int>(op.size()), op.data());
}

}  // namespace ember
