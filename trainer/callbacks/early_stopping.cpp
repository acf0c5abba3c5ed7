#include "trainer/callbacks/early_stopping.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  if (options_.mode != "min" && options_.mode != "max")
    fail<ValueError>("EarlyStopping", "mode must be \"min\" or \"max\", got \"", options_.mode,
                     "\"");
  if (options_.monitor.empty()) fail<ValueError>("EarlyStopping", "monitor must name a metric");
  if (options_.patience < 0)
    fail<ValueError>("EarlyStopping", "patience must be >= 0, got ", options_.patience);
  options_.min_delta = std::abs(options_.min_delta);
  best_score_ = options_.mode == "min" ? kInf : -kInf;
}

std::string EarlyStopping::state_key() const {
  return "EarlyStopping{monitor=" + options_.monitor + ",mode=" + options_.mode + "}";
}

void EarlyStopping::setup(Trainer& t, LightningModule&, const std::string&) {
  if (options_.check_on_train_epoch_end) {
    check_on_train_epoch_end_ = *options_.check_on_train_epoch_end;
  } else {
    const BatchCount& v = t.options().val_check_interval;
    check_on_train_epoch_end_ = v.is_fraction && v.fraction == 1.0 &&
                                t.options().check_val_every_n_epoch == std::optional<int64_t>(1);
  }
}

void EarlyStopping::on_train_epoch_end(Trainer& t, LightningModule&) {
  if (check_on_train_epoch_end_ && t.fn() == TrainerFn::fit && !t.sanity_checking() &&
      !t.is_fast_dev_run())
    run_check(t);
}

void EarlyStopping::on_validation_end(Trainer& t, LightningModule&) {
  if (!check_on_train_epoch_end_ && t.fn() == TrainerFn::fit && !t.sanity_checking() &&
      !t.is_fast_dev_run())
    run_check(t);
}

bool EarlyStopping::improved(double current) const {
  return options_.mode == "min" ? current < best_score_ - options_.min_delta
                                : current > best_score_ + options_.min_delta;
}

void EarlyStopping::run_check(Trainer& t) {
  const MetricMap& m = t.callback_metrics();
  auto it = m.find(options_.monitor);
  if (it == m.end()) {
    if (!options_.strict) return;
    std::string available;
    for (const auto& [k, v] : m) available += (available.empty() ? "" : ", ") + k;
    fail<ValueError>("EarlyStopping", "conditioned on metric '", options_.monitor,
                     "', which is not available; available metrics are: [", available, "]");
  }
  const double current = it->second;
  bool stop = false;
  const bool lower = options_.mode == "min";
  if (options_.check_finite && !std::isfinite(current)) {
    stop = true;
    reason_ = "Monitored metric " + options_.monitor + " = " + fmt(current) +
              " is not finite. Previous best value was " + fmt(best_score_) +
              ". Signaling Trainer to stop.";
  } else if (options_.stopping_threshold && (lower ? current < *options_.stopping_threshold
                                                   : current > *options_.stopping_threshold)) {
    stop = true;
    reason_ = "Stopping threshold reached: " + options_.monitor + " = " + fmt(current) +
              ". Signaling Trainer to stop.";
  } else if (options_.divergence_threshold && (lower ? current > *options_.divergence_threshold
                                                     : current < *options_.divergence_threshold)) {
    stop = true;
    reason_ = "Divergence threshold reached: " + options_.monitor + " = " + fmt(current) +
              ". Signaling Trainer to stop.";
  } else if (improved(current)) {
    best_score_ = current;
    wait_count_ = 0;
  } else if (++wait_count_ >= options_.patience) {
    stop = true;
    reason_ = "Monitored metric " + options_.monitor + " did not improve in the last " +
              std::to_string(wait_count_) + " records. Best score: " + fmt(best_score_) +
              ". Signaling Trainer to stop.";
  }
  // issue 17: under ddp every rank stops when any does (Lightning's reduce_boolean_decision
  // with all=False), so a monitor logged without sync_dist cannot split the ranks.
  stop = t.strategy().reduce_boolean_decision(stop, /*all=*/false);
  if (stop) {
    stopped_epoch_ = t.current_epoch();
    t.should_stop = true;
    if (options_.verbose && t.is_global_zero() && !reason_.empty())
      std::fprintf(stderr, "%s\n", reason_.c_str());
  }
}

std::string EarlyStopping::state_dict() const {
  nlohmann::json j = {{"wait_count", wait_count_},
                      {"stopped_epoch", stopped_epoch_},
                      {"patience", options_.patience}};
  j["best_score"] = std::isfinite(best_score_) ? nlohmann::json(best_score_)
                                               : nlohmann::json(std::to_string(best_score_));
  return j.dump();
}

void EarlyStopping::load_state_dict(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    wait_count_ = j.at("wait_count");
    stopped_epoch_ = j.at("stopped_epoch");
    const auto& b = j.at("best_score");
    best_score_ = b.is_string() ? std::stod(b.get<std::string>()) : b.get<double>();
  } catch (const nlohmann::json::exception& e) {
    fail<ValueError>("EarlyStopping", "malformed state in checkpoint: ", e.what());
  }
}

}  // namespace ember
