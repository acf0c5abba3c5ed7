// The Gloo backend: collectives over TCP between host buffers (cpu tensors, and sim tensors,
// whose device memory is host memory).
//
// Gloo's options-based collectives (gloo::allreduce, broadcast, allgather, barrier) each
// take an end-to-end timeout; a peer that dies closes its sockets, which fails the
// collective at once on the ranks connected to it, and one that hangs runs it into the
// timeout. Either way the gloo exception becomes a DistBackendError naming the op, the
// rank and the elapsed time. Ops run on one worker thread per group in call order, so the
// ranks issue them in the same order and tags stay unique.
//
// Reduce-scatter is an all-reduce of the whole input followed by a copy of this rank's
// chunk: twice the traffic of a ring reduce-scatter, but Gloo 0.5 has no options-based
// reduce-scatter (only a halving-doubling algorithm class for floats).
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "distributed/process_group.h"
#include "tensor/backend.h"

namespace ember::distributed {

namespace {

using Clock = std::chrono::steady_clock;

// ember's Store seen as Gloo's (its rendezvous reads and writes the pairs' addresses).
class GlooStoreAdapter : public gloo::rendezvous::Store {
 public:
  explicit GlooStoreAdapter(std::shared_ptr<distributed::Store> store) : store_(std::move(store)) {}
  void set(const std::string& key, const std::vector<char>& data) override {
    store_->set(key, Bytes(data.begin(), data.end()));
  }
  std::vector<char> get(const std::string& key) override {
    Bytes b = store_->get(key);
    return std::vector<char>(b.begin(), b.end());
  }
  void wait(const std::vector<std::string>& keys) override { store_->wait(keys); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& t) override {
    store_->wait(keys, t);
  }

 private:
  std::shared_ptr<distributed::Store> store_;
};

class GlooWork : public Work {
 public:
  bool is_completed() override {
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
  }
  void wait() override {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return done_; });
    // A fresh exception on the waiting thread: an exception_ptr shared with the worker
    // would be freed by whichever thread drops it last, through libstdc++'s uninstrumented
    // reference count, which ThreadSanitizer reports as a race.
    if (failed_) throw DistBackendError(op_, message_);
  }
  void finish() { finish_with("", ""); }
  void finish_with(std::string op, std::string message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
      failed_ = !op.empty();
      op_ = std::move(op);
      message_ = std::move(message);
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool failed_ = false;
  std::string op_, message_;
};

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

template <typename T>
ReduceFn reduce_fn(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum:
    case ReduceOp::avg: return &gloo::sum<T>;
    case ReduceOp::product: return &gloo::product<T>;
    case ReduceOp::min: return &gloo::min<T>;
    case ReduceOp::max: return &gloo::max<T>;
  }
  return nullptr;
}

// Gloo's options want typed pointers; byte-wise collectives (broadcast, gather) use
// uint8_t, reductions the element type.
void check_reducible(const char* op, DType dtype, ReduceOp rop) {
  switch (dtype) {
    case DType::f32:
    case DType::f64: return;
    case DType::i64:
      if (rop == ReduceOp::avg) {
        fail<DTypeError>(op, "ReduceOp::avg needs a floating dtype, got ", to_string(dtype),
                         " (sum, then divide as you see fit)");
      }
      return;
    default:
      fail<DTypeError>(op, "the gloo backend reduces f32, f64 and i64 tensors, got ",
                       to_string(dtype));
  }
}

template <typename T>
void divide(void* data, size_t n, int by) {
  T* p = static_cast<T*>(data);
  for (size_t i = 0; i < n; ++i) p[i] /= static_cast<T>(by);
}

// Gloo writes to its sockets without MSG_NOSIGNAL, so a peer that dies mid-collective
// would kill this process with SIGPIPE instead of failing the collective. Ignore SIGPIPE
// (process-wide, as Python, and so PyTorch, always does), unless the program installed a
// handler of its own.
void ignore_sigpipe_once() {
  static const bool done = [] {
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
    return true;
  }();
  (void)done;
}

std::shared_ptr<gloo::transport::Device> make_device() {
  gloo::transport::tcp::attr attr;
  // GLOO_SOCKET_IFNAME (torch's variable) picks the interface; else the address this host's
  // name resolves to, as torch does.
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME")) {
    attr.iface = iface;
  } else {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    attr.hostname = host;
  }
  return gloo::transport::tcp::CreateDevice(attr);
}

