// LearningRateMonitor: logs each parameter group's learning rate to the loggers, as
// "lr-<Optimizer>" for one group and "lr-<Optimizer>/pg<i>" (from 1) for several, or
// under the scheduler config's name. logging_interval "step" logs every
// log_every_n_steps steps, "epoch" at each epoch start; unset follows the scheduler's
// interval (epoch without a scheduler).
#pragma once

#include <memory>
#include <string>

#include "trainer/callback.h"
#include "trainer/metrics.h"

namespace ember {

struct LearningRateMonitorOptions {
  std::string logging_interval{};  // "", "step" or "epoch"
  bool log_momentum = false;       // also "<name>-momentum" (SGD momentum, Adam beta1)
};

class LearningRateMonitor : public Callback {
 public:
  explicit LearningRateMonitor(LearningRateMonitorOptions options = {});
  static std::shared_ptr<LearningRateMonitor> make(LearningRateMonitorOptions options = {}) {
    return std::make_shared<LearningRateMonitor>(std::move(options));
  }
  void on_train_batch_start(Trainer& trainer, LightningModule& module, const Batch& batch,
                            int64_t batch_idx) override;
  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  // The rates as they would be logged now.
  MetricMap current_rates(const Trainer& trainer) const;

 private:
  std::string interval(const Trainer& trainer) const;
  void log(Trainer& trainer);
  LearningRateMonitorOptions options_;
};

}  // namespace ember
