#include "trainer/loggers/tensorboard_logger.h"

#include <unistd.h>
#include <atomic>
#include <chrono>
#include <filesystem>

#include "nn/safetensors.h"
#include "tensor/error.h"
#include "trainer/loggers/tfevents.h"

namespace ember {

namespace {
double now_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}
std::atomic<int64_t> g_file_counter{0};  // keeps two writers in one process apart
}  // namespace

TensorBoardLogger::TensorBoardLogger(std::string save_dir, LoggerOptions options)
    : FolderLogger(std::move(save_dir), std::move(options)) {}

TensorBoardLogger::~TensorBoardLogger() {
  if (file_) std::fclose(file_);
}

void TensorBoardLogger::open() {
  if (file_) return;
  ensure_log_dir();
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  // TensorBoard's own naming: events.out.tfevents.<seconds>.<host>.<pid>.<counter>
  const std::string name = "events.out.tfevents." +
                           std::to_string(static_cast<int64_t>(now_seconds())) + "." + host + "." +
                           std::to_string(getpid()) + "." + std::to_string(g_file_counter++);
  path_ = (std::filesystem::path(log_dir()) / name).string();
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) fail<ValueError>("TensorBoardLogger", "cannot open '", path_, "' for writing");
  write(tfevents::encode_file_version_event(now_seconds()));
}

void TensorBoardLogger::write(const std::string& event) {
  const std::string record = tfevents::frame_record(event);
  if (std::fwrite(record.data(), 1, record.size(), file_) != record.size())
    fail<ValueError>("TensorBoardLogger", "write to '", path_, "' failed");
}

void TensorBoardLogger::log_hyperparams(const HParams& hparams) {
  ensure_log_dir();
  nn::write_file_atomically((std::filesystem::path(log_dir()) / "hparams.yaml").string(),
                            hparams_to_yaml(hparams));
}

void TensorBoardLogger::log_metrics(const MetricMap& metrics, int64_t step) {
  open();
  const double t = now_seconds();
  for (const auto& [tag, value] : metrics)
    write(tfevents::encode_scalar_event(t, step, tag, static_cast<float>(value)));
  std::fflush(file_);
}

void TensorBoardLogger::save() {
  if (file_) std::fflush(file_);
}

void TensorBoardLogger::finalize(const std::string&) {
  if (file_) {
    std::fclose(file_);
    file_ = nullptr;
  }
}

}  // namespace ember
