#include "trainer/callbacks/lr_monitor.h"

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

LearningRateMonitor::LearningRateMonitor(LearningRateMonitorOptions options)
    : options_(std::move(options)) {
  const std::string& i = options_.logging_interval;
  if (!i.empty() && i != "step" && i != "epoch")
    fail<ValueError>("LearningRateMonitor",
                     "logging_interval must be \"step\", \"epoch\" or unset, got \"", i, "\"");
}

std::string LearningRateMonitor::interval(const Trainer& t) const {
  if (!options_.logging_interval.empty()) return options_.logging_interval;
  const SchedulerConfig& s = t.lr_scheduler_config();
  return s.empty() ? "epoch" : s.interval;
}

MetricMap LearningRateMonitor::current_rates(const Trainer& t) const {
  MetricMap out;
  const auto opt = t.optimizer();
  if (!opt) return out;
  const SchedulerConfig& s = t.lr_scheduler_config();
  const std::string base = s.name.empty() ? "lr-" + opt->name() : s.name;
  const auto& groups = opt->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string key = groups.size() == 1 ? base : base + "/pg" + std::to_string(g + 1);
    out[key] = groups[g].lr();
    if (options_.log_momentum) {
      const auto& o = groups[g].options;
      if (auto it = o.find("momentum"); it != o.end()) out[key + "-momentum"] = it->second;
      else if (auto b = o.find("beta1"); b != o.end()) out[key + "-momentum"] = b->second;
    }
  }
  return out;
}

void LearningRateMonitor::log(Trainer& t) {
  const MetricMap rates = current_rates(t);
  // Straight to the loggers at the trainer's logger step, as Lightning's.
  for (const auto& l : t.loggers()) l->log_metrics(rates, t.logger_step());
}

void LearningRateMonitor::on_train_batch_start(Trainer& t, LightningModule&, const Batch&,
                                               int64_t) {
  if (interval(t) == "step" && t.should_update_logs()) log(t);
}

void LearningRateMonitor::on_train_epoch_start(Trainer& t, LightningModule&) {
  if (interval(t) == "epoch") log(t);
}

}  // namespace ember
