// CSVLogger: metrics.csv (one row per log_metrics call; the columns are every key seen,
// sorted, with "step") and hparams.yaml, under save_dir/name/version_N, as Lightning's.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "trainer/loggers/logger.h"

namespace ember {

class CSVLogger : public FolderLogger {
 public:
  explicit CSVLogger(std::string save_dir, LoggerOptions options = {});
  static std::shared_ptr<CSVLogger> make(std::string save_dir, LoggerOptions options = {}) {
    return std::make_shared<CSVLogger>(std::move(save_dir), std::move(options));
  }
  void log_hyperparams(const HParams& hparams) override;
  void log_metrics(const MetricMap& metrics, int64_t step) override;
  // Rewrites metrics.csv with every row so far (a new key adds a column to all rows).
  void save() override;
  std::string metrics_file() const;

 private:
  std::vector<MetricMap> rows_;
  std::set<std::string> keys_;
  size_t saved_rows_ = 0;
  bool saved_once_ = false;
};

}  // namespace ember
