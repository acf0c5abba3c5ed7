#include "trainer/loggers/logger.h"

#include <filesystem>

#include "tensor/error.h"

namespace ember {

namespace fs = std::filesystem;

FolderLogger::FolderLogger(std::string save_dir, LoggerOptions options)
    : save_dir_(std::move(save_dir)), options_(std::move(options)) {}

std::string FolderLogger::version() const {
  if (version_) return *version_;
  if (!options_.sub_dir.empty()) {
    version_ = options_.sub_dir;
  } else if (options_.version) {
    version_ = std::to_string(*options_.version);
  } else {
    // One past the highest version_N present (0 in a new folder), as Lightning.
    int64_t next = 0;
    const fs::path root = fs::path(save_dir_) / options_.name;
    std::error_code ec;
    if (fs::is_directory(root, ec)) {
      for (const auto& entry : fs::directory_iterator(root, ec)) {
        const std::string n = entry.path().filename().string();
        if (!entry.is_directory() || !n.starts_with("version_")) continue;
        try {
          size_t used = 0;
          const int64_t v = std::stoll(n.substr(8), &used);
          if (used == n.size() - 8 && v + 1 > next) next = v + 1;
        } catch (const std::exception&) {  // version_abc: not a numbered version
        }
      }
    }
    version_ = std::to_string(next);
  }
  return *version_;
}

std::string FolderLogger::log_dir() const {
  const std::string v = version();
  const std::string folder = options_.sub_dir.empty() ? "version_" + v : v;
  return (fs::path(save_dir_) / options_.name / folder).string();
}

void FolderLogger::ensure_log_dir() const {
  std::error_code ec;
  fs::create_directories(log_dir(), ec);
  if (ec) fail<ValueError>("logger", "cannot create '", log_dir(), "': ", ec.message());
}

}  // namespace ember
