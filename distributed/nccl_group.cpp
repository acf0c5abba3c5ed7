// The NCCL backend: collectives between cuda tensors (the CUDA build only; EMBER_HAVE_CUDA).
//
// libnccl is opened with dlopen on the first NCCL group, as cuBLAS and cuDNN are
// (kernels/cuda/cublas.cpp says why: a process that never uses it should not map it).
// Rank 0 makes the ncclUniqueId and hands it out through the store. The communicator is
// non-blocking (ncclConfig_t::blocking = 0), so its creation and every collective can be
// polled: Work::wait() and a watchdog thread poll the collective's completion event and
// the communicator's async error, and call ncclCommAbort when an op outlives the timeout
// or a peer failed, so every rank throws DistBackendError instead of hanging in a kernel
// that waits for a dead peer. Collectives run on the group's own stream after the cuda
// device has been synchronized (distributed/ may not reach the kernels' stream), and the
// caller's wait() orders the results before later work.
#if EMBER_HAVE_CUDA

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "distributed/process_group.h"
#include "tensor/backend.h"
#include "tensor/device_guard.h"

namespace ember::distributed {

namespace {

using Clock = std::chrono::steady_clock;

// The NCCL entry points ember calls, resolved from libnccl.so.2.
struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRankConfig) init_rank_config = nullptr;
  decltype(&ncclCommGetAsyncError) get_async_error = nullptr;
  decltype(&ncclCommAbort) abort = nullptr;
  decltype(&ncclCommDestroy) destroy = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclAllGather) all_gather = nullptr;
  decltype(&ncclReduceScatter) reduce_scatter = nullptr;
};

const NcclApi& nccl() {
  static const NcclApi api = [] {
    NcclApi a;
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      fail<DistBackendError>("init_process_group",
                             "backend 'nccl': cannot load libnccl.so.2: ", why ? why : "?");
    }
    auto get = [lib](const char* name, auto* out) {
      *out = reinterpret_cast<std::remove_pointer_t<decltype(out)>>(dlsym(lib, name));
      if (!*out) fail<DistBackendError>("init_process_group", "libnccl.so.2 lacks ", name);
    };
    get("ncclGetUniqueId", &a.get_unique_id);
    get("ncclCommInitRankConfig", &a.init_rank_config);
    get("ncclCommGetAsyncError", &a.get_async_error);
    get("ncclCommAbort", &a.abort);
    get("ncclCommDestroy", &a.destroy);
    get("ncclGetErrorString", &a.error_string);
    get("ncclAllReduce", &a.all_reduce);
    get("ncclBroadcast", &a.broadcast);
    get("ncclAllGather", &a.all_gather);
    get("ncclReduceScatter", &a.reduce_scatter);
    return a;
  }();
  return api;
}

ncclDataType_t nccl_dtype(const char* op, DType dtype, bool reduce, ReduceOp rop) {
  switch (dtype) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64:
      if (reduce && rop == ReduceOp::avg) {
        fail<DTypeError>(op, "ReduceOp::avg needs a floating dtype, got ", to_string(dtype));
      }
      return ncclInt64;
    default:
      if (!reduce) return ncclUint8;  // bytes: broadcast and gather move any dtype
      fail<DTypeError>(op, "the nccl backend reduces f32, f64 and i64 tensors, got ",
                       to_string(dtype));
  }
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::product: return ncclProd;
    case ReduceOp::min: return ncclMin;
    case ReduceOp::max: return ncclMax;
  }
  return ncclSum;
}

class NcclProcessGroup;

class NcclWork : public Work {
 public:
  NcclWork(NcclProcessGroup* group, const char* op, cudaEvent_t done)
      : group_(group), op_(op), done_(done), start_(Clock::now()) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  bool is_completed() override;
  void wait() override;

 private:
  friend class NcclProcessGroup;
  NcclProcessGroup* group_;
  const char* op_;
  cudaEvent_t done_;
  Clock::time_point start_;
};

