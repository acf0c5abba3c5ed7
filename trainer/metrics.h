// What self.log() records for one loop (training epoch, validation or test run), and
// the three views Lightning derives from it: the logger's metrics, the callbacks'
// metrics and the progress bar's metrics.
//
// A metric logged with on_step and on_epoch both true is "forked": the logger and the
// progress bar see name_step and name_epoch; callbacks see name (the latest value of
// either kind) as well. Epoch values reduce every update of the epoch: the mean is
// weighted by batch size, as Lightning's.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace ember {

using MetricMap = std::map<std::string, double>;

struct MetricViews {
  MetricMap log, callback, pbar;
};

class MetricCollection {
 public:
  struct Entry {
    std::string name, fx;
    bool on_step = false, on_epoch = false, prog_bar = false, logger = true;
    std::string reduce_fx = "mean";
    double step_value = std::numeric_limits<double>::quiet_NaN();
    bool updated_this_step = false;
    double sum = 0, weight = 0;  // mean: sum of value * batch_size and of batch sizes
    double extreme = std::numeric_limits<double>::quiet_NaN();  // max/min so far
    int64_t count = 0;
    double epoch_value() const;
  };

  // training: callbacks see step values too (Lightning shows callbacks only epoch
  // values of evaluation loops).
  explicit MetricCollection(bool training = false) : training_(training) {}

  void reset();  // a new epoch or run
  void begin_step();  // a new batch: step values from earlier batches are stale
  // Options already resolved against the hook's defaults. Logging one name with other
  // options than before in the same loop is an error (as Lightning's).
  void log(const std::string& fx, const std::string& name, double value, bool on_step, bool on_epoch,
           bool prog_bar, bool logger, const std::string& reduce_fx, int64_t batch_size);

  // on_step: the values of the current step; otherwise the epoch values.
  MetricViews views(bool on_step) const;
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }

  // For checkpoints saved mid-epoch, so a resumed epoch reduces over all its batches.
  std::string to_json() const;
  void from_json(const std::string& text);

 private:
  bool training_;
  std::vector<Entry> entries_;  // in order of first log
};

}  // namespace ember
