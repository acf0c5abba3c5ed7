// SWALR, as torch.optim.swa_utils.SWALR: anneals each group's rate from its rate when the
// scheduler is built to swa_lr over anneal_epochs steps ("cos" or "linear"), then keeps it
// there. Used by StochasticWeightAveraging (trainer/callbacks/swa.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "optim/lr_scheduler.h"

namespace ember::optim {

class SWALR : public LRScheduler {
 public:
  // lrs (swa_lr): one rate for every group, or one per group (each > 0). last_epoch != -1
  // resumes as torch does (epochs: anneal_epochs; strategy: anneal_strategy): every group must hold
  // "initial_lr", which become the base rates.
  SWALR(std::shared_ptr<Optimizer> opt, std::vector<double> lrs, int64_t epochs = 10,
        std::string strategy = "cos", int64_t last_epoch = -1);
  SWALR(std::shared_ptr<Optimizer> opt, double swa_lr, int64_t epochs = 10,
        std::string strategy = "cos", int64_t last_epoch = -1)
      : SWALR(std::move(opt), std::vector<double>{swa_lr}, epochs, std::move(strategy),
              last_epoch) {}
  std::string name() const override { return "SWALR"; }
  // torch's fields, plus "anneal_cos" (1: cos, 0: linear) and "swa_lrs" (ember keeps the
  // rates here as well as in the groups' "swa_lr").
  nn::StateDict state_dict() const override;
  void load_state_dict(const nn::StateDict& dict) override;

  int64_t anneal_epochs;
  std::string anneal_strategy;
  std::vector<double> swa_lrs;  // one per group

 protected:
  // At step s after construction (s = _step_count - 1): alpha = anneal(min(1, s / E)) and
  // lr = swa_lr alpha + lr0 (1 - alpha), lr0 recovered from the current rate and the
  // previous alpha (torch's _get_initial_lr), so a rate set by hand is the one annealed.
  std::vector<double> get_lr() override;

 private:
  double anneal(double t) const;
};

}  // namespace ember::optim
