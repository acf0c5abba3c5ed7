// GradientAccumulationScheduler: changes accumulate_grad_batches by epoch, as Lightning's.
//
//   // 8 batches per step for epochs 0-3, 4 for epochs 4-7, then 1
//   GradientAccumulationScheduler::make({{0, 8}, {4, 4}, {8, 1}})
//
// The factor of epoch e is the one of the largest key <= e; without a key 0, epochs before
// the first key accumulate 1 batch. It cannot be combined with the Trainer's own
// accumulate_grad_batches (other than 1).
#pragma once

#include <cstdint>
#include <map>
#include <memory>

#include "trainer/callback.h"

namespace ember {

class GradientAccumulationScheduler : public Callback {
 public:
  // scheduling: epoch (>= 0) -> batches accumulated per optimizer step (>= 1).
  explicit GradientAccumulationScheduler(std::map<int64_t, int64_t> scheduling);
  static std::shared_ptr<GradientAccumulationScheduler> make(
      std::map<int64_t, int64_t> scheduling) {
    return std::make_shared<GradientAccumulationScheduler>(std::move(scheduling));
  }

  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;

  // The factor of `epoch`.
  int64_t get_accumulate_grad_batches(int64_t epoch) const;
  bool going_to_accumulate_grad_batches() const;
  const std::map<int64_t, int64_t>& scheduling() const { return scheduling_; }

 private:
  std::map<int64_t, int64_t> scheduling_;
};

}  // namespace ember
