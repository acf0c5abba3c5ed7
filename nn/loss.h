// Loss modules over nn::functional's losses, with torch's names, defaults and options:
//   auto criterion = nn::CrossEntropyLoss::make({.label_smoothing = 0.1});
//   Tensor loss = criterion(logits, target);  // (N, C), (N)
// Every loss is an nn::Loss, so a model can take any criterion injected. A class weight
// (and BCEWithLogitsLoss's pos_weight) is registered as a buffer, as in torch: it moves
// with to() and is saved in state_dict.
#pragma once

#include <memory>
#include <utility>

#include "nn/functional.h"
#include "nn/module.h"

namespace ember::nn {

// A module with two tensors in (prediction, target) and one loss out.
class Loss : public Module {
 public:
  virtual Tensor forward(const Tensor& input, const Tensor& target) = 0;
  Tensor operator()(const Tensor& input, const Tensor& target) { return forward(input, target); }
};

class CrossEntropyLoss : public Loss {
 public:
  explicit CrossEntropyLoss(F::CrossEntropyOptions options = {});
  static Ptr<CrossEntropyLoss> make(F::CrossEntropyOptions options = {}) {
    return std::make_shared<CrossEntropyLoss>(std::move(options));
  }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::CrossEntropyOptions options;
};

class NLLLoss : public Loss {
 public:
  explicit NLLLoss(F::NllLossOptions options = {});
  static Ptr<NLLLoss> make(F::NllLossOptions options = {}) {
    return std::make_shared<NLLLoss>(std::move(options));
  }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::NllLossOptions options;
};

class MSELoss : public Loss, public Make<MSELoss> {
 public:
  explicit MSELoss(F::Reduction r = F::Reduction::mean) : reduction(r) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::Reduction reduction;
};

class L1Loss : public Loss, public Make<L1Loss> {
 public:
  explicit L1Loss(F::Reduction r = F::Reduction::mean) : reduction(r) {}
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::Reduction reduction;
};

class SmoothL1Loss : public Loss, public Make<SmoothL1Loss> {
 public:
  explicit SmoothL1Loss(F::Reduction reduction = F::Reduction::mean, double beta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::Reduction reduction;
  double beta;
};

class HuberLoss : public Loss, public Make<HuberLoss> {
 public:
  explicit HuberLoss(F::Reduction reduction = F::Reduction::mean, double delta = 1.0);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::Reduction reduction;
  double delta;
};

class BCELoss : public Loss {
 public:
  explicit BCELoss(F::BceOptions options = {});
  static Ptr<BCELoss> make(F::BceOptions options = {}) {
    return std::make_shared<BCELoss>(std::move(options));
  }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::BceOptions options;
};

class BCEWithLogitsLoss : public Loss {
 public:
  explicit BCEWithLogitsLoss(F::BceWithLogitsOptions options = {});
  static Ptr<BCEWithLogitsLoss> make(F::BceWithLogitsOptions options = {}) {
    return std::make_shared<BCEWithLogitsLoss>(std::move(options));
  }
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::BceWithLogitsOptions options;
};

class KLDivLoss : public Loss, public Make<KLDivLoss> {
 public:
  explicit KLDivLoss(F::KlDivReduction reduction = F::KlDivReduction::mean,
                     bool log_target = false);
  Tensor forward(const Tensor& input, const Tensor& target) override;
  std::string extra_repr() const override;
  F::KlDivReduction reduction;
  bool log_target;
};

}  // namespace ember::nn