class GlooProcessGroup : public ProcessGroup {
 public:
  GlooProcessGroup(std::shared_ptr<Store> store, int rank, int world_size,
                   std::chrono::milliseconds timeout)
      : ProcessGroup(rank, world_size, timeout) {
    const auto start = Clock::now();
    ignore_sigpipe_once();
    try {
      auto device = make_device();
      GlooStoreAdapter adapter(std::make_shared<PrefixStore>(
          "gloo/" + std::to_string(detail::next_group_id()), std::move(store)));
      auto context = std::make_shared<gloo::rendezvous::Context>(rank, world_size);
      context->setTimeout(timeout);
      context->connectFullMesh(adapter, device);
      // A rank's connectFullMesh may return before its peers have connected their pairs to
      // it; a barrier makes init_process_group return on every rank only when the whole
      // mesh stands (torch ends its init with a store-based barrier for the same reason).
      gloo::BarrierOptions barrier(context);
      barrier.setTimeout(timeout);
      gloo::barrier(barrier);
      context_ = context;
    } catch (const DistError&) {
      throw;
    } catch (const std::exception& e) {
      fail_collective("init_process_group", Clock::now() - start,
                      std::string("cannot connect the ranks: ") + e.what());
    }
    worker_ = std::thread([this] { run(); });
  }

  ~GlooProcessGroup() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  std::string backend_name() const override { return "gloo"; }

  std::shared_ptr<Work> all_reduce(const Tensor& tensor, ReduceOp op) override {
    check_host("all_reduce", "input", tensor);
    check_reducible("all_reduce", tensor.dtype(), op);
    return enqueue("all_reduce", [this, tensor, op](uint32_t tag) {
      reduce_in_place(tensor.raw_data(), static_cast<size_t>(tensor.numel()), tensor.dtype(), op,
                      tag);
    });
  }

  std::shared_ptr<Work> broadcast(const Tensor& tensor, int root) override {
    check_host("broadcast", "input", tensor);
    if (root < 0 || root >= world_size()) {
      fail<ValueError>("broadcast", "root ", root, " is not in [0, world_size=", world_size(), ")");
    }
    return enqueue("broadcast", [this, tensor, root](uint32_t tag) {
      const size_t n = static_cast<size_t>(tensor.numel()) * tensor.element_size();
      if (n == 0) return;
      gloo::BroadcastOptions opts(context_);
      auto* p = static_cast<uint8_t*>(tensor.raw_data());
      if (rank() == root) opts.setInput(p, n);
      opts.setOutput(p, n);
      opts.setRoot(root);
      opts.setTag(tag);
      opts.setTimeout(timeout());
      gloo::broadcast(opts);
    });
  }

  std::shared_ptr<Work> all_gather_into_tensor(const Tensor& output, const Tensor& input) override {
    check_host("all_gather_into_tensor", "input", input);
    check_host("all_gather_into_tensor", "output", output);
    check_same_dtype("all_gather_into_tensor", output, input);
    if (output.numel() != input.numel() * world_size()) {
      fail<ShapeError>("all_gather_into_tensor", "the output needs world_size (", world_size(),
                       ") x ", input.numel(), " elements, got ", output.numel(), " (sizes ",
                       str(output.sizes()), ")");
    }
    return enqueue("all_gather_into_tensor", [this, output, input](uint32_t tag) {
      const size_t n = static_cast<size_t>(input.numel()) * input.element_size();
      if (n == 0) return;
      gloo::AllgatherOptions opts(context_);
      opts.setInput(static_cast<uint8_t*>(input.raw_data()), n);
      opts.setOutput(static_cast<uint8_t*>(output.raw_data()),
                     n * static_cast<size_t>(world_size()));
      opts.setTag(tag);
      opts.setTimeout(timeout());
      gloo::allgather(opts);
    });
  }

  std::shared_ptr<Work> reduce_scatter_tensor(const Tensor& output, const Tensor& input,
                                              ReduceOp op) override {
    check_host("reduce_scatter_tensor", "input", input);
    check_host("reduce_scatter_tensor", "output", output);
    check_same_dtype("reduce_scatter_tensor", output, input);
    check_reducible("reduce_scatter_tensor", input.dtype(), op);
    if (input.numel() != output.numel() * world_size()) {
      fail<ShapeError>("reduce_scatter_tensor", "the input needs world_size (", world_size(),
                       ") x ", output.numel(), " elements, got ", input.numel(), " (sizes ",
                       str(input.sizes()), ")");
    }
    return enqueue("reduce_scatter_tensor", [this, output, input, op](uint32_t tag) {
      const size_t bytes = static_cast<size_t>(input.numel()) * input.element_size();
      std::vector<uint8_t> scratch(bytes);  // the input stays as it was, as in torch
      if (bytes > 0) std::memcpy(scratch.data(), input.raw_data(), bytes);
      reduce_in_place(scratch.data(), static_cast<size_t>(input.numel()), input.dtype(), op, tag);
      const size_t chunk = bytes / static_cast<size_t>(world_size());
      if (chunk > 0) {
        std::memcpy(output.raw_data(), scratch.data() + chunk * static_cast<size_t>(rank()), chunk);
      }
    });
  }

