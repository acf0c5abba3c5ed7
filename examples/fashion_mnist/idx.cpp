#include "fashion_mnist/idx.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <memory>

namespace fmnist {

using ember::fail;
using ember::ValueError;

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Reads exactly n bytes; fewer means the file ends early (or zlib found it corrupt).
void read_exact(gzFile f, const std::string& path, void* out, size_t n, const char* what) {
  auto* p = static_cast<uint8_t*>(out);
  size_t got = 0;
  while (got < n) {
    // gzread takes an unsigned count: read in chunks well under its limit.
    auto chunk = static_cast<unsigned>(std::min<size_t>(n - got, size_t{1} << 30));
    int r = gzread(f, p + got, chunk);
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      fail<ValueError>("read_idx", path, " is corrupt (zlib: ", msg, ") while reading ", what);
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (got < n)
    fail<ValueError>("read_idx", path, " is truncated: ", what, " needs ", n,
                     " bytes, the file has ", got);
}

uint32_t big_endian(const uint8_t b[4]) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path, uint32_t magic) {
  if (!std::filesystem::exists(path)) fail<ValueError>("read_idx", path, ": no such file");
  GzFile f(gzopen(path.c_str(), "rb"));
  if (!f) fail<ValueError>("read_idx", path, ": cannot open: ", std::strerror(errno));
  uint8_t word[4];
  read_exact(f.get(), path, word, 4, "the magic number");
  uint32_t got = big_endian(word);
  if (got != magic)
    fail<ValueError>("read_idx", path, " has magic number ", hex(got), ", expected ", hex(magic),
                     " (u8, ", magic & 0xff, " dims): not the IDX file expected, or corrupt");
  IdxArray a;
  size_t total = 1;
  for (uint32_t d = 0; d < (magic & 0xff); ++d) {
    read_exact(f.get(), path, word, 4, "the dims");
    uint32_t n = big_endian(word);
    if (n == 0 || n > (1u << 28))
      fail<ValueError>("read_idx", path, " has dim ", d, " of size ", n, ": corrupt");
    a.dims.push_back(n);
    total *= n;
  }
  a.data.resize(total);
  read_exact(f.get(), path, a.data.data(), total, "the data");
  uint8_t extra;
  if (gzread(f.get(), &extra, 1) > 0)
    fail<ValueError>("read_idx", path, " has bytes after its ", total,
                     " data bytes: corrupt, or dims that do not match the data");
  return a;
}

ember::Tensor read_idx_images(const std::string& path) {
  IdxArray a = read_idx(path, kIdxImagesMagic);
  std::vector<float> pixels(a.data.size());
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>(a.data[i]) / 255.0f;
  return ember::from_vector<float>(pixels, a.dims);  // (N, rows, cols)
}

ember::Tensor read_idx_labels(const std::string& path, int64_t num_classes) {
  IdxArray a = read_idx(path, kIdxLabelsMagic);
  std::vector<int64_t> labels(a.data.begin(), a.data.end());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= num_classes)
      fail<ValueError>("read_idx", path, " has label ", labels[i], " at ", i, ", expected < ",
                       num_classes, ": corrupt");
  return ember::from_vector<int64_t>(labels, a.dims);  // (N)
}

void write_idx(const std::string& path, uint32_t magic, const std::vector<int64_t>& dims,
               const std::vector<uint8_t>& data) {
  bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  GzFile f(gzopen(path.c_str(), gz ? "wb" : "wbT"));  // T: no compression
  if (!f) fail<ValueError>("write_idx", path, ": cannot open for writing");
  std::vector<uint8_t> bytes;
  auto put = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>(v >> s));
  };
  put(magic);
  for (int64_t d : dims) put(static_cast<uint32_t>(d));
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (gzwrite(f.get(), bytes.data(), static_cast<unsigned>(bytes.size())) !=
      static_cast<int>(bytes.size()))
    fail<ValueError>("write_idx", path, ": write failed");
}

}  // namespace fmnist
