#include "tensor/storage.h"

#include <mutex>
#include <vector>

#include "tensor/backend.h"
#include "tensor/profiler.h"

namespace ember {

namespace {

// Live storages and bytes, counted per thread so that creating a tensor costs no atomic
// read-modify-write: each thread adds to its own counters (plain loads and stores of
// relaxed atomics), and live_count()/live_bytes() sum every thread's. A storage freed
// on another thread than its creator's makes one counter go down and another up; the
// sum is right. An exiting thread folds its counts into `retired`.
struct Counters {
  std::atomic<int64_t> count{0}, bytes{0};
  void add(int64_t n, int64_t b) {
    count.store(count.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + b, std::memory_order_relaxed);
  }
};

struct Registry {
  std::mutex mutex;
  std::vector<Counters*> threads;
  int64_t retired_count = 0, retired_bytes = 0;
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: threads may exit after static destruction
  return *r;
}

struct ThreadCounters {
  Counters c;
  ThreadCounters() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.threads.push_back(&c);
  }
  ~ThreadCounters() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    r.retired_count += c.count.load(std::memory_order_relaxed);
    r.retired_bytes += c.bytes.load(std::memory_order_relaxed);
    std::erase(r.threads, &c);
  }
};

thread_local bool t_exited = false;  // set once this thread's counters are gone

struct ExitMark {
  ~ExitMark() { t_exited = true; }
};

void count(int64_t n, int64_t bytes) {
  if (!t_exited) {
    thread_local ThreadCounters counters;
    thread_local ExitMark mark;  // constructed after, so destroyed before, the counters
    counters.c.add(n, bytes);
    return;
  }
  Registry& r = registry();  // the thread is exiting: count straight into the total
  std::lock_guard lock(r.mutex);
  r.retired_count += n;
  r.retired_bytes += bytes;
}

}  // namespace

Storage::Storage(Device device, size_t nbytes) : device_(device), nbytes_(nbytes) {
  data_ = backend(device).allocate(nbytes);
  profiler::record_allocation(nbytes);
  count(1, static_cast<int64_t>(nbytes));
}

Storage::Storage(Device device, void* data, size_t nbytes, std::function<void(void*)> deleter)
    : device_(device), data_(data), nbytes_(nbytes), owned_(false), deleter_(std::move(deleter)) {
  count(1, static_cast<int64_t>(nbytes));
}

Storage::~Storage() {
  if (owned_) {
    // By type, selecting no device: a destructor must not throw, and each runtime finds the
    // device a block came from itself (issue 17, multidev).
    backend(device_.type).deallocate(data_, nbytes_);
  } else if (deleter_) {
    deleter_(data_);
  }
  count(-1, -static_cast<int64_t>(nbytes_));
}

namespace {
// The total of one counter over every thread, living and exited.
int64_t total(std::atomic<int64_t> Counters::*counter, int64_t Registry::*retired) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  int64_t n = r.*retired;
  for (const Counters* c : r.threads) n += (c->*counter).load(std::memory_order_relaxed);
  return n;
}
}  // namespace

int64_t Storage::live_count() { return total(&Counters::count, &Registry::retired_count); }
int64_t Storage::live_bytes() { return total(&Counters::bytes, &Registry::retired_bytes); }

}  // namespace ember
