// The profiler's recording: open events are frames on the threads' stacks (profiler.h);
// a closed event goes into its thread's buffer, and stop() merges the buffers.
//
// A session number tells events apart across start/stop: a frame opened in one session
// and closed after stop() (or in the next session) is dropped, and a buffer belongs to
// one session. Each buffer has its own mutex, so stop() can collect it while its thread
// is still closing an event; the thread itself never waits for another one.
#include "tensor/profiler.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "tensor/error.h"

namespace ember::profiler {

namespace detail {
std::atomic<bool> g_enabled{false};
}  // namespace detail

const char* to_string(EventKind kind) {
  switch (kind) {
    case EventKind::op: return "op";
    case EventKind::backward: return "backward";
    case EventKind::user: return "user_range";
  }
  return "?";
}

namespace {

using detail::Frame;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct RawEvent {
  const char* name;
  int64_t start_ns, duration_ns, self_ns, self_bytes, total_bytes;
  int depth;
  EventKind kind;
  bool inplace;
};

struct NameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct ThreadBuffer {
  std::mutex mu;
  uint64_t session = 0;
  int64_t thread = 0;
  bool closed = false;  // collected by stop(): late events are dropped
  std::vector<RawEvent> events;
  // Names of ranges and nodes, interned: events point into it (set nodes never move).
  std::unordered_set<std::string, NameHash, std::equal_to<>> names;
};

struct State {
  std::mutex mu;
  uint64_t session = 0;  // also in g_session, for reads without the lock
  int64_t t0_ns = 0;
  std::vector<std::shared_ptr<ThreadBuffer>> buffers;  // of the running session
  std::vector<Event> last;                             // of the last stopped session
};

// Never destroyed: threads may still close events while static destructors run.
State& state() {
  static State* s = new State;
  return *s;
}

std::atomic<uint64_t> g_session{0};
std::atomic<int64_t> g_next_thread{1};

thread_local std::shared_ptr<ThreadBuffer> tl_buffer;
thread_local Frame* tl_current = nullptr;  // the innermost open frame of this thread
thread_local int64_t tl_thread = 0;

// This thread's buffer for `session`, registered on first use.
ThreadBuffer& buffer(uint64_t session) {
  if (!tl_buffer || tl_buffer->session != session) {
    if (tl_thread == 0) tl_thread = g_next_thread.fetch_add(1);
    auto b = std::make_shared<ThreadBuffer>();
    b->session = session;
    b->thread = tl_thread;
    State& st = state();
    std::lock_guard lock(st.mu);
    if (st.session != session) b->closed = true;  // that session ended meanwhile
    else st.buffers.push_back(b);
    tl_buffer = std::move(b);
  }
  return *tl_buffer;
}

void open(Frame& f, const char* name, EventKind kind, bool inplace, uint64_t session) {
  f.name = name;
  f.parent = tl_current;
  f.session = session;
  f.child_ns = 0;
  f.bytes_self = 0;
  f.child_bytes = 0;
  f.kind = kind;
  f.inplace = inplace;
  f.depth = f.parent && f.parent->session == session ? f.parent->depth + 1 : 0;
  tl_current = &f;
  f.start_ns = now_ns();  // last, so the setup is not timed
}

}  // namespace

namespace detail {

bool begin_op(Frame& f, const char* name, bool inplace) {
  // The views, casts and overloads an op goes through are the op's own work.
  if (tl_current && tl_current->kind == EventKind::op) return false;
  open(f, name, EventKind::op, inplace, g_session.load(std::memory_order_acquire));
  return true;
}

bool begin_range(Frame& f, std::string_view name, EventKind kind) {
  const uint64_t session = g_session.load(std::memory_order_acquire);
  ThreadBuffer& b = buffer(session);
  const char* interned;
  {
    std::lock_guard lock(b.mu);
    auto it = b.names.find(name);
    if (it == b.names.end()) it = b.names.emplace(name).first;
    interned = it->c_str();
  }
  open(f, interned, kind, false, session);
  return true;
}

void end(Frame& f) noexcept {
  const int64_t t = now_ns();
  // Frames above f on this thread's chain were left open (an exception carried a Range
  // held outside the stack past its close): they are abandoned with it. A frame no longer
  // on the chain is dropped, without touching its parent, which may be gone.
  Frame* p = tl_current;
  while (p && p != &f) p = p->parent;
  if (!p) return;
  tl_current = f.parent;
  const int64_t dur = t - f.start_ns;
  if (f.parent && f.parent->session == f.session) {
    f.parent->child_ns += dur;
    f.parent->child_bytes += f.bytes_self + f.child_bytes;
  }
  if (f.session != g_session.load(std::memory_order_acquire) || !is_enabled()) return;
  try {
    ThreadBuffer& b = buffer(f.session);
    std::lock_guard lock(b.mu);
    if (b.closed) return;
    b.events.push_back({f.name, f.start_ns, dur, dur - f.child_ns, f.bytes_self,
                        f.bytes_self + f.child_bytes, f.depth, f.kind, f.inplace});
  } catch (...) {
    // Out of memory while profiling: the event is lost, the program goes on.
  }
}

namespace {
// Per device type: h2d, d2h, syncs, h2d bytes, d2h bytes. Plain counters shared by all
// threads: a transfer is rare next to the ops around it, so contention does not matter.
enum Counter { kH2d, kD2h, kSyncs, kH2dBytes, kD2hBytes, kNumCounters };
std::atomic<int64_t> g_transfers[kNumDeviceTypes][kNumCounters];
}  // namespace

void add_transfer(Transfer kind, DeviceType device, size_t nbytes) noexcept {
  std::atomic<int64_t>* c = g_transfers[static_cast<int>(device)];
  const auto bytes = static_cast<int64_t>(nbytes);
  switch (kind) {
    case Transfer::h2d:
      c[kH2d].fetch_add(1, std::memory_order_relaxed);
      c[kH2dBytes].fetch_add(bytes, std::memory_order_relaxed);
      break;
    case Transfer::d2h:
      c[kD2h].fetch_add(1, std::memory_order_relaxed);
      c[kD2hBytes].fetch_add(bytes, std::memory_order_relaxed);
      break;
    case Transfer::sync: c[kSyncs].fetch_add(1, std::memory_order_relaxed); break;
  }
}

void reset_transfers() noexcept {
  for (auto& device : g_transfers)
    for (auto& c : device) c.store(0, std::memory_order_relaxed);
}

void add_allocated(size_t nbytes) noexcept {
  Frame* f = tl_current;
  if (f && f->session == g_session.load(std::memory_order_relaxed))
    f->bytes_self += static_cast<int64_t>(nbytes);
}

}  // namespace detail

void start() {
  State& st = state();
  std::lock_guard lock(st.mu);
  if (is_enabled())
    fail<ValueError>("profiler.start", "the profiler is already running; stop() it first");
  st.session += 1;
  st.buffers.clear();
  st.last.clear();
  st.t0_ns = now_ns();
  detail::reset_transfers();
  g_session.store(st.session, std::memory_order_release);
  detail::g_enabled.store(true, std::memory_order_release);
}

namespace {

std::string event_name(const RawEvent& e) {
  if (e.kind != EventKind::op) return e.name;
  std::string s = "ember::";
  s += e.name;
  if (e.inplace) s += '_';
  return s;
}

}  // namespace

void stop() {
  State& st = state();
  std::lock_guard lock(st.mu);
  if (!is_enabled()) return;
  detail::g_enabled.store(false, std::memory_order_release);
  std::vector<Event> merged;
  for (const auto& b : st.buffers) {
    std::lock_guard block(b->mu);
    b->closed = true;
    for (const RawEvent& r : b->events)
      merged.push_back({event_name(r), r.kind, b->thread, r.start_ns - st.t0_ns, r.duration_ns,
                        r.self_ns, r.self_bytes, r.total_bytes, r.depth});
    b->events.clear();
  }
  st.buffers.clear();
  std::sort(merged.begin(), merged.end(), [](const Event& a, const Event& b) {
    if (a.thread != b.thread) return a.thread < b.thread;
    if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
    return a.duration_ns > b.duration_ns;
  });
  st.last = std::move(merged);
}

TransferCounts transfer_counts(DeviceType device) {
  const std::atomic<int64_t>* c = detail::g_transfers[static_cast<int>(device)];
  auto get = [&](int i) { return c[i].load(std::memory_order_relaxed); };
  return {get(detail::kH2d), get(detail::kD2h), get(detail::kSyncs), get(detail::kH2dBytes),
          get(detail::kD2hBytes)};
}

TransferCounts transfer_counts() {
  TransferCounts total;
  for (int d = 0; d < kNumDeviceTypes; ++d) {
    const TransferCounts c = transfer_counts(static_cast<DeviceType>(d));
    total.h2d += c.h2d;
    total.d2h += c.d2h;
    total.syncs += c.syncs;
    total.h2d_bytes += c.h2d_bytes;
    total.d2h_bytes += c.d2h_bytes;
  }
  return total;
}

std::vector<Event> events() {
  State& st = state();
  std::lock_guard lock(st.mu);
  return st.last;
}

}  // namespace ember::profiler
