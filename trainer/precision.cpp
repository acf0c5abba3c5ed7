#include "trainer/precision.h"

#include "tensor/error.h"

namespace ember {

namespace {

constexpr const char* kValues =
    "\"32-true\" (or \"32\"), \"64-true\" (or \"64\"), \"bf16-mixed\", \"16-mixed\", "
    "\"bf16-true\", \"16-true\"";

// The batch's floating tensors in `dtype`; the others (indices, masks) as they are.
Batch floating_to(const Batch& batch, DType dtype) {
  std::vector<Tensor> out;
  out.reserve(batch.size());
  for (const Tensor& t : batch)
    out.push_back(t.defined() && is_floating(t.dtype()) ? t.to(dtype) : t);
  return Batch(std::move(out));
}

}  // namespace

PrecisionMode parse_precision(const std::string& value) {
  if (value == "32-true" || value == "32") return PrecisionMode::f32_true;
  if (value == "64-true" || value == "64") return PrecisionMode::f64_true;
  if (value == "bf16-mixed") return PrecisionMode::bf16_mixed;
  if (value == "16-mixed") return PrecisionMode::f16_mixed;
  if (value == "bf16-true") return PrecisionMode::bf16_true;
  if (value == "16-true") return PrecisionMode::f16_true;
  fail<ValueError>("Trainer", "precision=\"", value, "\" is not supported; the values are ",
                   kValues);
}

const char* to_string(PrecisionMode mode) {
  switch (mode) {
    case PrecisionMode::f32_true: return "32-true";
    case PrecisionMode::f64_true: return "64-true";
    case PrecisionMode::bf16_mixed: return "bf16-mixed";
    case PrecisionMode::f16_mixed: return "16-mixed";
    case PrecisionMode::bf16_true: return "bf16-true";
    case PrecisionMode::f16_true: return "16-true";
  }
  return "?";
}

// ---- DoublePrecision ----

void DoublePrecision::convert_module(nn::Module& module) const { module.to(DType::f64); }

Batch DoublePrecision::convert_input(const Batch& batch) const {
  return floating_to(batch, DType::f64);
}

// ---- MixedPrecision ----

MixedPrecision::MixedPrecision(PrecisionMode mode, optim::GradScalerOptions scaler)
    : PrecisionPlugin(mode) {
  if (mode != PrecisionMode::f16_mixed && mode != PrecisionMode::bf16_mixed)
    fail<ValueError>("MixedPrecision", "mode must be \"16-mixed\" or \"bf16-mixed\", got \"",
                     to_string(mode), "\"");
  if (mode == PrecisionMode::f16_mixed) scaler_ = std::make_unique<optim::GradScaler>(scaler);
}

void MixedPrecision::check_device(Device device) const {
  // Lightning: "You passed `Trainer(accelerator='cpu', precision='16-mixed')` but AMP with
  // fp16 is not supported on CPU. Consider using `precision='bf16-mixed'` instead."
  if (mode() == PrecisionMode::f16_mixed && device.is_cpu())
    fail<ValueError>("Trainer",
                     "precision=\"16-mixed\" (f16 autocast with a GradScaler) is not "
                     "supported on the cpu, as in Lightning; use precision=\"bf16-mixed\"");
}

std::unique_ptr<autocast> MixedPrecision::forward_context(Device device) const {
  return std::make_unique<autocast>(device.type, dtype());
}

Tensor MixedPrecision::pre_backward(const Tensor& loss) {
  return scaler_ ? scaler_->scale(loss) : loss;
}

void MixedPrecision::unscale_gradients(optim::Optimizer& optimizer) {
  if (!scaler_) return;
  scaler_->unscale_(optimizer);
}

bool MixedPrecision::optimizer_step(optim::Optimizer& optimizer) {
  if (!scaler_) return PrecisionPlugin::optimizer_step(optimizer);
  // Lightning steps and updates the scaler per optimizer step.
  const bool stepped = scaler_->step(optimizer);
  scaler_->update();
  return stepped;
}

nn::StateDict MixedPrecision::state_dict() const {
  return scaler_ ? scaler_->state_dict() : nn::StateDict{};
}

void MixedPrecision::load_state_dict(const nn::StateDict& dict) {
  if (scaler_ && !dict.empty()) scaler_->load_state_dict(dict);
}

// ---- HalfPrecision ----

HalfPrecision::HalfPrecision(PrecisionMode mode) : PrecisionPlugin(mode) {
  if (mode != PrecisionMode::bf16_true && mode != PrecisionMode::f16_true)
    fail<ValueError>("HalfPrecision", "mode must be \"bf16-true\" or \"16-true\", got \"",
                     to_string(mode), "\"");
}

void HalfPrecision::convert_module(nn::Module& module) const { module.to(dtype()); }

Batch HalfPrecision::convert_input(const Batch& batch) const { return floating_to(batch, dtype()); }

std::unique_ptr<PrecisionPlugin> make_precision_plugin(PrecisionMode mode) {
  switch (mode) {
    case PrecisionMode::f32_true: return std::make_unique<PrecisionPlugin>(mode);
    case PrecisionMode::f64_true: return std::make_unique<DoublePrecision>();
    case PrecisionMode::bf16_mixed:
    case PrecisionMode::f16_mixed: return std::make_unique<MixedPrecision>(mode);
    case PrecisionMode::bf16_true:
    case PrecisionMode::f16_true: return std::make_unique<HalfPrecision>(mode);
  }
  return std::make_unique<PrecisionPlugin>(mode);
}

}  // namespace ember
