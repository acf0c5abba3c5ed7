// What self.log() records for one loop (training epoch, validation or test run), and
// the three views Lightning derives from it: the logger's metrics, the callbacks'
// metrics and the progress bar's metrics.
//
// A metric logged with on_step and on_epoch both true is "forked": the logger and the
// progress bar see name_step and name_epoch; callbacks see name (the latest value of
// either kind) as well. Epoch values reduce every update of the epoch: the mean is
// weighted by batch size, as Lightning's.
//
// A tensor logged on a device stays there: step values are kept as detached tensors and
// epoch reductions accumulate on the device, so a training step reads nothing back. A
// value is copied to the host only when someone reads it (MetricValue::get): the progress
// bar when it prints, a logger when it writes, a callback or the user reading
// callback_metrics.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember {

using MetricMap = std::map<std::string, double>;

// A logged number, on the host or still on its device (a one-element tensor). get()
// copies a device value to the host the first time; copies of a MetricValue share that
// one read.
class MetricValue {
 public:
  MetricValue(double value = std::numeric_limits<double>::quiet_NaN()) : value_(value) {}  // NOLINT
  explicit MetricValue(Tensor value);
  double get() const;
  // Whether get() reads from the host (no copy from a device).
  bool on_host() const { return !device_ || !device_->tensor.defined(); }

 private:
  struct Pending {
    Tensor tensor;  // () on its device; undefined once read
    double value = 0;
  };
  double value_;
  std::shared_ptr<Pending> device_;
};

using MetricValueMap = std::map<std::string, MetricValue>;
// Reads every value (copies device values to the host).
MetricMap read_metrics(const MetricValueMap& values);

struct MetricViews {
  MetricValueMap log, callback, pbar;
};

class MetricCollection {
 public:
  struct Entry {
    std::string name, fx;
    bool on_step = false, on_epoch = false, prog_bar = false, logger = true;
    std::string reduce_fx = "mean";
    MetricValue step_value;
    bool updated_this_step = false;
    double sum = 0, weight = 0;  // mean: sum of value * batch_size and of batch sizes
    double extreme = std::numeric_limits<double>::quiet_NaN();  // max/min so far
    // Once a device tensor was logged, sum and extreme accumulate here (f64, 0-dim, on
    // that device) instead; `weight` stays on the host (batch sizes are host numbers).
    Tensor sum_dev, extreme_dev;
    int64_t count = 0;
    MetricValue epoch_value() const;
  };

  // training: callbacks see step values too (Lightning shows callbacks only epoch
  // values of evaluation loops).
  explicit MetricCollection(bool training = false) : training_(training) {}

  void reset();       // a new epoch or run
  void begin_step();  // a new batch: step values from earlier batches are stale
  // Options already resolved against the hook's defaults. Logging one name with other
  // options than before in the same loop is an error (as Lightning's).
  // A tensor value is a one-element tensor; one on a device is kept there (detached).
  void log(const std::string& fx, const std::string& name, double value, bool on_step,
           bool on_epoch, bool prog_bar, bool logger, const std::string& reduce_fx,
           int64_t batch_size);
  void log(const std::string& fx, const std::string& name, const Tensor& value, bool on_step,
           bool on_epoch, bool prog_bar, bool logger, const std::string& reduce_fx,
           int64_t batch_size);

  // on_step: the values of the current step; otherwise the epoch values. Device values
  // stay on the device (an epoch view runs one op per reduced device metric).
  MetricViews views(bool on_step) const;
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }

  // For checkpoints saved mid-epoch, so a resumed epoch reduces over all its batches
  // (reads device values; a restored collection holds host values).
  std::string to_json() const;
  void from_json(const std::string& text);

 private:
  Entry& entry(const std::string& fx, const std::string& name, bool on_step, bool on_epoch,
               bool prog_bar, bool logger, const std::string& reduce_fx);

  bool training_;
  std::vector<Entry> entries_;  // in order of first log
};

}  // namespace ember
