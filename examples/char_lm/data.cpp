#include "char_lm/data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace char_lm {

namespace fs = std::filesystem;

std::string load_fortunes(const std::string& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_regular_file() && !e.path().has_extension()) files.push_back(e.path());
  if (files.empty())
    fail<ValueError>("char_lm", "no fortune files in '", dir,
                     "': install Debian's fortunes package (bash scripts/bootstrap.sh core, "
                     "or apt-get install fortunes)");
  std::sort(files.begin(), files.end());
  std::string text;
  for (const fs::path& p : files) {
    std::ifstream in(p, std::ios::binary);
    std::string line;
    while (std::getline(in, line))
      if (line != "%") text += line + "\n";  // a line of '%' alone separates fortunes
  }
  return text;
}

Vocab::Vocab(const std::string& text) : ids(256, -1) {
  std::vector<bool> seen(256, false);
  for (unsigned char c : text) seen[c] = true;
  for (int b = 0; b < 256; ++b)
    if (seen[static_cast<size_t>(b)]) {
      ids[static_cast<size_t>(b)] = static_cast<int64_t>(bytes.size());
      bytes.push_back(static_cast<unsigned char>(b));
    }
}

std::vector<int64_t> Vocab::encode(const std::string& text) const {
  std::vector<int64_t> out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (ids[c] < 0) fail<ValueError>("char_lm", "byte ", int{c}, " is not in the vocabulary");
    out.push_back(ids[c]);
  }
  return out;
}

std::string Vocab::decode(const std::vector<int64_t>& tokens) const {
  std::string out;
  for (int64_t t : tokens) out.push_back(static_cast<char>(bytes.at(static_cast<size_t>(t))));
  return out;
}

Windows::Windows(std::shared_ptr<const std::vector<int64_t>> tokens, int64_t context, int64_t count,
                 uint64_t seed)
    : tokens_(std::move(tokens)), context_(context), count_(count), seed_(seed) {
  if (static_cast<int64_t>(tokens_->size()) <= context_)
    fail<ValueError>("char_lm", "a split of ", tokens_->size(),
                     " tokens is too short for windows of ", context_ + 1);
}

Batch Windows::get_batch(const std::vector<int64_t>& indices) const {
  const int64_t n = static_cast<int64_t>(indices.size()), T = context_;
  const uint64_t starts = tokens_->size() - static_cast<uint64_t>(T);  // s in [0, starts)
  std::vector<int64_t> x(static_cast<size_t>(n * T)), y(x.size());
  for (int64_t b = 0; b < n; ++b) {
    // splitmix64 of (seed, index): a stateless draw per window.
    uint64_t z = seed_ * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(indices[b]) + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const auto s = static_cast<ptrdiff_t>(z % starts);
    std::copy_n(tokens_->begin() + s, T, x.begin() + b * T);
    std::copy_n(tokens_->begin() + s + 1, T, y.begin() + b * T);
  }
  return {from_vector(x, {n, T}), from_vector(y, {n, T})};
}

}  // namespace char_lm
