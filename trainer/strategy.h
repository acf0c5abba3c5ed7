// Trainer strategies (Lightning's Strategy): how many processes train and how they agree.
// "auto" is one process on one device (Strategy itself, whose collectives are identities);
// "ddp" is data parallelism over processes (DDPStrategy: trainer/ddp_strategy.h).
// docs/distributed.md "Trainer" shows how to run them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember {

class LightningModule;

// TrainerOptions::devices: a count of processes per node, or "auto" (under an external
// launcher its LOCAL_WORLD_SIZE, else 1: one process per cpu, as Lightning's cpu default).
struct DevicesChoice {
  std::optional<int64_t> count{};
  DevicesChoice(int n) : count(n) {}                                 // NOLINT: implicit on purpose
  DevicesChoice(int64_t n) : count(n) {}                             // NOLINT
  DevicesChoice(const char* s);                                      // NOLINT: "auto"
  DevicesChoice(const std::string& s) : DevicesChoice(s.c_str()) {}  // NOLINT
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const { return "single_device"; }
  virtual int world_size() const { return 1; }
  virtual int global_rank() const { return 0; }
  virtual int local_rank() const { return 0; }
  virtual int node_rank() const { return 0; }
  bool is_global_zero() const { return global_rank() == 0; }

  // The device this rank trains on, given the accelerator's (ddp on cuda: cuda:LOCAL_RANK).
  virtual Device root_device(Device accelerator) const { return accelerator; }
  // The model is on its device: ddp makes every rank's parameters and buffers rank 0's.
  virtual void setup_module(LightningModule& /*model*/) {}
  // Runs an automatic-optimization training_step (and, through the loop's closure, its
  // backward follows): ddp as a DistributedDataParallel forward, whose backward averages
  // the gradients over the ranks while it runs; sync = false (a micro-batch of gradient
  // accumulation before the last) under no_sync, so only the last one communicates.
  virtual Tensor run_training_step(const std::function<Tensor()>& step, bool /*sync*/) {
    return step();
  }
  // Runs loss.backward() (run): ddp turns a failed all-reduce into an error naming the
  // processes that died.
  virtual void backward(const std::function<void()>& run) { run(); }
  // Manual optimization, before each optimizer step: ddp averages the gradients over the
  // ranks (one collective after backward; the user's backward passes are not DDP's).
  virtual void reduce_gradients(const std::vector<Tensor>& /*params*/) {}
  // log(..., {.sync_dist = true}): the value reduced over the ranks by reduce_fx ("mean",
  // "sum", "max", "min").
  virtual Tensor reduce(const Tensor& value, const std::string& /*reduce_fx*/) { return value; }
  virtual double reduce(double value, const std::string& /*reduce_fx*/) { return value; }
  // Every rank's tensor stacked along a new dim 0 (one process: the tensor as it is, as
  // Lightning's SingleDeviceStrategy).
  virtual Tensor all_gather(const Tensor& t) { return t; }
  // Returns when every rank has reached it.
  virtual void barrier(const std::string& /*name*/) {}
  // Whether every rank decided so (all = true) or any did.
  virtual bool reduce_boolean_decision(bool decision, bool /*all*/ = true) { return decision; }
  // A run failed on this rank: ddp's launcher parent ends its children, which would
  // otherwise wait for it until the collective timeout (Lightning's launcher.kill).
  virtual void on_exception() {}
};

}  // namespace ember
