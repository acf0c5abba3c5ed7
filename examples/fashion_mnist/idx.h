// IDX files (the MNIST family's format), plain or gzipped: a big-endian header, then the
// elements row-major.
//   magic   u32: 0x0000TTNN, TT the element type (0x08 = u8), NN the number of dims
//   dims    NN x u32
//   data    prod(dims) elements
// Every way a file can be wrong (missing, not gzip, truncated, another magic, zero dims,
// bytes after the data) is an ember::Error naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace fmnist {

inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // u8, 3 dims (N, rows, cols)
inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // u8, 1 dim (N)

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // prod(dims) elements, row-major
};

// Reads a u8 IDX file (gzip or not: zlib reads both) whose magic must be `magic`.
IdxArray read_idx(const std::string& path, uint32_t magic);

// images (N, rows, cols) as f32 in [0, 1] (pixel / 255); labels (N) as i64 in
// [0, num_classes).
ember::Tensor read_idx_images(const std::string& path);
ember::Tensor read_idx_labels(const std::string& path, int64_t num_classes = 10);

// Writes a u8 IDX file, gzipped when the path ends in ".gz" (tests, small data sets).
void write_idx(const std::string& path, uint32_t magic, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data);

}  // namespace fmnist
