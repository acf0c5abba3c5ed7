// DistributedDataParallel: data-parallel training across the ranks of a process group, as
// torch.nn.parallel.DistributedDataParallel does it.
//
//   auto pg = distributed::init_process_group({.backend = "gloo"});
//   distributed::DistributedDataParallel ddp(model, pg, {.bucket_cap_mb = 25});
//   for (...) {
//     Tensor loss = loss_fn(ddp.forward(x), y);  // or ddp.run_forward([&] { ... })
//     loss.backward();        // buckets all-reduce while backward runs; .grad() = the mean
//     opt.step();             // over the ranks when backward returns
//     opt.zero_grad();
//   }
//   { auto guard = ddp.no_sync(); loss_fn(ddp.forward(x1), y1).backward(); }  // local only
//   loss_fn(ddp.forward(x2), y2).backward();  // all-reduces the accumulated gradients
//
// Construction checks that every rank has the same parameter shapes and dtypes (a DistError
// naming the first parameter that differs), then broadcasts the parameters and buffers from
// rank 0. The parameters that require grad are grouped into buckets (reverse registration
// order, one dtype and device each; the first bucket at most 1 MiB, torch's
// _DEFAULT_FIRST_BUCKET_BYTES, the others bucket_cap_mb) with a post-accumulate-grad hook on
// each: when a bucket's last gradient is ready its all-reduce (average) starts at once, in
// bucket order on every rank, and backward goes on computing the earlier layers' gradients
// meanwhile. At the end of backward (autograd::queue_callback) the reducer waits for the
// buckets and writes the averages back into each parameter's .grad().
//
// A parameter that requires grad but got no gradient in a synchronized backward is an
// error at the next forward (torch's "Expected to have finished reduction in the prior
// iteration ...", naming the parameters) unless find_unused_parameters, where it counts as
// zero on that rank (and keeps its .grad() when no rank used it). docs/distributed.md says
// more, and where ember differs from torch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "distributed/process_group.h"
#include "nn/module.h"

namespace ember::distributed {

// torch's DistributedDataParallel keyword arguments, with its defaults.
struct DataParallelOptions {
  // The size of every bucket but the first (which is at most 1 MiB, torch's
  // _DEFAULT_FIRST_BUCKET_BYTES, and at most this), in MiB. A bucket closes once it holds
  // at least this many bytes, so a large parameter gets a bucket of its own.
  double bucket_cap_mb = 25;
  // Rank 0's buffers (batch norm's running statistics, ...) are broadcast to every rank
  // before each synchronized forward.
  bool broadcast_buffers = true;
  // Allow parameters that get no gradient in some backward passes (see above).
  bool find_unused_parameters = false;
};

// What the reducer did: for tests, logs and tuning (torch's _get_ddp_logging_data).
struct DataParallelStats {
  std::vector<std::vector<std::string>> buckets;  // parameter names, in reduction order
  std::vector<int64_t> bucket_bytes;
  int64_t reductions = 0;  // synchronized backward passes finished
  // In the last synchronized backward: the buckets whose all-reduce was launched while
  // gradients of other parameters were still to be computed (the overlap).
  int64_t buckets_launched_early = 0;
};

namespace detail {
class Reducer;
[[noreturn]] void fail_module_type(const std::type_info& wanted, const nn::Module& module);
}  // namespace detail

class DistributedDataParallel {
 public:
  DistributedDataParallel(std::shared_ptr<nn::Module> module, std::shared_ptr<ProcessGroup> group,
                          DataParallelOptions options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(DistributedDataParallel&&) noexcept;
  DistributedDataParallel& operator=(DistributedDataParallel&&) noexcept;

  // The wrapped module (torch's ddp.module): its parameters are the ones to optimize.
  const std::shared_ptr<nn::Module>& module() const { return module_; }
  const std::shared_ptr<ProcessGroup>& process_group() const { return group_; }
  const DataParallelOptions& options() const { return options_; }

  // Calls the module's forward(args...) as a DDP forward (see run_forward). M is the
  // module's class (a UnaryModule by default: Sequential, Linear, ...).
  template <typename M = nn::UnaryModule, typename... Args>
  decltype(auto) forward(Args&&... args) {
    M* m = dynamic_cast<M*>(module_.get());
    if (m == nullptr) detail::fail_module_type(typeid(M), *module_);
    pre_forward();
    return m->forward(std::forward<Args>(args)...);
  }
  template <typename... Args>
  decltype(auto) operator()(Args&&... args) {
    return forward(std::forward<Args>(args)...);
  }
  // Runs fn() (a forward, a training step) as a DDP forward: with grad mode on and outside
  // no_sync, the reducer is prepared for the backward that follows (and the last one's
  // missing gradients reported) and rank 0's buffers are broadcast first.
  template <typename Fn>
  decltype(auto) run_forward(Fn&& fn) {
    pre_forward();
    return fn();
  }

  // While a NoSync lives, forwards prepare no reduction: their backward passes accumulate
  // into .grad() locally, and the first synchronized backward after it all-reduces the sum.
  class [[nodiscard]] NoSync {
   public:
    explicit NoSync(DistributedDataParallel& ddp);
    ~NoSync();
    NoSync(const NoSync&) = delete;
    NoSync& operator=(const NoSync&) = delete;

   private:
    DistributedDataParallel* ddp_;
    bool prev_;
  };
  NoSync no_sync() { return NoSync(*this); }

  DataParallelStats stats() const;

 private:
  void pre_forward();
  void sync_buffers();

  std::shared_ptr<nn::Module> module_;
  std::shared_ptr<ProcessGroup> group_;
  DataParallelOptions options_;
  std::unique_ptr<detail::Reducer> reducer_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  bool require_backward_grad_sync_ = true;
};

using DDP = DistributedDataParallel;

}  // namespace ember::distributed
