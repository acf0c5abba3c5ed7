// autocast's op policy (internal; autograd/autocast.h is the public part, docs/amp.md the
// table). Each op of a policy list opens with one line, e.g. matmul:
//
//   if (autocast_policy::active())
//     return autocast_policy::lower_precision([](const Tensor& x, const Tensor& y) {
//       return matmul(x, y); }, a, b);
//
// which casts the eligible tensors (floating, not f64: torch's rule) and calls the op again
// with autocast suspended on this thread, so the op's body (a composite's inner softmax or
// matmul) runs in the dtypes the policy chose, as torch runs an op below its Autocast key.
#pragma once

#include <cstdint>
#include <utility>

#include "tensor/tensor.h"

namespace ember::autocast_policy {

namespace detail {
extern thread_local int t_enabled_count;  // device types with autocast on, this thread
extern thread_local bool t_suspended;     // inside a policy op's body (or backward)
}  // namespace detail

// Whether an op must consult the policy: autocast is on for some device type on this
// thread and no policy op (or backward pass) is running below us.
inline bool active() { return detail::t_enabled_count > 0 && !detail::t_suspended; }

// Suspends the policy for its scope (a policy op's body; the backward engine).
class Suspend {
 public:
  Suspend() : prev_(detail::t_suspended) { detail::t_suspended = true; }
  ~Suspend() { detail::t_suspended = prev_; }
  Suspend(const Suspend&) = delete;
  Suspend& operator=(const Suspend&) = delete;

 private:
  bool prev_;
};

// t as `dtype` when it is an eligible floating tensor of another dtype, else t. The
// lower-precision cast of an f32 leaf requiring grad comes from the thread's cache.
Tensor cast_lower(const Tensor& t, DType dtype);
Tensor cast_f32(const Tensor& t);
// The autocast dtype of the first defined tensor's device type when autocast is on there.
bool enabled_for(const Tensor& first, DType* dtype);
// Casts autocast made on this thread (cached ones counted once): how tests see the cache.
int64_t cast_count();

template <typename... Ts>
const Tensor& first_defined(const Tensor& t, const Ts&... rest) {
  if constexpr (sizeof...(rest) == 0) {
    return t;
  } else {
    return t.defined() ? t : first_defined(rest...);
  }
}

// matmul, mm, bmm, addmm, baddbmm, linear, conv, attention: the tensors in the autocast dtype.
template <typename F, typename... Ts>
auto lower_precision(F&& op, const Ts&... ts) {
  DType dtype{};
  const bool on = enabled_for(first_defined(ts...), &dtype);
  Suspend suspend;
  if (!on) return op(ts...);
  return op(cast_lower(ts, dtype)...);
}

// softmax, losses, norms, exp/log/pow, reductions: bf16/f16 tensors in f32.
template <typename F, typename... Ts>
auto fp32(F&& op, const Ts&... ts) {
  DType dtype{};
  const bool on = enabled_for(first_defined(ts...), &dtype);
  Suspend suspend;
  if (!on) return op(ts...);
  return op(cast_f32(ts)...);
}

}  // namespace ember::autocast_policy
