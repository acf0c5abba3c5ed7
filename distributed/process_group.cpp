#include "distributed/process_group.h"

#include <atomic>

#include "tensor/error.h"

namespace ember::distributed {

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::product: return "product";
    case ReduceOp::min: return "min";
    case ReduceOp::max: return "max";
  }
  return "?";
}

ProcessGroup::ProcessGroup(int rank, int world_size, std::chrono::milliseconds timeout)
    : rank_(rank), world_size_(world_size), timeout_(timeout) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    fail<ValueError>("ProcessGroup", "rank ", rank, " is not in [0, world_size=", world_size, ")");
  }
  if (timeout.count() <= 0) {
    fail<ValueError>("ProcessGroup", "timeout must be positive, got ", timeout.count(), " ms");
  }
}

void ProcessGroup::fail_collective(const char* op, std::chrono::steady_clock::duration elapsed,
                                   const std::string& why) const {
  fail<DistBackendError>(op, "rank ", rank_, " of ", world_size_, " (", backend_name(), "): ", why,
                         " after ", detail::seconds_str(elapsed), " (timeout ",
                         detail::seconds_str(timeout_), ")");
}

int detail::next_group_id() {
  static std::atomic<int> next{0};
  return next++;
}

void detail::check_collective_tensor(const char* op, const char* name, const Tensor& t) {
  if (!t.defined()) fail<ValueError>(op, "the ", name, " tensor is undefined");
  if (!t.is_contiguous()) {
    fail<ValueError>(op, "the ", name, " tensor must be contiguous (sizes ", str(t.sizes()),
                     ", strides ", str(t.strides()), ")");
  }
}

std::shared_ptr<ProcessGroup> init_process_group(InitOptions options) {
  const ClusterEnvironment env = options.env ? *options.env : detect_cluster_environment();
  const std::string backend = options.backend.empty() ? "gloo" : options.backend;
  std::shared_ptr<Store> store = options.store;
  if (!store) {
    store = std::make_shared<TCPStore>(env.master_addr, TCPStoreOptions{.port = env.port,
                                                                        .is_master = env.rank == 0,
                                                                        .timeout = options.timeout,
                                                                        .rank = env.rank});
  }
  if (backend == "gloo") {
    return make_gloo_process_group(store, env.rank, env.world_size, options.timeout);
  }
  if (backend == "nccl") {
#if EMBER_HAVE_CUDA
    return make_nccl_process_group(store, env.rank, env.world_size, options.timeout);
#else
    fail<ValueError>("init_process_group",
                     "backend 'nccl' is not built in this ember (it needs the CUDA build)");
#endif
  }
  fail<ValueError>("init_process_group", "unknown backend '", backend, "' (gloo, nccl)");
}

}  // namespace ember::distributed
