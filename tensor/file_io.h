// Writing files whole (checkpoints, logs, profiler traces).
#pragma once

#include <string>
#include <string_view>

namespace ember {

// Writes a file atomically: a temporary beside `path`, fsync, rename, fsync of the folder.
// Failures throw ValueError naming `op`.
void write_file_atomically(const std::string& path, const std::string& bytes,
                           std::string_view op = "save");

}  // namespace ember
