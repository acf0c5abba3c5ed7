// The corpus of examples/char_lm: the fortune-cookie text of Debian's `fortunes` package,
// byte-level tokens, split 90/10 by position, and random windows of it for the Trainer.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace char_lm {

using namespace ember;

inline const char* kDefaultDir = "/usr/share/games/fortunes";

// The data files of `dir` (regular files without an extension: not the .dat indexes nor the
// .u8 links), in name order, each fortune's text followed by a newline (the '%' separator
// lines dropped). A missing or empty directory is an ember::Error naming the package.
std::string load_fortunes(const std::string& dir = kDefaultDir);

// The bytes seen, sorted, as the vocabulary; encode/decode between text and token ids.
struct Vocab {
  std::vector<unsigned char> bytes;  // id -> byte
  std::vector<int64_t> ids;          // byte -> id, -1 for bytes not seen
  explicit Vocab(const std::string& text);
  int64_t size() const { return static_cast<int64_t>(bytes.size()); }
  std::vector<int64_t> encode(const std::string& text) const;  // unknown bytes: an Error
  std::string decode(const std::vector<int64_t>& tokens) const;
};

// Windows of `context` + 1 tokens: sample i is (x, y) = (tokens[s, s+T), tokens[s+1, s+T+1))
// with s drawn from (seed, i), so every epoch and every worker sees the same windows for an
// index and no shared generator is touched.
class Windows : public Dataset {
 public:
  Windows(std::shared_ptr<const std::vector<int64_t>> tokens, int64_t context, int64_t count,
          uint64_t seed);
  int64_t size() const override { return count_; }
  Batch get(int64_t index) const override { return get_batch({index}); }
  Batch get_batch(const std::vector<int64_t>& indices) const override;

 private:
  std::shared_ptr<const std::vector<int64_t>> tokens_;
  int64_t context_, count_;
  uint64_t seed_;
};

}  // namespace char_lm