  std::shared_ptr<Work> barrier() override {
    return enqueue("barrier", [this](uint32_t tag) {
      gloo::BarrierOptions opts(context_);
      opts.setTag(tag);
      opts.setTimeout(timeout());
      gloo::barrier(opts);
    });
  }

 private:
  struct Task {
    const char* op;
    std::function<void(uint32_t)> body;
    std::shared_ptr<GlooWork> work;
  };

  static void check_host(const char* op, const char* name, const Tensor& t) {
    detail::check_collective_tensor(op, name, t);
    if (!t.device().is_host_accessible()) {
      fail<DeviceError>(op, "the gloo backend takes cpu or sim tensors, got one on ",
                        t.device().str(), " (use the nccl backend for cuda tensors)");
    }
    // The kernels that wrote the tensor have finished before the worker reads it.
    backend(t.device()).synchronize();
  }
  static void check_same_dtype(const char* op, const Tensor& out, const Tensor& in) {
    if (out.dtype() != in.dtype()) {
      fail<DTypeError>(op, "output dtype ", to_string(out.dtype()), " differs from input dtype ",
                       to_string(in.dtype()));
    }
  }

  void reduce_in_place(void* data, size_t n, DType dtype, ReduceOp op, uint32_t tag) {
    if (n == 0) return;
    gloo::AllreduceOptions opts(context_);
    opts.setTag(tag);
    opts.setTimeout(timeout());
    switch (dtype) {
      case DType::f32:
        opts.setOutput(static_cast<float*>(data), n);
        opts.setReduceFunction(reduce_fn<float>(op));
        break;
      case DType::f64:
        opts.setOutput(static_cast<double*>(data), n);
        opts.setReduceFunction(reduce_fn<double>(op));
        break;
      case DType::i64:
        opts.setOutput(static_cast<int64_t*>(data), n);
        opts.setReduceFunction(reduce_fn<int64_t>(op));
        break;
      default: EMBER_CHECK(false, "unchecked dtype");
    }
    gloo::allreduce(opts);
    if (op == ReduceOp::avg) {
      if (dtype == DType::f32) divide<float>(data, n, world_size());
      if (dtype == DType::f64) divide<double>(data, n, world_size());
    }
  }

  // What an Error says after its "op: ".
  static std::string message_of(const Error& e) {
    const std::string what = e.what();
    return what.substr(std::min(what.size(), e.op().size() + 2));
  }

  std::shared_ptr<Work> enqueue(const char* op, std::function<void(uint32_t)> body) {
    auto work = std::make_shared<GlooWork>();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (broken_) {
        fail_collective(op, Clock::duration::zero(),
                        "an earlier collective failed, the group is unusable");
      }
      queue_.push_back({op, std::move(body), work});
    }
    cv_.notify_all();
    return work;
  }

  void run() {
    for (;;) {
      Task task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      // The body's captured tensors are released before the waiter wakes (finish): a rank
      // may return from main right after its last wait, and nothing of the collective may
      // outlive that on this thread.
      std::function<void(uint32_t)> body = std::move(task.body);
      const auto start = Clock::now();
      try {
        if (broken_) {
          fail_collective(task.op, Clock::duration::zero(),
                          "an earlier collective failed, the group is unusable");
        }
        body(tag_++);
        body = nullptr;
        task.work->finish();
      } catch (const Error& e) {
        body = nullptr;
        task.work->finish_with(e.op(), message_of(e));
      } catch (const std::exception& e) {
        body = nullptr;
        // A dead peer (closed connection) or a timeout inside Gloo: the pairs are out of
        // step, so every later collective of this group fails too.
        broken_ = true;
        try {
          fail_collective(task.op, Clock::now() - start, e.what());
        } catch (const Error& err) {
          task.work->finish_with(err.op(), message_of(err));
        }
      }
    }
  }

  std::shared_ptr<gloo::Context> context_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  bool stop_ = false;
  std::atomic<bool> broken_ = false;
  uint32_t tag_ = 0;  // the worker's only
  std::thread worker_;
};

}  // namespace

std::shared_ptr<ProcessGroup> make_gloo_process_group(std::shared_ptr<Store> store, int rank,
                                                      int world_size,
                                                      std::chrono::milliseconds timeout) {
  return std::make_shared<GlooProcessGroup>(std::move(store), rank, world_size, timeout);
}

}  // namespace ember::distributed
