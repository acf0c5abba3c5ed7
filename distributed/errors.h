// The errors of the distributed layer (torch.distributed's DistError family).
//
// Every blocking call (a store operation, a collective) has a timeout; when it runs out, or
// a peer disappears, the call throws one of these, naming the operation, the rank that
// threw and the time it waited, e.g.
//   "all_reduce: rank 1 of 2 (gloo): no answer from the peers after 2.0 s (timeout 2.0 s)".
#pragma once

#include <chrono>
#include <string>

#include "tensor/error.h"

namespace ember::distributed {

// The default timeout of the store and of every collective: 30 minutes (torch's default
// for Gloo and NCCL).
inline constexpr std::chrono::milliseconds kDefaultTimeout = std::chrono::minutes(30);

// Base class: anything that went wrong across processes.
struct DistError : Error {
  using Error::Error;
};
// The key-value store: a server that cannot be reached, a key that never came.
struct DistStoreError : DistError {
  using DistError::DistError;
};
// A collective that failed in its backend: a dead peer, a timeout.
struct DistBackendError : DistError {
  using DistError::DistError;
};

namespace detail {
// "2.013 s": the elapsed time in error messages.
std::string seconds_str(std::chrono::steady_clock::duration d);
}  // namespace detail

}  // namespace ember::distributed
