// ProcessGroup: the ranks of a job and the collectives between them (torch.distributed's
// c10d ProcessGroup). Backends: Gloo over TCP for cpu and sim tensors (gloo_group.cpp);
// NCCL for cuda tensors (nccl_group.cpp, the CUDA build only).
//
//   auto pg = distributed::init_process_group({.backend = "gloo"});  // torchrun's env
//   pg->all_reduce(grad, ReduceOp::avg)->wait();
//   auto work = pg->all_reduce(bucket);   // async: returns at once, runs in order
//   ...                                    // more backward meanwhile (DDP's overlap)
//   work->wait();                          // rethrows the collective's error
//
// Collectives run in the order they are called, on every rank in the same order (as in
// torch), each on a worker thread of the group, and work in place on contiguous tensors:
// the caller must not touch a tensor until its Work is waited on. Every collective gives up
// after the group's timeout (30 minutes by default): a dead or missing peer makes wait()
// throw DistBackendError naming the op, the rank and the elapsed time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "distributed/cluster_env.h"
#include "distributed/errors.h"
#include "distributed/store.h"
#include "tensor/tensor.h"

namespace ember::distributed {

enum class ReduceOp { sum, avg, product, min, max };
const char* to_string(ReduceOp op);

// A collective in flight.
class Work {
 public:
  virtual ~Work() = default;
  virtual bool is_completed() = 0;
  // Blocks until the collective has finished; rethrows its error (DistBackendError).
  virtual void wait() = 0;
};

class ProcessGroup {
 public:
  ProcessGroup(int rank, int world_size, std::chrono::milliseconds timeout);
  virtual ~ProcessGroup() = default;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  virtual std::string backend_name() const = 0;

  // In place: every rank's `tensor` becomes the reduction of all ranks' tensors. avg is
  // sum / world_size, for floating dtypes only.
  virtual std::shared_ptr<Work> all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum) = 0;
  // Every rank's `tensor` becomes rank `root`'s.
  virtual std::shared_ptr<Work> broadcast(const Tensor& tensor, int root = 0) = 0;
  // output (world_size * input.numel() elements, any shape) = the ranks' inputs
  // concatenated in rank order (torch's all_gather_into_tensor).
  virtual std::shared_ptr<Work> all_gather_into_tensor(const Tensor& output,
                                                       const Tensor& input) = 0;
  // output (input.numel() / world_size elements) = chunk `rank` of the reduction of the
  // ranks' inputs (torch's reduce_scatter_tensor).
  virtual std::shared_ptr<Work> reduce_scatter_tensor(const Tensor& output, const Tensor& input,
                                                      ReduceOp op = ReduceOp::sum) = 0;
  // Returns when every rank has called it (or throws after the timeout).
  virtual std::shared_ptr<Work> barrier() = 0;

 protected:
  // "all_reduce: rank 1 of 2 (gloo): <why> after 2.001 s (timeout 2.000 s)".
  [[noreturn]] void fail_collective(const char* op, std::chrono::steady_clock::duration elapsed,
                                    const std::string& why) const;

 private:
  int rank_;
  int world_size_;
  std::chrono::milliseconds timeout_;
};

struct InitOptions {
  // "gloo" (cpu, sim), "nccl" (cuda; the CUDA build only), or "" for the device's default
  // ("gloo"; Trainer strategies pick "nccl" for cuda).
  std::string backend = "";
  // The store's and every collective's timeout.
  std::chrono::milliseconds timeout = kDefaultTimeout;
  // Unset: read from the process's environment (detect_cluster_environment()).
  std::optional<ClusterEnvironment> env{};
  // Unset: a TCPStore at env.master_addr:env.port that rank 0 serves.
  std::shared_ptr<Store> store{};
};

// Rendezvous: connects to (rank 0: serves) the store, then builds the backend's group,
// whose construction waits for every rank (at most the timeout).
std::shared_ptr<ProcessGroup> init_process_group(InitOptions options = {});

// A Gloo group over `store` (its keys prefixed with "gloo/<n>/", n counting this process's
// groups): ranks exchange their addresses there.
std::shared_ptr<ProcessGroup> make_gloo_process_group(std::shared_ptr<Store> store, int rank,
                                                      int world_size,
                                                      std::chrono::milliseconds timeout);

// An NCCL group on the current cuda device (cudaGetDevice), the ncclUniqueId handed out
// through `store`. Defined in the CUDA build only (nccl_group.cpp).
std::shared_ptr<ProcessGroup> make_nccl_process_group(std::shared_ptr<Store> store, int rank,
                                                      int world_size,
                                                      std::chrono::milliseconds timeout);

namespace detail {
// The n-th group this process makes (0, 1, ...): the groups' keys in a shared store. Every
// rank makes its groups in the same order (as in torch), so the numbers agree.
int next_group_id();
// Checks what every backend needs of a collective's tensor: defined, contiguous.
void check_collective_tensor(const char* op, const char* name, const Tensor& t);
}  // namespace detail

}  // namespace ember::distributed
