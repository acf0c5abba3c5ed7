#include "trainer/metrics.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "tensor/ops.h"

namespace ember {

MetricValue::MetricValue(Tensor value)
    : value_(std::numeric_limits<double>::quiet_NaN()),
      device_(std::make_shared<Pending>(Pending{std::move(value)})) {}

double MetricValue::get() const {
  if (!device_) return value_;
  if (device_->tensor.defined()) {
    device_->value = device_->tensor.item<double>();  // the one copy to the host
    device_->tensor = Tensor();
  }
  return device_->value;
}

MetricMap read_metrics(const MetricValueMap& values) {
  MetricMap out;
  for (const auto& [k, v] : values) out.emplace_hint(out.end(), k, v.get());
  return out;
}

MetricValue MetricCollection::Entry::epoch_value() const {
  if (reduce_fx == "mean") {
    if (!(weight > 0)) return std::numeric_limits<double>::quiet_NaN();
    return sum_dev.defined() ? MetricValue(sum_dev / weight) : MetricValue(sum / weight);
  }
  if (reduce_fx == "sum") return sum_dev.defined() ? MetricValue(sum_dev) : MetricValue(sum);
  return extreme_dev.defined() ? MetricValue(extreme_dev) : MetricValue(extreme);
}

void MetricCollection::reset() { entries_.clear(); }

void MetricCollection::begin_step() {
  for (Entry& e : entries_) e.updated_this_step = false;
}

MetricCollection::Entry& MetricCollection::entry(const std::string& fx, const std::string& name,
                                                 bool on_step, bool on_epoch, bool prog_bar,
                                                 bool logger, const std::string& reduce_fx) {
  if (reduce_fx != "mean" && reduce_fx != "sum" && reduce_fx != "max" && reduce_fx != "min")
    fail<ValueError>("log", "reduce_fx must be \"mean\", \"sum\", \"max\" or \"min\", got \"",
                     reduce_fx, "\"");
  if (!on_step && !on_epoch)
    fail<ValueError>("log", "'", name, "': on_step and on_epoch cannot both be false");
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.name == name; });
  if (it == entries_.end()) {
    Entry e;
    e.name = name;
    e.fx = fx;
    e.on_step = on_step;
    e.on_epoch = on_epoch;
    e.prog_bar = prog_bar;
    e.logger = logger;
    e.reduce_fx = reduce_fx;
    entries_.push_back(e);
    it = entries_.end() - 1;
  } else if (it->on_step != on_step || it->on_epoch != on_epoch || it->reduce_fx != reduce_fx) {
    fail<ValueError>("log", "'", name, "' was logged in ", it->fx,
                     " with other on_step/on_epoch/reduce_fx options");
  }
  return *it;
}

void MetricCollection::log(const std::string& fx, const std::string& name, double value,
                           bool on_step, bool on_epoch, bool prog_bar, bool logger,
                           const std::string& reduce_fx, int64_t batch_size) {
  Entry& e = entry(fx, name, on_step, on_epoch, prog_bar, logger, reduce_fx);
  e.step_value = value;
  e.updated_this_step = true;
  ++e.count;
  // A name whose reduction lives on a device (a tensor was logged) stays there.
  if (e.sum_dev.defined()) {
    const double bs = static_cast<double>(batch_size);
    e.sum_dev = e.sum_dev + (e.reduce_fx == "mean" ? value * bs : value);
    if (e.reduce_fx == "mean") e.weight += static_cast<double>(batch_size);
    return;
  }
  if (e.extreme_dev.defined()) {
    const Tensor v = scalar_tensor(value, {.dtype = DType::f64, .device = e.extreme_dev.device()});
    e.extreme_dev = e.reduce_fx == "max" ? maximum(e.extreme_dev, v) : minimum(e.extreme_dev, v);
    return;
  }
  if (e.reduce_fx == "mean") {
    e.sum += value * static_cast<double>(batch_size);
    e.weight += static_cast<double>(batch_size);
  } else if (e.reduce_fx == "sum") {
    e.sum += value;
  } else if (e.count == 1) {
    e.extreme = value;
  } else if (std::isnan(e.extreme) || std::isnan(value)) {
    e.extreme = std::numeric_limits<double>::quiet_NaN();  // NaN propagates, as torch.max
  } else {
    e.extreme = e.reduce_fx == "max" ? std::max(e.extreme, value) : std::min(e.extreme, value);
  }
}

