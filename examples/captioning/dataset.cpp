#include "dataset.h"

#include <array>
#include <cmath>

#include "tensor/philox.h"

namespace captioning {

namespace {
constexpr std::array<const char*, 6> kColours = {"red",    "green",   "blue",
                                                 "yellow", "magenta", "cyan"};
constexpr std::array<std::array<float, 3>, 6> kRgb = {{{0.9f, 0.1f, 0.1f},
                                                       {0.1f, 0.9f, 0.1f},
                                                       {0.1f, 0.1f, 0.9f},
                                                       {0.9f, 0.9f, 0.1f},
                                                       {0.9f, 0.1f, 0.9f},
                                                       {0.1f, 0.9f, 0.9f}}};
constexpr std::array<const char*, 4> kShapes = {"circle", "square", "triangle", "cross"};
constexpr std::array<const char*, 3> kRows = {"top", "middle", "bottom"};
constexpr std::array<const char*, 3> kColumns = {"left", "center", "right"};
constexpr int64_t kSize = 32, kCell = 10, kMargin = 1;

// Whether pixel (y, x) of a cell (0..9 each, centre 4.5) belongs to the shape.
bool inside(int shape, int64_t y, int64_t x) {
  const double dy = static_cast<double>(y) - 4.5, dx = static_cast<double>(x) - 4.5;
  switch (shape) {
    case 0: return dy * dy + dx * dx <= 4.2 * 4.2;              // circle
    case 1: return std::abs(dy) <= 3.6 && std::abs(dx) <= 3.6;  // square
    case 2:
      return y >= 1 && y <= 8 &&
             std::abs(dx) <= (static_cast<double>(y) - 0.5) * 0.55;  // triangle, apex up
    default:
      return (std::abs(dy) <= 1.1 && std::abs(dx) <= 4.1) ||
             (std::abs(dx) <= 1.1 && std::abs(dy) <= 4.1);  // cross
  }
}
}  // namespace

const Vocabulary& vocabulary() {
  static const Vocabulary v = [] {
    Vocabulary voc{{"<pad>", "<bos>", "<eos>"}};
    for (auto* w : kColours) voc.tokens.emplace_back(w);
    for (auto* w : kShapes) voc.tokens.emplace_back(w);
    for (auto* w : kRows) voc.tokens.emplace_back(w);
    for (auto* w : kColumns) voc.tokens.emplace_back(w);
    return voc;
  }();
  return v;
}

int64_t Vocabulary::id(const std::string& word) const {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] == word) return static_cast<int64_t>(i);
  fail<ValueError>("Vocabulary", "unknown word '", word, "'");
}

std::string Vocabulary::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (!out.empty()) out += " ";
    out += id >= 0 && id < size() ? tokens[static_cast<size_t>(id)] : "<?>";
  }
  return out;
}

std::shared_ptr<TensorDataset> make_split(int64_t n, uint64_t seed) {
  const Vocabulary& voc = vocabulary();
  std::vector<float> images(static_cast<size_t>(n * 3 * kSize * kSize));
  std::vector<int64_t> text, target;
  for (int64_t i = 0; i < n; ++i) {
    // Sample i's choices from one Philox draw; its noise from a second stream.
    const philox::U32x4 r = philox::draw(seed, 0, static_cast<uint64_t>(i));
    const int colour = static_cast<int>(r.v[0] % kColours.size()),
              shape = static_cast<int>(r.v[1] % kShapes.size());
    const int row = static_cast<int>(r.v[2] % 3), col = static_cast<int>(r.v[3] % 3);
    float* img = images.data() + i * 3 * kSize * kSize;
    for (int64_t p = 0; p < 3 * kSize * kSize; ++p) {
      // Background noise, N(0, 0.05).
      img[p] = static_cast<float>(0.05 *
                                  philox::normal_f64(philox::draw(
                                      seed, 1, static_cast<uint64_t>(i * 3 * kSize * kSize + p))));
    }
    const int64_t y0 = kMargin + row * kCell, x0 = kMargin + col * kCell;
    for (int64_t y = 0; y < kCell; ++y)
      for (int64_t x = 0; x < kCell; ++x)
        if (inside(shape, y, x))
          for (int64_t c = 0; c < 3; ++c)
            img[(c * kSize + y0 + y) * kSize + x0 + x] +=
                kRgb[static_cast<size_t>(colour)][static_cast<size_t>(c)];
    const std::array<int64_t, kCaptionLength> caption = {
        kBos,
        voc.id(kColours[static_cast<size_t>(colour)]),
        voc.id(kShapes[static_cast<size_t>(shape)]),
        voc.id(kRows[static_cast<size_t>(row)]),
        voc.id(kColumns[static_cast<size_t>(col)]),
        kEos};
    text.insert(text.end(), caption.begin(), caption.end() - 1);
    target.insert(target.end(), caption.begin() + 1, caption.end());
  }
  return std::make_shared<TensorDataset>(std::vector<Tensor>{
      from_vector(images, {n, 3, kSize, kSize}), from_vector(text, {n, kCaptionLength - 1}),
      from_vector(target, {n, kCaptionLength - 1})});
}

}  // namespace captioning
