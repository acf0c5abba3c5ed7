// Optimization control: the parts of a step the Trainer runs for automatic and manual
// optimization (LightningOptimizer::step, manual_backward, toggle_optimizer) and the
// option checks of manual optimization (docs/trainer.md "Optimization").
#include <algorithm>

#include "optim/clip.h"
#include "tensor/profiler.h"
#include "trainer/callbacks/grad_accum_scheduler.h"
#include "trainer/trainer_hooks.h"

namespace ember {

// ---- OptimizerConfig --------------------------------------------------------------------

OptimizerConfig::OptimizerConfig(const OptimizerConfigList& configs) {
  for (const OptimizerConfig& c : configs) {
    for (const auto& o : c.all_optimizers()) optimizers.push_back(o);
    for (const auto& s : c.all_schedulers()) lr_schedulers.push_back(s);
  }
}

OptimizerList OptimizerConfig::all_optimizers() const {
  OptimizerList out;
  if (optimizer) out.push_back(optimizer);
  out.insert(out.end(), optimizers.begin(), optimizers.end());
  return out;
}

SchedulerList OptimizerConfig::all_schedulers() const {
  SchedulerList out;
  if (!lr_scheduler.empty()) out.push_back(lr_scheduler);
  out.insert(out.end(), lr_schedulers.begin(), lr_schedulers.end());
  return out;
}

// ---- Trainer ----------------------------------------------------------------------------

void Trainer::check_optimization_options() const {
  if (model_->automatic_optimization()) return;
  // Lightning's MisconfigurationException texts.
  if (options_.gradient_clip_val > 0)
    fail<ValueError>("Trainer",
                     "Automatic gradient clipping is not supported for manual optimization. "
                     "Remove `Trainer(gradient_clip_val=",
                     options_.gradient_clip_val, ")` or switch to automatic optimization.");
  if (options_.accumulate_grad_batches != 1)
    fail<ValueError>("Trainer",
                     "Automatic gradient accumulation is not supported for manual "
                     "optimization. Remove `Trainer(accumulate_grad_batches=",
                     options_.accumulate_grad_batches, ")` or switch to automatic optimization.");
  for (const auto& c : callbacks_)
    if (dynamic_cast<const GradientAccumulationScheduler*>(c.get()))
      fail<ValueError>("GradientAccumulationScheduler",
                       "Automatic gradient accumulation and the `GradientAccumulationScheduler` "
                       "is not supported for manual optimization. Please remove the callback or "
                       "switch to automatic optimization.");
}

Tensor Trainer::run_manual_batch(const Batch& batch, int64_t b) {
  Tensor out;
  {
    FxScope fx(*this, "training_step");
    const profiler::Range profile("training_step");
    const auto amp = precision_->forward_context(device_);
    out = model_->training_step(batch, b);
  }
  // What it returns is only shown (progress bar, on_train_batch_end), never stepped.
  return out.defined() ? out.detach() : out;
}

void Trainer::backward(const Tensor& unscaled_loss) {
  // "16-mixed": the scaled loss, which the hooks see too (Lightning's pre_backward order).
  const Tensor loss = precision_->pre_backward(unscaled_loss);
  EMBER_HOOKS(on_before_backward, loss);
  {
    const profiler::Range profile("backward");
    strategy_->backward([&] { loss.backward(); });
  }
  EMBER_HOOKS(on_after_backward);
}

Tensor Trainer::step_optimizer(optim::Optimizer& opt, const Closure& closure) {
  const bool automatic = model_->automatic_optimization();
  Tensor loss;
  if (closure) {
    loss = closure();
    // ember: a training_step that returned no loss skips the step (docs/trainer.md).
    if (automatic && !loss.defined()) return loss;
  }
  // ddp: automatic optimization's backward averaged the gradients already
  // (DistributedDataParallel, Strategy::run_training_step); manual optimization's are
  // averaged here, after the user's backward passes.
  if (!automatic && world_size() > 1) strategy_->reduce_gradients(model_->parameters());
  // "16-mixed": true gradients for the hook and for clipping (GradScaler::unscale_).
  precision_->unscale_gradients(opt);
  EMBER_HOOKS(on_before_optimizer_step, opt);
  if (automatic && options_.gradient_clip_val > 0) {
    std::vector<Tensor> params;
    for (const auto& g : opt.param_groups())
      params.insert(params.end(), g.params.begin(), g.params.end());
    if (options_.gradient_clip_algorithm == "norm")
      optim::clip_grad_norm_(params, options_.gradient_clip_val);
    else optim::clip_grad_value_(params, options_.gradient_clip_val);
  }
  {
    const profiler::Range profile("optimizer_step");
    precision_->optimizer_step(opt);  // "16-mixed": skipped on an inf or NaN gradient
  }
  // Manual optimization: each step is a global step (automatic: the loop counts them).
  if (!automatic) ++global_step_;
  return loss;
}

// ---- LightningOptimizer -----------------------------------------------------------------

Tensor LightningOptimizer::step(const Closure& closure) {
  auto p = trainer_.lock();
  Trainer* t = p ? *p : nullptr;
  if (!t || !t->model_ || !t->training()) {
    Tensor loss = closure ? closure() : Tensor();
    optimizer_->step();
    return loss;
  }
  return t->step_optimizer(*optimizer_, closure);
}

// ---- LightningModule --------------------------------------------------------------------

std::vector<LightningOptimizer> LightningModule::optimizers() const {
  Trainer& t = trainer();
  std::vector<LightningOptimizer> out;
  for (const auto& o : t.optimizers()) out.emplace_back(o, trainer_);
  return out;
}

LightningOptimizer LightningModule::optimizer(size_t i) const {
  Trainer& t = trainer();
  if (i >= t.optimizers().size())
    fail<IndexError>("optimizers", "index ", i, " is out of range: configure_optimizers returned ",
                     t.optimizers().size(), " optimizer(s)");
  return {t.optimizers()[i], trainer_};
}

const SchedulerList& LightningModule::lr_schedulers() const {
  return trainer().lr_scheduler_configs();
}

void LightningModule::manual_backward(const Tensor& loss) {
  if (automatic_optimization())
    fail<ValueError>("manual_backward",
                     "to use manual_backward, please disable automatic optimization: set "
                     "`automatic_optimization(false)`");
  Trainer& t = trainer();
  if (!loss.defined()) fail<ValueError>("manual_backward", "the loss is undefined");
  t.backward(loss);
}

void LightningModule::toggle_optimizer(const optim::Optimizer& optimizer) {
  // As Lightning: every parameter of every optimizer is frozen (its requires_grad
  // remembered once), then this optimizer's get back what they had.
  std::map<const void*, std::pair<Tensor, bool>> state;
  for (const auto& o : trainer().optimizers())
    for (const auto& g : o->param_groups())
      for (Tensor p : g.params) {
        if (state.contains(p.impl())) continue;
        state.emplace(p.impl(), std::pair{p, p.requires_grad()});
        p.requires_grad_(false);
      }
  for (const auto& g : optimizer.param_groups())
    for (Tensor p : g.params)
      if (auto it = state.find(p.impl()); it != state.end()) p.requires_grad_(it->second.second);
  param_requires_grad_state_ = std::move(state);
}

void LightningModule::untoggle_optimizer(const optim::Optimizer& optimizer) {
  for (const auto& o : trainer().optimizers()) {
    if (o.get() == &optimizer) continue;
    for (const auto& g : o->param_groups())
      for (Tensor p : g.params)
        if (auto it = param_requires_grad_state_.find(p.impl());
            it != param_requires_grad_state_.end())
          p.requires_grad_(it->second.second);
  }
  param_requires_grad_state_.clear();
}

}  // namespace ember