void MetricCollection::log(const std::string& fx, const std::string& name, const Tensor& value,
                           bool on_step, bool on_epoch, bool prog_bar, bool logger,
                           const std::string& reduce_fx, int64_t batch_size) {
  // A cpu value costs no transfer: read it now, as a number.
  if (value.device().is_cpu())
    return log(fx, name, value.item<double>(), on_step, on_epoch, prog_bar, logger, reduce_fx,
               batch_size);
  Entry& e = entry(fx, name, on_step, on_epoch, prog_bar, logger, reduce_fx);
  // () f64 on the device, a copy of its own: the caller may change `value` afterwards, and
  // f64 reduces exactly as the host's doubles do.
  const Tensor x = value.detach().reshape({});
  const Tensor v = x.dtype() == DType::f64 ? x.clone() : x.to(DType::f64);
  e.step_value = MetricValue(v);
  e.updated_this_step = true;
  ++e.count;
  // The accumulators are replaced, never changed in place: an epoch view handed out
  // earlier shares the old tensor.
  if (e.reduce_fx == "mean" || e.reduce_fx == "sum") {
    const Tensor term = e.reduce_fx == "mean" ? v * static_cast<double>(batch_size) : v;
    if (e.sum_dev.defined()) e.sum_dev = e.sum_dev + term;
    else e.sum_dev = e.count > 1 ? term + e.sum : term;  // after host values: their sum first
    if (e.reduce_fx == "mean") e.weight += static_cast<double>(batch_size);
  } else if (e.count == 1) {
    e.extreme_dev = v;
  } else {
    const Tensor prev = e.extreme_dev.defined()
                            ? e.extreme_dev
                            : scalar_tensor(e.extreme, {.dtype = DType::f64, .device = v.device()});
    // NaN propagates, as torch.max.
    e.extreme_dev = e.reduce_fx == "max" ? maximum(prev, v) : minimum(prev, v);
  }
}

MetricViews MetricCollection::views(bool on_step) const {
  MetricViews v;
  for (const Entry& e : entries_) {
    if (on_step ? !(e.on_step && e.updated_this_step) : !e.on_epoch) continue;
    const MetricValue value = on_step ? e.step_value : e.epoch_value();
    const bool forked = e.on_step && e.on_epoch;
    const std::string forked_name = forked ? e.name + (on_step ? "_step" : "_epoch") : e.name;
    if (e.logger) v.log[forked_name] = value;
    if (training_ || !on_step) {
      v.callback[e.name] = value;
      v.callback[forked_name] = value;
    }
    if (e.prog_bar) v.pbar[forked_name] = value;
  }
  return v;
}

std::string MetricCollection::to_json() const {
  nlohmann::json j = nlohmann::json::array();
  for (const Entry& e : entries_) {
    // Non-finite numbers have no JSON form; they travel as strings.
    auto num = [](double d) {
      return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(std::to_string(d));
    };
    j.push_back(
        {{"name", e.name},
         {"fx", e.fx},
         {"on_step", e.on_step},
         {"on_epoch", e.on_epoch},
         {"prog_bar", e.prog_bar},
         {"logger", e.logger},
         {"reduce_fx", e.reduce_fx},
         {"step_value", num(e.step_value.get())},
         {"sum", num(e.sum_dev.defined() ? e.sum_dev.item<double>() : e.sum)},
         {"weight", num(e.weight)},
         {"extreme", num(e.extreme_dev.defined() ? e.extreme_dev.item<double>() : e.extreme)},
         {"count", e.count}});
  }
  return j.dump();
}

void MetricCollection::from_json(const std::string& text) {
  auto num = [](const nlohmann::json& j) {
    return j.is_string() ? std::stod(j.get<std::string>()) : j.get<double>();
  };
  try {
    std::vector<Entry> entries;
    for (const auto& j : nlohmann::json::parse(text)) {
      Entry e;
      e.name = j.at("name");
      e.fx = j.at("fx");
      e.on_step = j.at("on_step");
      e.on_epoch = j.at("on_epoch");
      e.prog_bar = j.at("prog_bar");
      e.logger = j.at("logger");
      e.reduce_fx = j.at("reduce_fx");
      e.step_value = num(j.at("step_value"));
      e.sum = num(j.at("sum"));
      e.weight = num(j.at("weight"));
      e.extreme = num(j.at("extreme"));
      e.count = j.at("count");
      entries.push_back(e);
    }
    entries_ = std::move(entries);
  } catch (const nlohmann::json::exception& e) {
    fail<ValueError>("checkpoint", "logged metrics state is malformed: ", e.what());
  }
}

}  // namespace ember
