// examples/fashion_mnist's data: a missing data set names its package; the augmentation
// keeps shapes, is a pure function of (seed, indices), and each output is a flipped or
// unflipped window of the padded image.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fashion_mnist/data.h"

namespace fmnist {
namespace {

using namespace ember;
using ::testing::HasSubstr;

TEST(FashionMnistData, MissingDataSetNamesThePackage) {
  try {
    load_split("/nonexistent/fashion-mnist", true);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/fashion-mnist"));
    EXPECT_THAT(e.what(), HasSubstr("apt-get install dataset-fashion-mnist"));
  }
}

TEST(FashionMnistData, AugmentIdentityAndMirror) {
  manual_seed(4);
  Tensor x = randn({3, 1, 5, 6});
  EXPECT_TRUE(equal(augment_batch(x, {.padding = 0, .flip_p = 0.0}, 7), x));
  Tensor m = augment_batch(x, {.padding = 0, .flip_p = 1.0}, 7);
  Tensor want = x.index_select(3, from_vector<int64_t>({5, 4, 3, 2, 1, 0}));
  EXPECT_TRUE(equal(m, want));
}

TEST(FashionMnistData, EachCropIsAWindowOfThePaddedImage) {
  manual_seed(5);
  const int64_t p = 2;
  Tensor x = rand({16, 1, 4, 4}) + 1.0;  // > 0, so padding (value -1) is told apart
  AugmentOptions o{.padding = p, .pad_value = -1.0, .flip_p = 0.0, .seed = 3};
  Tensor y = augment_batch(x, o, 11);  // (16, 1, 4, 4)
  ASSERT_EQ(y.sizes(), x.sizes());
  EXPECT_TRUE(equal(y, augment_batch(x, o, 11)));   // reproducible
  EXPECT_FALSE(equal(y, augment_batch(x, o, 12)));  // another stream, other crops
  int shifted = 0;
  for (int64_t i = 0; i < 16; ++i) {
    Tensor img = x.select(0, i).select(0, 0), out = y.select(0, i).select(0, 0);  // (4, 4)
    bool found = false;
    for (int64_t dy = 0; dy <= 2 * p && !found; ++dy)
      for (int64_t dx = 0; dx <= 2 * p && !found; ++dx) {
        bool match = true;
        for (int64_t r = 0; r < 4 && match; ++r)
          for (int64_t c = 0; c < 4 && match; ++c) {
            int64_t sr = r + dy - p, sc = c + dx - p;
            double want = (sr < 0 || sr >= 4 || sc < 0 || sc >= 4)
                              ? -1.0
                              : img.select(0, sr).select(0, sc).item<double>();
            match = out.select(0, r).select(0, c).item<double>() == want;
          }
        if (match) {
          found = true;
          shifted += (dy != p || dx != p);
        }
      }
    EXPECT_TRUE(found) << "image " << i << " is no window of its padded self";
  }
  EXPECT_GT(shifted, 8);  // 24 of 25 offsets move the image
}

}  // namespace
}  // namespace fmnist
