// TensorBoardLogger: scalars in an events.out.tfevents.* file (trainer/loggers/tfevents.h)
// and hparams.yaml, under save_dir/name/version_N, as Lightning's. Every log_metrics call
// is flushed, so TensorBoard (or a test) can read a run while it trains.
#pragma once

#include <cstdio>
#include <memory>

#include "trainer/loggers/logger.h"

namespace ember {

class TensorBoardLogger : public FolderLogger {
 public:
  explicit TensorBoardLogger(std::string save_dir, LoggerOptions options = {});
  ~TensorBoardLogger() override;
  static std::shared_ptr<TensorBoardLogger> make(std::string save_dir, LoggerOptions options = {}) {
    return std::make_shared<TensorBoardLogger>(std::move(save_dir), std::move(options));
  }
  void log_hyperparams(const HParams& hparams) override;
  void log_metrics(const MetricMap& metrics, int64_t step) override;
  void save() override;
  void finalize(const std::string& status) override;
  // The event file's path (empty until the first write).
  const std::string& event_file() const { return path_; }

 private:
  void open();
  void write(const std::string& event);
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace ember
