#include "trainer/loggers/csv_logger.h"

#include <charconv>
#include <cmath>
#include <filesystem>

#include "nn/safetensors.h"

namespace ember {

CSVLogger::CSVLogger(std::string save_dir, LoggerOptions options)
    : FolderLogger(std::move(save_dir), std::move(options)) {}

std::string CSVLogger::metrics_file() const {
  return (std::filesystem::path(log_dir()) / "metrics.csv").string();
}

void CSVLogger::log_hyperparams(const HParams& hparams) {
  ensure_log_dir();
  nn::write_file_atomically((std::filesystem::path(log_dir()) / "hparams.yaml").string(),
                            hparams_to_yaml(hparams));
}

void CSVLogger::log_metrics(const MetricMap& metrics, int64_t step) {
  MetricMap row = metrics;
  row["step"] = static_cast<double>(step);
  for (const auto& [k, v] : row) keys_.insert(k);
  rows_.push_back(std::move(row));
}

namespace {
// The shortest text that reads back as the same double (Python's repr of a float);
// integral values (epoch, step) print without a fraction.
std::string format_value(double v) {
  if (std::isfinite(v) && std::abs(v) < 1e15 && v == std::floor(v))
    return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}
}  // namespace

void CSVLogger::save() {
  if (saved_once_ && saved_rows_ == rows_.size()) return;
  ensure_log_dir();
  std::string out;
  bool first = true;
  for (const std::string& k : keys_) {
    out += (first ? "" : ",") + k;
    first = false;
  }
  out += "\n";
  for (const MetricMap& row : rows_) {
    first = true;
    for (const std::string& k : keys_) {
      if (!first) out += ",";
      first = false;
      if (auto it = row.find(k); it != row.end()) out += format_value(it->second);
    }
    out += "\n";
  }
  nn::write_file_atomically(metrics_file(), out);
  saved_rows_ = rows_.size();
  saved_once_ = true;
}

}  // namespace ember
