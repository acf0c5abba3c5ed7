// LightningOptimizer: what LightningModule::optimizers() hands out, a handle on one of the
// optimizers configure_optimizers returned. Its step() runs the Trainer's part of a step
// (on_before_optimizer_step, clipping with automatic optimization) and, with manual
// optimization, counts one global step per call, as Lightning's does.
//
//   auto [g_opt, d_opt] = std::pair{optimizer(0), optimizer(1)};
//   g_opt.zero_grad();
//   manual_backward(g_loss);
//   g_opt.step();
#pragma once

#include <functional>
#include <memory>

#include "optim/optimizer.h"
#include "tensor/tensor.h"

namespace ember {

class Trainer;

// Runs training_step, zero_grad and backward; returns the loss (undefined when the step
// returned none). What optimizer_step hands to LightningOptimizer::step.
using Closure = std::function<Tensor()>;

class LightningOptimizer {
 public:
  LightningOptimizer(std::shared_ptr<optim::Optimizer> optimizer,
                     std::weak_ptr<Trainer* const> trainer)
      : optimizer_(std::move(optimizer)), trainer_(std::move(trainer)) {}

  // Calls `closure` first when given; then on_before_optimizer_step (callbacks, module),
  // gradient clipping (automatic optimization), the optimizer's step. Returns the
  // closure's loss (undefined without one). Outside a Trainer's fit it is a plain step.
  Tensor step(const Closure& closure = {});
  void zero_grad(bool set_to_none = true) { optimizer_->zero_grad(set_to_none); }

  optim::Optimizer& optimizer() const { return *optimizer_; }
  const std::shared_ptr<optim::Optimizer>& shared() const { return optimizer_; }
  std::vector<optim::ParamGroup>& param_groups() { return optimizer_->param_groups(); }

 private:
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::weak_ptr<Trainer* const> trainer_;
};

}  // namespace ember
