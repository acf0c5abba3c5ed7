// autocast's per-thread state, its guard and the weight cast cache (autograd/autocast.h).
#include "autograd/autocast.h"

#include <array>
#include <unordered_map>

#include "autograd/autocast_policy.h"
#include "autograd/grad_mode.h"
#include "tensor/error.h"

namespace ember {

namespace {

struct DeviceState {
  bool enabled = false;
  DType dtype;
};

// torch's defaults: bf16 on the cpu, f16 on cuda (and on sim, which stands in for cuda).
std::array<DeviceState, kNumDeviceTypes> default_states() {
  std::array<DeviceState, kNumDeviceTypes> s{};
  s[static_cast<size_t>(DeviceType::cpu)].dtype = DType::bf16;
  s[static_cast<size_t>(DeviceType::cuda)].dtype = DType::f16;
  s[static_cast<size_t>(DeviceType::sim)].dtype = DType::f16;
  return s;
}

// One cached cast: the source is held so its address cannot be reused by another tensor
// while the entry lives; a cast is reused only at the source's version it was made from
// (an in-place update inside the region, such as an optimizer step, makes a new one). Casts
// made with grad mode off have no graph, so they get their own slot.
struct CachedCast {
  Tensor source;
  std::array<Tensor, 2> cast;  // [grad mode on]
  std::array<uint32_t, 2> version{};
};

thread_local std::array<DeviceState, kNumDeviceTypes> t_state = default_states();
thread_local bool t_cache_enabled = true;
thread_local int t_nesting = 0;  // live guards on this thread
thread_local std::unordered_map<const void*, CachedCast> t_cache;
thread_local int64_t t_casts = 0;

DeviceState& state(DeviceType d) { return t_state[static_cast<size_t>(d)]; }

void check_dtype(const char* op, DType dtype) {
  if (!is_half(dtype))
    fail<ValueError>(op, "dtype must be bf16 or f16 (the lower-precision dtypes), got ", dtype);
}

Tensor counted_cast(const Tensor& t, DType dtype) {
  ++t_casts;
  return t.to(dtype);
}

}  // namespace

namespace autocast_policy {

namespace detail {
thread_local int t_enabled_count = 0;
thread_local bool t_suspended = false;
}  // namespace detail

bool enabled_for(const Tensor& first, DType* dtype) {
  if (!first.defined()) return false;
  const DeviceState& s = state(first.device().type);
  *dtype = s.dtype;
  return s.enabled;
}

Tensor cast_lower(const Tensor& t, DType dtype) {
  if (!t.defined() || !is_floating(t.dtype()) || t.dtype() == DType::f64 || t.dtype() == dtype)
    return t;
  // torch's cached_casts: an f32 leaf that requires grad (a weight), not a view.
  const bool cacheable = t_cache_enabled && t_nesting > 0 && t.dtype() == DType::f32 &&
                         t.requires_grad() && t.is_leaf() && !t.impl()->autograd->is_view;
  if (!cacheable) return counted_cast(t, dtype);
  const size_t slot = autograd::GradMode::is_enabled() ? 1 : 0;
  CachedCast& entry = t_cache[t.impl()];
  entry.source = t;
  Tensor& cast = entry.cast[slot];
  if (!cast.defined() || cast.dtype() != dtype || entry.version[slot] != t.version()) {
    cast = counted_cast(t, dtype);
    entry.version[slot] = t.version();
  }
  return cast;
}

Tensor cast_f32(const Tensor& t) {
  return t.defined() && is_half(t.dtype()) ? counted_cast(t, DType::f32) : t;
}

int64_t cast_count() { return t_casts; }

}  // namespace autocast_policy

autocast::autocast(DeviceType device, std::optional<DType> dtype, bool enabled, bool cache_enabled)
    : device_(device),
      prev_enabled_(state(device).enabled),
      prev_dtype_(state(device).dtype),
      prev_cache_enabled_(t_cache_enabled) {
  if (dtype) check_dtype("autocast", *dtype);
  if (dtype) state(device).dtype = *dtype;
  set_autocast_enabled(device, enabled);
  t_cache_enabled = cache_enabled;
  ++t_nesting;
}

autocast::~autocast() {
  // torch clears the cache when the outermost region exits: the casts hold graph nodes and
  // memory that must not outlive the forward they served.
  if (--t_nesting == 0) clear_autocast_cache();
  t_cache_enabled = prev_cache_enabled_;
  state(device_).dtype = prev_dtype_;
  set_autocast_enabled(device_, prev_enabled_);
}

bool is_autocast_enabled(DeviceType device) { return state(device).enabled; }
DType get_autocast_dtype(DeviceType device) { return state(device).dtype; }

void set_autocast_enabled(DeviceType device, bool enabled) {
  DeviceState& s = state(device);
  if (s.enabled != enabled) autocast_policy::detail::t_enabled_count += enabled ? 1 : -1;
  s.enabled = enabled;
}

void set_autocast_dtype(DeviceType device, DType dtype) {
  check_dtype("set_autocast_dtype", dtype);
  state(device).dtype = dtype;
}

bool is_autocast_cache_enabled() { return t_cache_enabled; }
void set_autocast_cache_enabled(bool enabled) { t_cache_enabled = enabled; }
void clear_autocast_cache() { t_cache.clear(); }

}  // namespace ember
