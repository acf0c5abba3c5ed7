// The main job's data: procedurally generated 32x32 RGB images of one coloured shape in
// one cell of a 3x3 grid, captioned "<bos> red circle top left <eos>".
//
// Everything is drawn from Philox streams keyed by the split's seed (not the global
// generator), so a split is a pure function of (size, seed) and a run's data does not
// depend on what else drew random numbers before it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace captioning {

using namespace ember;

struct Vocabulary {
  std::vector<std::string> tokens;  // id -> word
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
  int64_t id(const std::string& word) const;                  // throws for an unknown word
  std::string decode(const std::vector<int64_t>& ids) const;  // words joined by spaces
};

// <pad> <bos> <eos>, 6 colours, 4 shapes, 3 rows, 3 columns: 19 tokens.
const Vocabulary& vocabulary();
inline constexpr int64_t kBos = 1, kEos = 2;
inline constexpr int64_t kCaptionLength = 6;  // <bos> colour shape row column <eos>

// A split: images (N, 3, 32, 32) f32, text (N, 5) i64 (the caption without <eos>) and
// target (N, 5) i64 (the caption without <bos>): teacher forcing's next tokens.
std::shared_ptr<TensorDataset> make_split(int64_t size, uint64_t seed);

}  // namespace captioning
