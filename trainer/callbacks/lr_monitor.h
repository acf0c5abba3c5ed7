// LearningRateMonitor: logs each optimizer's parameter-group learning rates (and, with
// log_momentum, momenta) to the loggers and callback_metrics, named as Lightning names
// them: "lr-<Optimizer>" for one group, "lr-<Optimizer>/pg<i>" (from 1) for several; a
// second optimizer of the same class without a scheduler name gets "lr-<Optimizer>-1",
// and so on; a scheduler config's `name` replaces "lr-<Optimizer>". Optimizers with a
// scheduler come first, in scheduler order, then the others.
//
// logging_interval "step" logs every optimizer at the batch starts that log
// (log_every_n_steps), "epoch" at each epoch start; unset logs the schedulers of interval
// "step" at batch starts, those of interval "epoch" at epoch starts, and optimizers
// without a scheduler at both (Lightning's rule).
#pragma once

#include <memory>
#include <string>

#include "trainer/callback.h"
#include "trainer/metrics.h"

namespace ember {

struct LearningRateMonitorOptions {
  std::string logging_interval{};  // "", "step" or "epoch"
  bool log_momentum = false;       // also "<name>-momentum" (SGD momentum, Adam beta1; else 0)
};

class LearningRateMonitor : public Callback {
 public:
  explicit LearningRateMonitor(LearningRateMonitorOptions options = {});
  static std::shared_ptr<LearningRateMonitor> make(LearningRateMonitorOptions options = {}) {
    return std::make_shared<LearningRateMonitor>(std::move(options));
  }
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_start(Trainer& trainer, LightningModule& module, const Batch& batch,
                            int64_t batch_idx) override;
  void on_train_epoch_start(Trainer& trainer, LightningModule& module) override;
  // The rates as they would be logged now at `interval`: "step", "epoch" or "any" (all).
  MetricMap current_rates(const Trainer& trainer, const std::string& interval = "any") const;

 private:
  void log(Trainer& trainer, const std::string& interval);
  LearningRateMonitorOptions options_;
};

}  // namespace ember
