// lr_find (Lightning's learning-rate range test) and the PNG writer behind its plot.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

#include "test_models.h"
#include "trainer/tuner/png.h"

#ifdef EMBER_TEST_HAVE_ZLIB
#include <zlib.h>
#endif

namespace trainer_test {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

uint32_t be32(const std::vector<uint8_t>& b, size_t at) {
  return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
         b[at + 3];
}

TEST(Png, ChunksAndPixelsDecode) {
  // 300 x 250 RGB: 225 KB of rows, so the image spans several stored deflate blocks.
  plot::Canvas c(300, 250);
  c.line(0, 0, 299, 249, {255, 0, 0});
  c.dot(150, 20, 3, {0, 0, 255});
  EXPECT_EQ(c.get(299, 249).r, 255);
  EXPECT_EQ(c.get(299, 249).g, 0);
  EXPECT_EQ(c.get(150, 20).b, 255);
  EXPECT_EQ(c.get(10, 200).g, 255);  // background
  const std::string path = temp_dir("png") + "/c.png";
  c.write_png(path);
  const std::vector<uint8_t> b = read_file(path);
  ASSERT_GT(b.size(), 33u);
  const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_TRUE(std::equal(sig, sig + 8, b.begin()));
  EXPECT_EQ(std::string(b.begin() + 12, b.begin() + 16), "IHDR");
  EXPECT_EQ(be32(b, 16), 300u);
  EXPECT_EQ(be32(b, 20), 250u);
  EXPECT_EQ(std::string(b.end() - 8, b.end() - 4), "IEND");
#ifdef EMBER_TEST_HAVE_ZLIB
  // zlib (an independent decoder) inflates the IDAT and checks its Adler-32; the chunk
  // CRCs are checked with zlib's crc32.
  size_t at = 8;
  std::vector<uint8_t> idat;
  while (at + 12 <= b.size()) {
    const uint32_t n = be32(b, at);
    const std::string type(b.begin() + static_cast<long>(at) + 4,
                           b.begin() + static_cast<long>(at) + 8);
    const uLong crc = crc32(0, b.data() + at + 4, n + 4);
    EXPECT_EQ(crc, be32(b, at + 8 + n)) << type;
    if (type == "IDAT")
      idat.insert(idat.end(), b.begin() + static_cast<long>(at) + 8,
                  b.begin() + static_cast<long>(at + 8 + n));
    at += 12 + n;
  }
  std::vector<uint8_t> raw(250 * (300 * 3 + 1));
  uLongf len = raw.size();
  ASSERT_EQ(uncompress(raw.data(), &len, idat.data(), idat.size()), Z_OK);
  ASSERT_EQ(len, raw.size());
  // Row 249 ends with the red line's last pixel; row 20 holds the blue dot's centre.
  const size_t stride = 300 * 3 + 1;
  EXPECT_EQ(raw[249 * stride], 0);  // filter byte
  EXPECT_EQ(raw[249 * stride + 1 + 299 * 3], 255);
  EXPECT_EQ(raw[249 * stride + 1 + 299 * 3 + 1], 0);
  EXPECT_EQ(raw[20 * stride + 1 + 150 * 3 + 2], 255);
  EXPECT_EQ(raw[20 * stride + 1 + 150 * 3], 0);
#endif
  EXPECT_THROW(plot::Canvas(0, 10), ValueError);
  EXPECT_THROW((void)c.get(300, 0), IndexError);
}

TEST(LRFinder, SuggestionIsTheSteepestDescent) {
  // loss(lr) = 1 for lr < 1e-3, then falls steeply around lr = 1e-2, then rises: on an
  // uneven (geometric) grid the central differences must find the fall.
  LRFinderResult r;
  r.mode = "exponential";
  for (int i = 0; i < 60; ++i) {
    const double lr = 1e-5 * std::pow(10.0, i / 10.0);
    r.lr.push_back(lr);
    r.loss.push_back(1.0 - 0.8 / (1.0 + std::exp(-(std::log10(lr) + 2) * 4)) + lr);
  }
  const std::optional<double> s = r.suggestion();
  ASSERT_TRUE(s);
  // The most negative d loss / d lr (per unit lr, not per decade): compute it by hand.
  double best = 0, best_g = 1e300;
  for (size_t i = 11; i + 2 < r.lr.size(); ++i) {
    const double hl = r.lr[i] - r.lr[i - 1], hr = r.lr[i + 1] - r.lr[i];
    const double g =
        (hl * hl * r.loss[i + 1] - hr * hr * r.loss[i - 1] + (hr * hr - hl * hl) * r.loss[i]) /
        (hl * hr * (hl + hr));
    if (g < best_g) best_g = g, best = r.lr[i];
  }
  EXPECT_DOUBLE_EQ(*s, best);
  EXPECT_GT(*s, 1e-3);
  EXPECT_LT(*s, 1e-1);
  // Too few points: no suggestion.
  LRFinderResult few;
  few.lr = {1e-3, 1e-2, 1e-1};
  few.loss = {1, 0.5, 0.25};
  EXPECT_FALSE(few.suggestion());
  EXPECT_TRUE(few.suggestion(0, 0));
}

TEST(LRFinder, RunsRestoresTheWeightsAndPlots) {
  DataLoader loader(regression_data(256), {.batch_size = 8, .shuffle = true});
  Regressor model;
  const Tensor before = model.linear->weight.clone();
  Trainer trainer(quiet({.max_epochs = 3, .logger = false}));
  const LRFinderResult r =
      lr_find(trainer, model, loader, {.min_lr = 1e-5, .max_lr = 10.0, .num_training = 60});
  // Exponential growth from min_lr, Lightning's grid: step k >= 1 at (k + 1) / N.
  ASSERT_GE(r.lr.size(), 10u);
  EXPECT_EQ(r.lr.size(), r.loss.size());
  EXPECT_DOUBLE_EQ(r.lr[0], 1e-5);
  EXPECT_NEAR(r.lr[5], 1e-5 * std::pow(1e6, 6.0 / 60), 1e-15);
  // At lr = 10 SGD with momentum diverges on this problem: the early stop cuts the run.
  EXPECT_LT(r.lr.size(), 60u);
  EXPECT_TRUE(equal(model.linear->weight, before));
  EXPECT_EQ(trainer.global_step(), 0);  // the caller's trainer did not train
  const std::optional<double> s = r.suggestion();
  ASSERT_TRUE(s);
  EXPECT_GT(*s, 1e-5);
  EXPECT_LT(*s, 10.0);
  const std::string path = temp_dir("lr_find") + "/lr_find.png";
  r.plot(path);
  const std::vector<uint8_t> b = read_file(path);
  ASSERT_GT(b.size(), 8u);
  EXPECT_EQ(b[1], 'P');
  EXPECT_THROW(lr_find(trainer, model, loader, {.min_lr = 1.0, .max_lr = 0.1}), ValueError);
  EXPECT_THROW(lr_find(trainer, model, loader, {.mode = "cubic"}), ValueError);
}

}  // namespace
}  // namespace trainer_test
