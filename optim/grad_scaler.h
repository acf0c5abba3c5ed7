// GradScaler: loss scaling for f16 training, as torch.amp.GradScaler (issue 16).
//
//   optim::GradScaler scaler;                  // init_scale 2^16, x2 per 2000 finite steps
//   scaler.scale(loss).backward();
//   scaler.unscale_(*opt);                     // optional: before clip_grad_norm_
//   optim::clip_grad_norm_(params, 1.0);
//   scaler.step(*opt);                         // skipped when a gradient is inf or NaN
//   scaler.update();                           // grows or backs off the scale
//
// The scale, its growth tracker and each optimizer's found-inf flag live on the loss's
// device: unscaling (raw::amp_unscale_) and the update (raw::amp_update_scale_) are device
// kernels, and only step() reads a flag back to the host (as PyTorch does). Gradients of
// every floating dtype are unscaled (PyTorch refuses f16 gradients, i.e. f16 parameters;
// ember has no f16 parameters yet: the dtype work of issue 16 adds that check).
#pragma once

#include <cstdint>
#include <map>

#include "nn/module.h"
#include "optim/optimizer.h"
#include "tensor/tensor.h"

namespace ember::optim {

struct GradScalerOptions {
  double init_scale = 65536.0;  // 2^16
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;  // disabled: scale() returns its input, step() just steps
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // outputs * scale (differentiable), the scale made on outputs' device at the first call.
  Tensor scale(const Tensor& outputs);
  // Divides the optimizer's gradients by the scale, recording whether any was inf or NaN.
  // Once per optimizer between update()s; a second call, or one after step(), throws.
  void unscale_(Optimizer& optimizer);
  // Unscales (unless unscale_ ran) and steps the optimizer when no gradient was inf or NaN.
  // Returns whether it stepped. Disabled: steps and returns true.
  bool step(Optimizer& optimizer);
  // The next scale: x backoff_factor after any inf/NaN this iteration, x growth_factor after
  // growth_interval finite iterations in a row. Forgets the optimizers' per-step state.
  void update();
  // Sets the scale instead of the rule above (torch's update(new_scale)).
  void update(double new_scale);

  double get_scale() const;  // 1.0 when disabled (reads the device value)
  double get_growth_factor() const { return options_.growth_factor; }
  double get_backoff_factor() const { return options_.backoff_factor; }
  int64_t get_growth_interval() const { return options_.growth_interval; }
  void set_growth_factor(double v);
  void set_backoff_factor(double v);
  void set_growth_interval(int64_t v);
  bool is_enabled() const { return options_.enabled; }

  // PyTorch's keys: "scale", "growth_factor", "backoff_factor" (f64), "growth_interval",
  // "_growth_tracker" (i64), as 0-dim cpu tensors; empty when disabled.
  nn::StateDict state_dict() const;
  // Restores state_dict(); an empty dict (from a disabled scaler) is an error, as PyTorch.
  void load_state_dict(const nn::StateDict& dict);

 private:
  enum class Stage : uint8_t { ready, unscaled, stepped };
  struct PerOptimizer {
    Stage stage = Stage::ready;
    Tensor found_inf;  // 0-dim f32 on the scale's device, after unscale_
  };

  void check_initialized(const char* op) const;
  void make_state(Device device);

  GradScalerOptions options_;
  Tensor scale_;           // 0-dim f32, made by the first scale()
  Tensor growth_tracker_;  // 0-dim i64: finite iterations in a row
  int64_t init_growth_tracker_ = 0;
  std::map<const Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace ember::optim
