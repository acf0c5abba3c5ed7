// Logger: where the Trainer sends logged metrics and hyperparameters. ember's loggers
// write under <save_dir>/<name>/version_<N>/, N one past the highest version there, as
// Lightning's do; the version is chosen on first use, so loggers sharing a folder (CSV
// and TensorBoard) that the Trainer asks before writing anything agree on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "trainer/hparams.h"
#include "trainer/metrics.h"

namespace ember {

class Logger {
 public:
  virtual ~Logger() = default;
  virtual std::string name() const = 0;
  virtual std::string version() const = 0;  // "0" for version_0, or a user's string
  virtual std::string save_dir() const = 0;
  virtual std::string log_dir() const = 0;  // save_dir/name/version_N
  virtual void log_hyperparams(const HParams& hparams) = 0;
  virtual void log_metrics(const MetricMap& metrics, int64_t step) = 0;
  virtual void save() {}
  virtual void finalize(const std::string& /*status: success, failed*/) { save(); }
};

struct LoggerOptions {
  std::string name = "lightning_logs";
  // Unset: the next free version_N. A number gives version_<number>; `sub_dir` names the
  // folder outright instead.
  std::optional<int64_t> version{};
  std::string sub_dir{};
};

// The versioned-folder logic both ember loggers share.
class FolderLogger : public Logger {
 public:
  FolderLogger(std::string save_dir, LoggerOptions options);
  std::string name() const override { return options_.name; }
  std::string version() const override;
  std::string save_dir() const override { return save_dir_; }
  std::string log_dir() const override;

 protected:
  void ensure_log_dir() const;  // creates it (and its parents)

 private:
  std::string save_dir_;
  LoggerOptions options_;
  mutable std::optional<std::string> version_;
};

}  // namespace ember
