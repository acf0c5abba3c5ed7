// The safetensors format (huggingface/safetensors), so weights move to and from PyTorch
// by name:
//   8 bytes   little-endian u64 N, the header's length
//   N bytes   JSON: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
//                    "__metadata__": {"<key>": "<string>", ...}}
//   the rest  the tensors' bytes, little-endian, row-major; offsets relative to its start,
//             covering it exactly, without holes or overlaps
// Files are written atomically (temporary file, fsync, rename), so a failed save never
// damages an existing file. Loading validates everything and reports a corrupt file as
// an ember::Error, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/module.h"
#include "tensor/file_io.h"

namespace ember::nn {

struct SafetensorsFile {
  StateDict tensors;                            // in file order
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Headers above this size are refused (as the reference implementation does).
inline constexpr uint64_t kMaxSafetensorsHeader = 100u * 1024u * 1024u;

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata = {});
SafetensorsFile load_safetensors(const std::string& path, Device device = Device::cpu());
// Parses a whole file held in memory (what load_safetensors and the fuzzer call).
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, Device device = Device::cpu());
// The bytes save_safetensors writes.
std::string serialize_safetensors(const StateDict& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// Writes a file atomically (tensor/file_io.h); nn:: callers keep their spelling.
using ember::write_file_atomically;

// A module's state_dict() to and from a safetensors file.
void save(const Module& module, const std::string& path,
          const std::map<std::string, std::string>& metadata = {});
LoadResult load(Module& module, const std::string& path, bool strict = true);

}  // namespace ember::nn
