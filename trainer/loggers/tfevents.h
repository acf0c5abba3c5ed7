// TensorBoard's event files, written by hand: TFRecord framing around Event protobufs.
//
//   record  = u64 length (LE) | u32 masked_crc32c(length bytes) | data | u32 masked_crc32c(data)
//   masked  = ((crc >> 15) | (crc << 17)) + 0xa282ead8, crc = CRC-32C (Castagnoli)
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
//
// The first record of a file is an Event with file_version "brain.Event:2", which is how
// TensorBoard recognises the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::tfevents {

uint32_t crc32c(const void* data, size_t n);
uint32_t masked_crc32c(const void* data, size_t n);

// One record's bytes, framed.
std::string frame_record(std::string_view data);
// Event protobufs.
std::string encode_file_version_event(double wall_time);
std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag,
                                float value);

// What a reader finds in a file: the scalars, in file order. Throws ValueError on a bad
// length or CRC, or a truncated record (naming the record's offset).
struct Scalar {
  std::string tag;
  int64_t step = 0;
  float value = 0;
  double wall_time = 0;
};
struct EventFile {
  std::string file_version;
  std::vector<Scalar> scalars;
  int64_t num_records = 0;
};
EventFile read_event_file(const std::string& path);

}  // namespace ember::tfevents