class NcclProcessGroup : public ProcessGroup {
 public:
  NcclProcessGroup(std::shared_ptr<Store> store, int rank, int world_size,
                   std::chrono::milliseconds timeout)
      : ProcessGroup(rank, world_size, timeout) {
    const auto start = Clock::now();
    const NcclApi& api = nccl();
    cudaGetDevice(&device_);
    ncclUniqueId id;
    PrefixStore s("nccl/" + std::to_string(detail::next_group_id()), std::move(store));
    if (rank == 0) {
      check(api.get_unique_id(&id), "init_process_group", start);
      s.set("unique_id", Bytes(id.internal, id.internal + sizeof id.internal));
    } else {
      Bytes b = s.get("unique_id");
      if (b.size() != sizeof id.internal) {
        fail_collective("init_process_group", Clock::now() - start,
                        "bad ncclUniqueId in the store");
      }
      std::copy(b.begin(), b.end(), id.internal);
    }
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;  // so a missing peer can be waited on with a timeout
    ncclResult_t r = api.init_rank_config(&comm_, world_size, id, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) check(r, "init_process_group", start);
    // Poll the communicator until it is ready, aborting it at the timeout.
    for (;;) {
      ncclResult_t state = ncclInProgress;
      api.get_async_error(comm_, &state);
      if (state == ncclSuccess) break;
      if (state != ncclInProgress) {
        api.abort(comm_);
        check(state, "init_process_group", start);
      }
      if (Clock::now() - start > timeout) {
        api.abort(comm_);
        fail_collective("init_process_group", Clock::now() - start,
                        "the peers did not all join the NCCL communicator");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
    watchdog_ = std::thread([this] { watch(); });
  }

  ~NcclProcessGroup() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    watchdog_.join();
    if (!aborted_) nccl().destroy(comm_);
    if (barrier_buf_) cudaFree(barrier_buf_);
    cudaStreamDestroy(stream_);
  }

  std::string backend_name() const override { return "nccl"; }

  std::shared_ptr<Work> all_reduce(const Tensor& t, ReduceOp op) override {
    check_cuda("all_reduce", "input", t);
    const ncclDataType_t dt = nccl_dtype("all_reduce", t.dtype(), true, op);
    return launch("all_reduce", [&] {
      return nccl().all_reduce(t.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()), dt,
                               nccl_op(op), comm_, stream_);
    });
  }

  std::shared_ptr<Work> broadcast(const Tensor& t, int root) override {
    check_cuda("broadcast", "input", t);
    if (root < 0 || root >= world_size()) {
      fail<ValueError>("broadcast", "root ", root, " is not in [0, world_size=", world_size(), ")");
    }
    return launch("broadcast", [&] {
      return nccl().broadcast(t.raw_data(), t.raw_data(),
                              static_cast<size_t>(t.numel()) * t.element_size(), ncclUint8, root,
                              comm_, stream_);
    });
  }

  std::shared_ptr<Work> all_gather_into_tensor(const Tensor& output, const Tensor& input) override {
    check_cuda("all_gather_into_tensor", "input", input);
    check_cuda("all_gather_into_tensor", "output", output);
    if (output.dtype() != input.dtype() || output.numel() != input.numel() * world_size()) {
      fail<ShapeError>("all_gather_into_tensor", "the output needs world_size (", world_size(),
                       ") x ", input.numel(), " elements of ", to_string(input.dtype()), ", got ",
                       output.numel(), " of ", to_string(output.dtype()));
    }
    return launch("all_gather_into_tensor", [&] {
      return nccl().all_gather(input.raw_data(), output.raw_data(),
                               static_cast<size_t>(input.numel()) * input.element_size(), ncclUint8,
                               comm_, stream_);
    });
  }

  std::shared_ptr<Work> reduce_scatter_tensor(const Tensor& output, const Tensor& input,
                                              ReduceOp op) override {
    check_cuda("reduce_scatter_tensor", "input", input);
    check_cuda("reduce_scatter_tensor", "output", output);
    const ncclDataType_t dt = nccl_dtype("reduce_scatter_tensor", input.dtype(), true, op);
    if (output.dtype() != input.dtype() || input.numel() != output.numel() * world_size()) {
      fail<ShapeError>("reduce_scatter_tensor", "the input needs world_size (", world_size(),
                       ") x ", output.numel(), " elements of ", to_string(output.dtype()), ", got ",
                       input.numel(), " of ", to_string(input.dtype()));
    }
    return launch("reduce_scatter_tensor", [&] {
      return nccl().reduce_scatter(input.raw_data(), output.raw_data(),
                                   static_cast<size_t>(output.numel()), dt, nccl_op(op), comm_,
                                   stream_);
    });
  }

