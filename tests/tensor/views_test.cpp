// Views share storage and have PyTorch's sizes, strides and offsets; writes through a
// view land in the base. (Values read through views are also checked by the registry's
// "view" cases.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ember/ember.h"

namespace ember {
namespace {

using ::testing::ElementsAre;

// A (2, 3, 4) tensor holding 0..23.
Tensor base234() { return arange(24, {.dtype = DType::f32}).view({2, 3, 4}); }

void expect_geometry(const Tensor& v, const Tensor& base, const Shape& sizes,
                     const Strides& strides, int64_t offset) {
  EXPECT_TRUE(v.storage() == base.storage()) << "a view shares its base's storage";
  EXPECT_EQ(v.sizes(), sizes);
  // The stride of a size-1 dim never moves to another element, so any value is right
  // (PyTorch's own choice varies by op); compare the others.
  ASSERT_EQ(v.strides().size(), strides.size());
  for (size_t d = 0; d < strides.size(); ++d) {
    if (sizes[d] != 1) {
      EXPECT_EQ(v.strides()[d], strides[d]) << "stride of dim " << d;
    }
  }
  EXPECT_EQ(v.storage_offset(), offset);
}

TEST(Views, View) {
  Tensor x = base234();
  expect_geometry(x.view({6, 4}), x, {6, 4}, {4, 1}, 0);
  expect_geometry(x.view({-1}), x, {24}, {1}, 0);
  expect_geometry(x.view({4, -1, 2}), x, {4, 3, 2}, {6, 2, 1}, 0);
  expect_geometry(x.view({2, 1, 12}), x, {2, 1, 12}, {12, 12, 1}, 0);
  // Splitting a dim of a non-contiguous tensor is still a view when strides allow it.
  Tensor t = x.transpose(0, 1);  // (3, 2, 4), strides (4, 12, 1)
  expect_geometry(t.view({3, 2, 2, 2}), x, {3, 2, 2, 2}, {4, 12, 2, 1}, 0);
  Tensor s = scalar_tensor(5.0);
  expect_geometry(s.view({1, 1}), s, {1, 1}, {1, 1}, 0);
  expect_geometry(x.view({1, 24}).view({24}), x, {24}, {1}, 0);
}

TEST(Views, ReshapeIsAViewWhenPossibleElseACopy) {
  Tensor x = base234();
  Tensor r = x.reshape({4, 6});
  expect_geometry(r, x, {4, 6}, {6, 1}, 0);
  Tensor t = x.transpose(1, 2);  // (2, 4, 3)
  Tensor c = t.reshape({24});
  EXPECT_FALSE(c.storage() == x.storage()) << "flattening a transposed tensor copies";
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_THAT(c.slice(0, 0, 6).to_vector<float>(), ElementsAre(0, 4, 8, 1, 5, 9));
  EXPECT_EQ(x.reshape({-1, 8}).sizes(), (Shape{3, 8}));
}

TEST(Views, TransposeAndT) {
  Tensor x = base234();
  expect_geometry(x.transpose(0, 2), x, {4, 3, 2}, {1, 4, 12}, 0);
  expect_geometry(x.transpose(-1, -2), x, {2, 4, 3}, {12, 1, 4}, 0);
  expect_geometry(x.transpose(1, 1), x, {2, 3, 4}, {12, 4, 1}, 0);
  Tensor m = x.select(0, 1);  // (3, 4), offset 12
  expect_geometry(m.t(), x, {4, 3}, {1, 4}, 12);
  Tensor v = arange(3, {.dtype = DType::f32});
  expect_geometry(v.t(), v, {3}, {1}, 0);
  EXPECT_FALSE(x.transpose(0, 1).is_contiguous());
}

TEST(Views, Permute) {
  Tensor x = base234();
  expect_geometry(x.permute({2, 0, 1}), x, {4, 2, 3}, {1, 12, 4}, 0);
  expect_geometry(x.permute({-1, -3, -2}), x, {4, 2, 3}, {1, 12, 4}, 0);
  expect_geometry(x.permute({0, 1, 2}), x, {2, 3, 4}, {12, 4, 1}, 0);
}

TEST(Views, SliceWithStep) {
  Tensor x = base234();
  expect_geometry(x.slice(2, 1, 4, 2), x, {2, 3, 2}, {12, 4, 2}, 1);
  expect_geometry(x.slice(1, 1, 3), x, {2, 2, 4}, {12, 4, 1}, 4);
  expect_geometry(x.slice(0, 1, 2).slice(2, 0, 4, 3), x, {1, 3, 2}, {12, 4, 3}, 12);
  expect_geometry(x.slice(-1, -3, -1), x, {2, 3, 2}, {12, 4, 1}, 1);
  expect_geometry(x.slice(1, 2, 100), x, {2, 1, 4}, {12, 4, 1}, 8);  // end clamps
  expect_geometry(x.slice(1, 3, 3), x, {2, 0, 4}, {12, 4, 1}, 12);   // empty
  Tensor s = x.slice(2, 0, 4, 3);                                    // columns 0 and 3
  EXPECT_THAT(s.select(0, 0).to_vector<float>(), ElementsAre(0, 3, 4, 7, 8, 11));
}

TEST(Views, NarrowAndSelect) {
  Tensor x = base234();
  expect_geometry(x.narrow(1, 1, 2), x, {2, 2, 4}, {12, 4, 1}, 4);
  expect_geometry(x.narrow(-1, 3, 1), x, {2, 3, 1}, {12, 4, 1}, 3);
  expect_geometry(x.select(1, 2), x, {2, 4}, {12, 1}, 8);
  expect_geometry(x.select(0, -1), x, {3, 4}, {4, 1}, 12);
  expect_geometry(x.select(2, 3), x, {2, 3}, {12, 4}, 3);
  Tensor e = x.select(0, 1).select(0, 2).select(0, 3);  // element (1, 2, 3) = 23
  EXPECT_EQ(e.dim(), 0);
  EXPECT_EQ(e.storage_offset(), 23);
  EXPECT_EQ(e.item<float>(), 23.f);
}

TEST(Views, UnsqueezeAndSqueeze) {
  Tensor x = base234();
  expect_geometry(x.unsqueeze(0), x, {1, 2, 3, 4}, {24, 12, 4, 1}, 0);
  expect_geometry(x.unsqueeze(3), x, {2, 3, 4, 1}, {12, 4, 1, 1}, 0);
  expect_geometry(x.unsqueeze(-1), x, {2, 3, 4, 1}, {12, 4, 1, 1}, 0);
  expect_geometry(x.unsqueeze(1), x, {2, 1, 3, 4}, {12, 4, 4, 1}, 0);
  Tensor s = scalar_tensor(1.0);
  expect_geometry(s.unsqueeze(0), s, {1}, {1}, 0);
  Tensor y = x.view({2, 1, 12, 1});
  expect_geometry(y.squeeze(), x, {2, 12}, {12, 1}, 0);
  expect_geometry(y.squeeze(1), x, {2, 12, 1}, {12, 1, 1}, 0);
  expect_geometry(y.squeeze(-1), x, {2, 1, 12}, {12, 12, 1}, 0);
  expect_geometry(y.squeeze(0), x, {2, 1, 12, 1}, {12, 12, 1, 1}, 0);  // size 2: no-op
  expect_geometry(x.slice(0, 1, 2).slice(1, 2, 3).slice(2, 3, 4).squeeze(), x, {}, {}, 23);
  EXPECT_TRUE(x.unsqueeze(1).is_contiguous());
  EXPECT_TRUE(x.unsqueeze(3).is_contiguous());
}

TEST(Views, ExpandUsesStrideZero) {
  Tensor r = arange(3, {.dtype = DType::f32}).view({3, 1});
  expect_geometry(r.expand({3, 4}), r, {3, 4}, {1, 0}, 0);
  expect_geometry(r.expand({2, 3, 4}), r, {2, 3, 4}, {0, 1, 0}, 0);
  expect_geometry(r.expand({-1, 5}), r, {3, 5}, {1, 0}, 0);
  expect_geometry(r.expand({3, 1}), r, {3, 1}, {1, 1}, 0);
  Tensor s = scalar_tensor(2.0);
  expect_geometry(s.expand({2, 2}), s, {2, 2}, {0, 0}, 0);
  EXPECT_THAT(r.expand({3, 2}).to_vector<float>(), ElementsAre(0, 0, 1, 1, 2, 2));
  Tensor other = zeros({3, 4});
  EXPECT_EQ(r.expand_as(other).sizes(), (Shape{3, 4}));
}

TEST(Views, Flatten) {
  Tensor x = base234();
  expect_geometry(x.flatten(), x, {24}, {1}, 0);
  expect_geometry(x.flatten(1), x, {2, 12}, {12, 1}, 0);
  expect_geometry(x.flatten(0, 1), x, {6, 4}, {4, 1}, 0);
  expect_geometry(x.flatten(1, 1), x, {2, 3, 4}, {12, 4, 1}, 0);
  Tensor s = scalar_tensor(3.0);
  EXPECT_EQ(s.flatten().sizes(), (Shape{1}));
  Tensor t = x.transpose(0, 2);  // (4, 3, 2): flattening copies
  Tensor f = t.flatten();
  EXPECT_EQ(f.sizes(), (Shape{24}));
  EXPECT_THAT(f.slice(0, 0, 4).to_vector<float>(), ElementsAre(0, 12, 4, 16));
}

TEST(Views, WritesThroughViewsReachTheBase) {
  Tensor x = zeros({3, 4});
  x.select(0, 1).fill_(1.0);
  x.slice(1, 0, 4, 3).fill_(2.0);                             // columns 0 and 3
  x.t().select(0, 2).add_(full({3}, 10.0));                   // column 2
  x.view({12}).narrow(0, 11, 1).mul_(-1.0);                   // last element
  EXPECT_THAT(x.to_vector<float>(), ElementsAre(2, 0, 10, 2,  //
                                                2, 1, 11, 2,  //
                                                2, 0, 10, -2));
  Tensor u = x.unsqueeze(0);
  u.zero_();
  EXPECT_THAT(x.to_vector<float>(), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
}

TEST(Views, SplitAndChunkReturnViews) {
  Tensor x = base234();
  std::vector<Tensor> parts = x.split(2, 2);
  ASSERT_EQ(parts.size(), 2u);
  expect_geometry(parts[1], x, {2, 3, 2}, {12, 4, 1}, 2);
  std::vector<Tensor> chunks = chunk(x, 3, 1);
  ASSERT_EQ(chunks.size(), 3u);
  expect_geometry(chunks[2], x, {2, 1, 4}, {12, 4, 1}, 8);
}

TEST(Views, ViewsOfViewsComposeOffsets) {
  Tensor x = arange(60, {.dtype = DType::f32}).view({3, 4, 5});
  Tensor v = x.select(0, 2).t().slice(0, 1, 5, 2).narrow(1, 1, 2);
  // x[2] is (4, 5) at offset 40; .t() is (5, 4) strides (1, 5); rows 1 and 3; columns 1..2.
  expect_geometry(v, x, {2, 2}, {2, 5}, 40 + 1 + 5);
  EXPECT_THAT(v.to_vector<float>(), ElementsAre(46, 51, 48, 53));
}

}  // namespace
}  // namespace ember
