#include "trainer/callbacks/lr_monitor.h"

#include <map>

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

void LearningRateMonitor::on_train_start(Trainer& t, LightningModule&) {
  if (t.loggers().empty())
    fail<ValueError>(
        "LearningRateMonitor",
        "Cannot use `LearningRateMonitor` callback with `Trainer` that has no logger.");
}

namespace {
// One optimizer's rates (and momenta) under `base`, a key per parameter group.
void add_rates(const optim::Optimizer& opt, const std::string& base, bool momentum,
               MetricMap& out) {
  const auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string key = groups.size() == 1 ? base : base + "/pg" + std::to_string(g + 1);
    out[key] = groups[g].lr();
    if (momentum) {
      const auto& o = groups[g].options;
      double m = 0.0;  // Lightning logs 0 for an optimizer without momentum
      if (auto b = o.find("beta1"); b != o.end()) m = b->second;
      else if (auto it = o.find("momentum"); it != o.end()) m = it->second;
      out[key + "-momentum"] = m;
    }
  }
}
}  // namespace

MetricMap LearningRateMonitor::current_rates(const Trainer& t, const std::string& interval) const {
  MetricMap out;
  // Lightning counts the optimizers of each class that have no scheduler name; a name
  // gets "-<n-1>" when n > 1 of its class were counted so far (a named one included).
  std::map<std::string, int> seen_types;
  std::vector<const optim::Optimizer*> seen;
  auto prefixed = [&](const optim::Optimizer& opt, const std::string& name, bool count) {
    seen.push_back(&opt);
    if (count) ++seen_types[opt.name()];
    const auto it = seen_types.find(opt.name());
    const int n = it == seen_types.end() ? 0 : it->second;
    return n > 1 ? name + "-" + std::to_string(n - 1) : name;
  };
  for (const SchedulerConfig& s : t.lr_scheduler_configs()) {
    optim::Optimizer& opt = s.scheduler ? s.scheduler->optimizer() : s.plateau->optimizer();
    const std::string name =
        prefixed(opt, s.name.empty() ? "lr-" + opt.name() : s.name, s.name.empty());
    if (interval == "any" || interval == s.interval)
      add_rates(opt, name, options_.log_momentum, out);
  }
  for (const auto& opt : t.optimizers()) {
    if (std::find(seen.begin(), seen.end(), opt.get()) != seen.end()) continue;
    add_rates(*opt, prefixed(*opt, "lr-" + opt->name(), true), options_.log_momentum, out);
  }
  return out;
}

void LearningRateMonitor::log(Trainer& t, const std::string& interval) {
  const MetricMap rates = current_rates(t, interval);
  if (rates.empty()) return;
  t.update_callback_metrics(rates);
  // Straight to the loggers at the trainer's logger step, as Lightning's.
  for (const auto& l : t.loggers()) l->log_metrics(rates, t.logger_step());
}

void LearningRateMonitor::on_train_batch_start(Trainer& t, LightningModule&, const Batch&,
                                               int64_t) {
  if (!t.should_update_logs() || options_.logging_interval == "epoch") return;
  log(t, options_.logging_interval.empty() ? "step" : "any");
}

void LearningRateMonitor::on_train_epoch_start(Trainer& t, LightningModule&) {
  if (options_.logging_interval == "step") return;
  log(t, options_.logging_interval.empty() ? "epoch" : "any");
}

}  // namespace ember
