// The profiler: where a run's time and memory go, op by op (torch.profiler's
// key_averages().table() and its Chrome trace).
//
//   profiler::start();                       // or: profiler::Guard guard;
//   { profiler::Range r("forward"); y = model.forward(x); }
//   y.sum().backward();
//   profiler::stop();
//   std::cout << profiler::table();          // sorted by total time
//   profiler::export_chrome_trace("trace.json");
//
// While on, it records every op entered through the op layer (`ember::add`,
// `ember::matmul`, ...), every node the autograd engine runs (`MulBackward`) and every
// user Range, with wall time, self time (minus nested events of the same thread) and
// the bytes of storage allocated while the event was the innermost one. An op entered
// from inside another op (the views and casts an op does internally, an overload
// forwarding to another) is part of the outer op, not an event of its own.
//
// It also counts the copies between the host and a device and the stream
// synchronizations (transfer_counts()): a training step on a GPU should make none it
// does not need, and these counts show the ones it makes.
//
// Off, a scope costs one predictable branch on a relaxed atomic load: no clock read, no
// allocation. Events are kept per thread and merged when the profiler stops.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tensor/device.h"

namespace ember::profiler {

enum class EventKind : uint8_t {
  op,        // an op of the op layer: "ember::add"
  backward,  // a node run by the autograd engine: "MulBackward"
  user,      // a profiler::Range: any name
};
const char* to_string(EventKind kind);

namespace detail {

extern std::atomic<bool> g_enabled;

// An open event. It lives inside the scope object on the stack of the thread that opened
// it, so opening an event allocates nothing; `parent` is the next open event outward.
struct Frame {
  const char* name;
  Frame* parent;
  uint64_t session;
  int64_t start_ns;
  int64_t child_ns;     // time of the recorded events nested directly inside
  int64_t bytes_self;   // allocated while this was the innermost open event
  int64_t child_bytes;  // allocated inside nested events
  int depth;            // recorded events enclosing this one
  EventKind kind;
  bool inplace;  // an op's in-place form: "ember::add_"
};

// Each returns whether the frame was opened (an op inside an op is not).
bool begin_op(Frame& f, const char* name, bool inplace);
bool begin_range(Frame& f, std::string_view name, EventKind kind);
void end(Frame& f) noexcept;
void add_allocated(size_t nbytes) noexcept;

}  // namespace detail

// What crosses between the host and a device, as the runtime layer under each device
// (kernels/cuda/runtime.h) sees it.
enum class Transfer : uint8_t {
  h2d,   // a copy from host memory into the device's memory
  d2h,   // a copy from the device's memory to the host (the host waits for it)
  sync,  // an explicit synchronization of the device's stream (the host waits)
};
namespace detail {
void add_transfer(Transfer kind, DeviceType device, size_t nbytes) noexcept;
void reset_transfers() noexcept;
}  // namespace detail

inline bool is_enabled() noexcept { return detail::g_enabled.load(std::memory_order_relaxed); }

// Called by Storage for every allocation it makes.
inline void record_allocation(size_t nbytes) noexcept {
  if (is_enabled()) [[unlikely]]
    detail::add_allocated(nbytes);
}

// Called by the runtime layer of the cuda and sim devices for every copy between host and
// device memory and every stream synchronization. sim counts as a device: its memory is
// host memory, but it stands in for the GPU, so a copy between a cpu and a sim tensor
// counts as it would on cuda.
inline void record_transfer(Transfer kind, DeviceType device, size_t nbytes = 0) noexcept {
  if (is_enabled()) [[unlikely]]
    detail::add_transfer(kind, device, nbytes);
}

namespace detail {
// Closes its frame, if it opened one, when it goes out of scope.
class Scope {
 public:
  ~Scope() {
    if (open_) [[unlikely]]
      end(frame_);
  }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 protected:
  Scope() = default;
  Frame frame_;
  bool open_ = false;
};
}  // namespace detail

// The event of one op call, opened by the op layer at its entry points. `name` is the
// op's name without the "ember::" prefix and must outlive the profiling session (a
// string literal or a to_string() of an op enum).
class OpScope : detail::Scope {
 public:
  explicit OpScope(const char* name, bool inplace = false) {
    if (is_enabled()) [[unlikely]]
      open_ = detail::begin_op(frame_, name, inplace);
  }
};

// A named range of code (torch's record_function): everything recorded while it is open
// nests inside it. The autograd engine opens one of kind `backward` per node it runs.
// A Range closes on the thread that opened it; one held outside the stack (in an
// std::optional across callbacks) that outlives an inner Range is dropped.
class Range : detail::Scope {
 public:
  explicit Range(std::string_view name, EventKind kind = EventKind::user) {
    if (is_enabled()) [[unlikely]]
      open_ = detail::begin_range(frame_, name, kind);
  }
};

// ---- sessions ---------------------------------------------------------------------------

// Starts recording, discarding the events of the previous session; throws ValueError
// when already on. Events still open on any thread when stop() is called are dropped.
void start();
// Stops recording and keeps this session's events for the functions below. Does nothing
// when the profiler is off.
void stop();

// start() now, stop() at the end of the scope.
class Guard {
 public:
  Guard() { start(); }
  ~Guard() { stop(); }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
};

// ---- results of the last session -----------------------------------------------------------

struct Event {
  std::string name;  // "ember::add", "MulBackward", a Range's name
  EventKind kind = EventKind::op;
  int64_t thread = 0;    // a small id, stable for the thread's lifetime
  int64_t start_ns = 0;  // since start()
  int64_t duration_ns = 0;
  int64_t self_ns = 0;      // duration minus the events nested directly inside
  int64_t self_bytes = 0;   // storage allocated while this event was the innermost
  int64_t total_bytes = 0;  // storage allocated while this event was open
  int depth = 0;            // how many recorded events enclose it on its thread
};

// Every event of the last session, by thread, then start time (an enclosing event first).
std::vector<Event> events();

// Events of one name, summed over calls and threads (torch's key_averages()).
struct EventStats {
  std::string name;
  EventKind kind = EventKind::op;
  int64_t calls = 0;
  int64_t total_ns = 0;
  int64_t self_ns = 0;
  int64_t self_bytes = 0;
  int64_t total_bytes = 0;
};
enum class SortBy { total, self, calls, self_bytes, total_bytes };
std::vector<EventStats> key_averages(SortBy sort_by = SortBy::total);

// Copies and synchronizations counted while the profiler was on: of the running session
// (so far), else of the last one. Counts start at zero with each start().
struct TransferCounts {
  int64_t h2d = 0, d2h = 0, syncs = 0;
  int64_t h2d_bytes = 0, d2h_bytes = 0;
  friend TransferCounts operator-(const TransferCounts& a, const TransferCounts& b) {
    return {a.h2d - b.h2d, a.d2h - b.d2h, a.syncs - b.syncs, a.h2d_bytes - b.h2d_bytes,
            a.d2h_bytes - b.d2h_bytes};
  }
  friend bool operator==(const TransferCounts&, const TransferCounts&) = default;
};
TransferCounts transfer_counts();                   // all devices
TransferCounts transfer_counts(DeviceType device);  // one kind of device (cuda: all GPUs)
// "h2d=3 (1.50 KiB) d2h=0 (0 B) syncs=1"
std::string to_string(const TransferCounts& counts);

// torch's key_averages().table(): Name, Self CPU %, Self CPU, CPU total %, CPU total,
// CPU time avg, # of Calls, Self Alloc, Alloc, one row per name (the top_n first; -1:
// all), the sum of self times and, per device that made any, the transfer counts.
// Percentages are of that sum.
std::string table(SortBy sort_by = SortBy::total, int64_t top_n = -1);

// The Chrome trace (Trace Event Format, "X" events in microseconds) that
// chrome://tracing and Perfetto (ui.perfetto.dev) open; written atomically.
std::string chrome_trace_json();
void export_chrome_trace(const std::string& path);

}  // namespace ember::profiler
