// The Trainer's `precision` (issue 16): Lightning's values and its precision plugins.
//
//   "32-true" ("32")   f32 everything (the default): Precision, which changes nothing
//   "64-true" ("64")   DoublePrecision: the model's floating parameters and buffers, and
//                      every floating tensor of each batch, in f64
//   "16-mixed"         MixedPrecision with a GradScaler: f16 autocast, the loss scaled in
//                      backward, gradients unscaled before clipping, steps with an inf/NaN
//                      gradient skipped, the scaler's state in checkpoints (key
//                      "MixedPrecision", as Lightning)
//   "bf16-mixed"       MixedPrecision without a scaler (bf16 autocast)
//   "bf16-true", "16-true"  HalfPrecision: the model and the batches in bf16/f16
//
// The mixed modes run each step's forward (training_step, validation_step, test_step,
// predict_step) under autocast (forward_context) and keep the weights in f32; the true
// modes convert the model and the batches' floating tensors to the 16-bit dtype. As in
// Lightning, "16-mixed" needs a GPU-like device (cuda, or sim here): on the cpu it is a
// ValueError that suggests "bf16-mixed".
#pragma once

#include <memory>
#include <string>

#include "autograd/autocast.h"
#include "nn/module.h"
#include "optim/grad_scaler.h"
#include "optim/optimizer.h"
#include "trainer/batch.h"

namespace ember {

enum class PrecisionMode { f32_true, f64_true, bf16_mixed, f16_mixed, bf16_true, f16_true };

// Lightning's names: "32-true", "32", "64-true", "64", "bf16-mixed", "16-mixed",
// "bf16-true", "16-true". Anything else: a ValueError listing them.
PrecisionMode parse_precision(const std::string& value);
const char* to_string(PrecisionMode mode);  // the canonical name ("32-true", ...)

class PrecisionPlugin {
 public:
  explicit PrecisionPlugin(PrecisionMode mode) : mode_(mode) {}
  virtual ~PrecisionPlugin() = default;
  PrecisionPlugin(const PrecisionPlugin&) = delete;
  PrecisionPlugin& operator=(const PrecisionPlugin&) = delete;

  PrecisionMode mode() const { return mode_; }
  // Throws when this build cannot run the mode.
  virtual void check_supported() const {}
  // Throws when the mode cannot run on the run's device ("16-mixed" on the cpu).
  virtual void check_device(Device) const {}
  // Held around each step's forward (Lightning's forward_context): the mixed modes'
  // autocast region on the device; null for the others.
  virtual std::unique_ptr<autocast> forward_context(Device) const { return nullptr; }
  // Casts the module once, when a run starts (after it is on its device).
  virtual void convert_module(nn::Module&) const {}
  // Each batch, after it is on the device.
  virtual Batch convert_input(const Batch& batch) const { return batch; }
  // The tensor backward() runs on: the loss, or the scaled loss.
  virtual Tensor pre_backward(const Tensor& loss) { return loss; }
  // Before gradient clipping and on_before_optimizer_step: true gradients from here on.
  virtual void unscale_gradients(optim::Optimizer&) {}
  // The optimizer step; false when it was skipped (an inf or NaN gradient).
  virtual bool optimizer_step(optim::Optimizer& optimizer) {
    optimizer.step();
    return true;
  }
  // Checkpoint state under state_key() (empty: nothing saved).
  virtual nn::StateDict state_dict() const { return {}; }
  virtual void load_state_dict(const nn::StateDict&) {}
  virtual std::string state_key() const { return ""; }

 private:
  PrecisionMode mode_;
};

// "64-true": Lightning's DoublePrecision.
class DoublePrecision : public PrecisionPlugin {
 public:
  DoublePrecision() : PrecisionPlugin(PrecisionMode::f64_true) {}
  void convert_module(nn::Module& module) const override;
  Batch convert_input(const Batch& batch) const override;
};

// "16-mixed" (with a GradScaler) and "bf16-mixed": Lightning's MixedPrecision.
class MixedPrecision : public PrecisionPlugin {
 public:
  // f16: a GradScaler with `scaler`'s options (torch's defaults); bf16: no scaler.
  MixedPrecision(PrecisionMode mode, optim::GradScalerOptions scaler = {});
  void check_device(Device device) const override;
  std::unique_ptr<autocast> forward_context(Device device) const override;
  DType dtype() const { return mode() == PrecisionMode::bf16_mixed ? DType::bf16 : DType::f16; }
  Tensor pre_backward(const Tensor& loss) override;
  void unscale_gradients(optim::Optimizer& optimizer) override;
  bool optimizer_step(optim::Optimizer& optimizer) override;
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;
  std::string state_key() const override { return "MixedPrecision"; }
  optim::GradScaler* scaler() { return scaler_.get(); }

 private:
  std::unique_ptr<optim::GradScaler> scaler_;  // null for bf16
};

// "bf16-true", "16-true": Lightning's HalfPrecision.
class HalfPrecision : public PrecisionPlugin {
 public:
  explicit HalfPrecision(PrecisionMode mode);
  void convert_module(nn::Module& module) const override;
  Batch convert_input(const Batch& batch) const override;
  DType dtype() const { return mode() == PrecisionMode::bf16_true ? DType::bf16 : DType::f16; }
};

std::unique_ptr<PrecisionPlugin> make_precision_plugin(PrecisionMode mode);

}  // namespace ember
