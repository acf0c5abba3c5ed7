// DDPStrategy (Lightning's DDPStrategy): one process per device, each with a copy of the
// model and its share of the data; gradients are averaged over the processes before every
// optimizer step, so all copies stay equal.
//
// Its processes come from the Trainer's launcher (trainer/launcher.h: the program
// re-executes itself for the other local ranks) or from an external one (torchrun's
// variables, srun, mpirun: distributed::detect_cluster_environment()). The process group
// (Gloo for cpu and sim, NCCL for cuda) is made once per process and kept until it exits,
// as torch's default group; the launcher's parent waits for its children then.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "distributed/cluster_env.h"
#include "distributed/data_parallel.h"
#include "distributed/process_group.h"
#include "trainer/strategy.h"

namespace ember {

struct TrainerOptions;
class Logger;

class DDPStrategy : public Strategy {
 public:
  // Launches or joins the processes (devices per node, num_nodes) and joins the process
  // group, for an accelerator ("cpu", "cuda", "sim", "auto").
  DDPStrategy(DevicesChoice devices, int64_t num_nodes, const std::string& accelerator,
              std::chrono::milliseconds timeout);

  std::string name() const override { return "ddp"; }
  int world_size() const override { return env_.world_size; }
  int global_rank() const override { return env_.rank; }
  int local_rank() const override { return env_.local_rank; }
  int node_rank() const override { return env_.node_rank; }
  distributed::ProcessGroup& process_group() const { return *pg_; }

  Device root_device(Device accelerator) const override;
  void setup_module(LightningModule& model) override;
  // Wraps the model in a distributed::DistributedDataParallel (which checks that every
  // rank has the same parameter shapes and broadcasts rank 0's parameters and buffers).
  // Automatic optimization runs each training_step as its forward: buckets of gradients
  // are all-reduced while backward runs (docs/distributed.md "DistributedDataParallel").
  Tensor run_training_step(const std::function<Tensor()>& step, bool sync) override;
  // Manual optimization: after the user's backward passes, one all_reduce(avg) per dtype
  // over all the gradients flattened into one buffer, in parameter order.
  void reduce_gradients(const std::vector<Tensor>& params) override;
  // A failed all-reduce inside backward names the launched children that died.
  void backward(const std::function<void()>& run) override;
  Tensor reduce(const Tensor& value, const std::string& reduce_fx) override;
  double reduce(double value, const std::string& reduce_fx) override;
  Tensor all_gather(const Tensor& t) override;
  void barrier(const std::string& name) override;
  bool reduce_boolean_decision(bool decision, bool all = true) override;
  void on_exception() override;

 private:
  // Waits for a collective; a failure names the launched children that died, if any.
  void wait(const std::shared_ptr<distributed::Work>& work, const char* what) const;
  // Inside a catch: rethrows e, as a DistBackendError naming the launched children that
  // died when there are any.
  [[noreturn]] void rethrow_naming_failed_children(const distributed::DistError& e,
                                                   const char* what) const;

  distributed::ClusterEnvironment env_;
  std::shared_ptr<distributed::ProcessGroup> pg_;
  std::unique_ptr<distributed::DistributedDataParallel> ddp_;  // per run (setup_module)
  bool manual_ = false;  // the run's module uses manual optimization: no reducer hooks
};

// The Trainer's strategy for its options: Strategy ("auto" with one process) or
// DDPStrategy; throws ValueError for another name or bad devices / num_nodes.
std::unique_ptr<Strategy> make_strategy(const TrainerOptions& options);

// A logger that keeps `inner`'s name, version and folders but writes nothing: what the
// ranks other than zero log through (Lightning's rank_zero_only loggers).
std::shared_ptr<Logger> rank_zero_only(std::shared_ptr<Logger> inner);

}  // namespace ember
