#include "nn/loss.h"

#include <sstream>

namespace ember::nn {

namespace {

std::string reduction_repr(F::Reduction r) {
  switch (r) {
    case F::Reduction::none: return "reduction='none'";
    case F::Reduction::mean: return "reduction='mean'";
    case F::Reduction::sum: return "reduction='sum'";
  }
  return "";
}

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

CrossEntropyLoss::CrossEntropyLoss(F::CrossEntropyOptions o) : options(std::move(o)) {
  if (options.weight.defined()) options.weight = register_buffer("weight", options.weight);
}
Tensor CrossEntropyLoss::forward(const Tensor& input, const Tensor& target) {
  return F::cross_entropy(input, target, options);
}
std::string CrossEntropyLoss::extra_repr() const {
  std::string s = reduction_repr(options.reduction);
  if (options.ignore_index != -100) s += ", ignore_index=" + std::to_string(options.ignore_index);
  if (options.label_smoothing != 0.0) s += ", label_smoothing=" + number(options.label_smoothing);
  return s;
}

NLLLoss::NLLLoss(F::NllLossOptions o) : options(std::move(o)) {
  if (options.weight.defined()) options.weight = register_buffer("weight", options.weight);
}
Tensor NLLLoss::forward(const Tensor& input, const Tensor& target) {
  return F::nll_loss(input, target, options);
}
std::string NLLLoss::extra_repr() const {
  std::string s = reduction_repr(options.reduction);
  if (options.ignore_index != -100) s += ", ignore_index=" + std::to_string(options.ignore_index);
  return s;
}

Tensor MSELoss::forward(const Tensor& input, const Tensor& target) {
  return F::mse_loss(input, target, reduction);
}
std::string MSELoss::extra_repr() const { return reduction_repr(reduction); }

Tensor L1Loss::forward(const Tensor& input, const Tensor& target) {
  return F::l1_loss(input, target, reduction);
}
std::string L1Loss::extra_repr() const { return reduction_repr(reduction); }

// A bad beta or delta is named where it is written, not at the first call.
SmoothL1Loss::SmoothL1Loss(F::Reduction r, double b) : reduction(r), beta(b) {
  if (!(beta >= 0.0)) fail<ValueError>("SmoothL1Loss", "beta must be non-negative, got ", beta);
}
Tensor SmoothL1Loss::forward(const Tensor& input, const Tensor& target) {
  return F::smooth_l1_loss(input, target, reduction, beta);
}
std::string SmoothL1Loss::extra_repr() const {
  return reduction_repr(reduction) + ", beta=" + number(beta);
}

HuberLoss::HuberLoss(F::Reduction r, double d) : reduction(r), delta(d) {
  if (!(delta > 0.0)) fail<ValueError>("HuberLoss", "delta must be positive, got ", delta);
}
Tensor HuberLoss::forward(const Tensor& input, const Tensor& target) {
  return F::huber_loss(input, target, reduction, delta);
}
std::string HuberLoss::extra_repr() const {
  return reduction_repr(reduction) + ", delta=" + number(delta);
}

BCELoss::BCELoss(F::BceOptions o) : options(std::move(o)) {
  if (options.weight.defined()) options.weight = register_buffer("weight", options.weight);
}
Tensor BCELoss::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy(input, target, options);
}
std::string BCELoss::extra_repr() const { return reduction_repr(options.reduction); }

BCEWithLogitsLoss::BCEWithLogitsLoss(F::BceWithLogitsOptions o) : options(std::move(o)) {
  if (options.weight.defined()) options.weight = register_buffer("weight", options.weight);
  if (options.pos_weight.defined())
    options.pos_weight = register_buffer("pos_weight", options.pos_weight);
}
Tensor BCEWithLogitsLoss::forward(const Tensor& input, const Tensor& target) {
  return F::binary_cross_entropy_with_logits(input, target, options);
}
std::string BCEWithLogitsLoss::extra_repr() const { return reduction_repr(options.reduction); }

KLDivLoss::KLDivLoss(F::KlDivReduction r, bool lt) : reduction(r), log_target(lt) {}
Tensor KLDivLoss::forward(const Tensor& input, const Tensor& target) {
  return F::kl_div(input, target, reduction, log_target);
}
std::string KLDivLoss::extra_repr() const {
  const char* names[] = {"none", "mean", "sum", "batchmean"};
  return std::string("reduction='") + names[static_cast<int>(reduction)] +
         "', log_target=" + (log_target ? "True" : "False");
}

}  // namespace ember::nn