  // An all-reduce of one byte on the device (torch's NCCL barrier does the same).
  std::shared_ptr<Work> barrier() override {
    if (!barrier_buf_) cudaMalloc(&barrier_buf_, 8);
    return launch("barrier", [&] {
      return nccl().all_reduce(barrier_buf_, barrier_buf_, 1, ncclUint8, ncclSum, comm_, stream_);
    });
  }

  // Waits for `w`, polling, and aborts the communicator at the timeout or on a peer's error.
  void wait_for(NcclWork& w) {
    for (;;) {
      if (aborted_) fail_collective(w.op_, Clock::now() - w.start_, abort_reason_);
      const cudaError_t q = cudaEventQuery(w.done_);
      if (q == cudaSuccess) return;
      if (q != cudaErrorNotReady) {
        fail_collective(w.op_, Clock::now() - w.start_, cudaGetErrorString(q));
      }
      poll_health(w);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }

 private:
  void check(ncclResult_t r, const char* op, Clock::time_point start) const {
    if (r != ncclSuccess) fail_collective(op, Clock::now() - start, nccl().error_string(r));
  }

  void check_cuda(const char* op, const char* name, const Tensor& t) const {
    detail::check_collective_tensor(op, name, t);
    if (t.device().type != DeviceType::cuda || t.device().index != device_) {
      fail<DeviceError>(op, "the nccl backend of this group takes tensors on cuda:", device_,
                        ", got one on ", t.device().str());
    }
    backend(t.device()).synchronize();  // the kernels that wrote it ran on another stream
  }

  template <typename F>
  std::shared_ptr<Work> launch(const char* op, F&& call) {
    const auto start = Clock::now();
    if (aborted_) fail_collective(op, Clock::duration::zero(), abort_reason_);
    // The communicator's GPU is current while its work and event are enqueued, whichever
    // thread calls (a DDP communication thread starts on device 0) (issue 17).
    const DeviceGuard guard(Device::cuda(device_));
    ncclResult_t r = call();
    if (r != ncclSuccess && r != ncclInProgress) check(r, op, start);
    cudaEvent_t done;
    cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
    cudaEventRecord(done, stream_);
    auto work = std::make_shared<NcclWork>(this, op, done);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_.push_back(work);
    }
    return work;
  }

  // A collective past the timeout or a peer's async error: abort, so the kernels waiting
  // on the dead peer return and every later call throws.
  void poll_health(const NcclWork& w) {
    ncclResult_t state = ncclSuccess;
    nccl().get_async_error(comm_, &state);
    std::string why;
    if (state != ncclSuccess && state != ncclInProgress) {
      why = std::string("NCCL reported: ") + nccl().error_string(state);
    } else if (Clock::now() - w.start_ > timeout()) {
      why = "the collective did not finish in time (a peer is gone or stuck)";
    } else {
      return;
    }
    std::lock_guard<std::mutex> lock(abort_mutex_);
    if (!aborted_) {
      abort_reason_ = why + "; the communicator was aborted";
      nccl().abort(comm_);
      aborted_ = true;
    }
  }

  // The watchdog: checks in-flight works every 100 ms, so a timeout aborts the
  // communicator even when no rank thread is in wait().
  void watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stop_; })) {
      std::erase_if(in_flight_, [](const std::weak_ptr<NcclWork>& p) {
        auto w = p.lock();
        return !w || cudaEventQuery(w->done_) != cudaErrorNotReady;
      });
      for (const auto& p : in_flight_) {
        if (auto w = p.lock(); w && !aborted_) poll_health(*w);
      }
    }
  }

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  void* barrier_buf_ = nullptr;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::vector<std::weak_ptr<NcclWork>> in_flight_;
  std::mutex abort_mutex_;
  std::atomic<bool> aborted_ = false;
  std::string abort_reason_;
  std::thread watchdog_;
};

bool NcclWork::is_completed() { return cudaEventQuery(done_) != cudaErrorNotReady; }
void NcclWork::wait() { group_->wait_for(*this); }

}  // namespace

std::shared_ptr<ProcessGroup> make_nccl_process_group(std::shared_ptr<Store> store, int rank,
                                                      int world_size,
                                                      std::chrono::milliseconds timeout) {
  return std::make_shared<NcclProcessGroup>(std::move(store), rank, world_size, timeout);
}

}  // namespace ember::distributed

#endif  // EMBER_HAVE_CUDA
