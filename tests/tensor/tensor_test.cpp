// The Tensor handle: factories, metadata, copies and conversions, item, from_blob,
// version counters and storage lifetime.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ember/ember.h"

namespace ember {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

// ---- factories ------------------------------------------------------------------------------

TEST(Factories, ZerosOnesFullEmpty) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.sizes(), (Shape{2, 3}));
  EXPECT_EQ(z.dtype(), DType::f32);
  EXPECT_EQ(z.device(), Device::cpu());
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dim(), 2);
  EXPECT_THAT(z.to_vector<float>(), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_THAT(ones({3}, {.dtype = DType::f64}).to_vector<double>(), ElementsAre(1, 1, 1));
  EXPECT_THAT(full({2, 2}, 7.5).to_vector<float>(), ElementsAre(7.5, 7.5, 7.5, 7.5));
  Tensor fi = full({3}, 4, {.dtype = DType::i64});
  EXPECT_EQ(fi.dtype(), DType::i64);
  EXPECT_THAT(fi.to_vector<int64_t>(), ElementsAre(4, 4, 4));
  Tensor e = empty({4, 0, 2}, {.dtype = DType::b8});
  EXPECT_EQ(e.sizes(), (Shape{4, 0, 2}));
  EXPECT_EQ(e.numel(), 0);
  EXPECT_EQ(e.dtype(), DType::b8);
  Tensor s = scalar_tensor(2.5);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.item<double>(), 2.5);
  EXPECT_EQ(scalar_tensor(3).dtype(), DType::i64);
  EXPECT_EQ(scalar_tensor(true).dtype(), DType::b8);
}

TEST(Factories, LikeFactoriesKeepShapeAndDType) {
  Tensor x = ones({2, 3}, {.dtype = DType::f64});
  for (const Tensor& t : {zeros_like(x), ones_like(x), full_like(x, 2.0), empty_like(x),
                          rand_like(x), randn_like(x)}) {
    EXPECT_EQ(t.sizes(), x.sizes());
    EXPECT_EQ(t.dtype(), DType::f64);
    EXPECT_FALSE(t.storage() == x.storage());
  }
  EXPECT_THAT(full_like(x, 2.0).to_vector<double>(), ElementsAre(2, 2, 2, 2, 2, 2));
}

TEST(Factories, Arange) {
  Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), DType::i64);  // integer arguments give i64, as in PyTorch
  EXPECT_THAT(a.to_vector<int64_t>(), ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(arange(1, 10, 3).to_vector<int64_t>(), ElementsAre(1, 4, 7));
  EXPECT_THAT(arange(5, 0, -2).to_vector<int64_t>(), ElementsAre(5, 3, 1));
  Tensor f = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(f.dtype(), DType::f32);
  EXPECT_THAT(f.to_vector<float>(), ElementsAre(0.0f, 0.25f, 0.5f, 0.75f));
  EXPECT_THAT(arange(0, 2.5, 1).to_vector<float>(), ElementsAre(0.f, 1.f, 2.f));
  EXPECT_THAT(arange(3, {.dtype = DType::f64}).to_vector<double>(), ElementsAre(0.0, 1.0, 2.0));
  EXPECT_EQ(arange(3, 3).numel(), 0);
}

TEST(Factories, Linspace) {
  EXPECT_THAT(linspace(0, 1, 5).to_vector<float>(), ElementsAre(0.f, 0.25f, 0.5f, 0.75f, 1.f));
  EXPECT_THAT(linspace(-1, 1, 3, {.dtype = DType::f64}).to_vector<double>(),
              ElementsAre(-1.0, 0.0, 1.0));
  EXPECT_THAT(linspace(2, 5, 1).to_vector<float>(), ElementsAre(2.f));
  EXPECT_EQ(linspace(0, 1, 0).numel(), 0);
  // The last value is exactly `end` even when the step is not representable.
  std::vector<double> v = linspace(0, 1, 7, {.dtype = DType::f64}).to_vector<double>();
  EXPECT_EQ(v.back(), 1.0);
  EXPECT_NEAR(v[3], 0.5, 1e-15);
}

TEST(Factories, Eye) {
  EXPECT_THAT(eye(3).to_vector<float>(), ElementsAre(1, 0, 0, 0, 1, 0, 0, 0, 1));
  Tensor r = eye(2, 3);
  EXPECT_EQ(r.sizes(), (Shape{2, 3}));
  EXPECT_THAT(r.to_vector<float>(), ElementsAre(1, 0, 0, 0, 1, 0));
  EXPECT_THAT(eye(3, 2, {.dtype = DType::i64}).to_vector<int64_t>(), ElementsAre(1, 0, 0, 1, 0, 0));
  EXPECT_EQ(eye(0).numel(), 0);
}

TEST(Factories, FromVector) {
  Tensor t = from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(t.dtype(), DType::f64);
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_THAT(t.to_vector<double>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(from_vector<int64_t>({1, 2}).dtype(), DType::i64);
  EXPECT_EQ(from_vector<float>({1, 2}).dtype(), DType::f32);
  Tensor b = from_vector<bool>({true, false, true});
  EXPECT_EQ(b.dtype(), DType::b8);
  EXPECT_THAT(b.to_vector<bool>(), ElementsAre(true, false, true));
  EXPECT_EQ(from_vector<float>({7.f}, Shape{}).dim(), 0);
}

TEST(Factories, RequiresGradOption) {
  Tensor t = zeros({2}, {.dtype = DType::f32, .device = Device::cpu(), .requires_grad = true});
  EXPECT_TRUE(t.requires_grad());
  EXPECT_TRUE(t.is_leaf());
  EXPECT_FALSE(zeros({2}).requires_grad());
}

// ---- metadata ---------------------------------------------------------------------------------

TEST(Metadata, SizesStridesAndNegativeDims) {
  Tensor x = zeros({2, 3, 4});
  EXPECT_EQ(x.strides(), (Strides{12, 4, 1}));
  EXPECT_EQ(x.size(-1), 4);
  EXPECT_EQ(x.size(0), 2);
  EXPECT_EQ(x.stride(-2), 4);
  EXPECT_EQ(x.storage_offset(), 0);
  EXPECT_TRUE(x.is_contiguous());
  EXPECT_EQ(x.element_size(), 4u);
  EXPECT_EQ(zeros({2}, {.dtype = DType::f64}).element_size(), 8u);
  EXPECT_EQ(zeros({2}, {.dtype = DType::b8}).element_size(), 1u);
  EXPECT_TRUE(x.is_floating_point());
  EXPECT_FALSE(zeros({1}, {.dtype = DType::i64}).is_floating_point());
  TensorOptions o = zeros({1}, {.dtype = DType::f64}).options();
  EXPECT_EQ(o.dtype, DType::f64);
  EXPECT_EQ(o.device, Device::cpu());
  Tensor s = scalar_tensor(1.0);
  EXPECT_EQ(s.strides(), Strides{});
  EXPECT_TRUE(s.is_contiguous());
  // A tensor without elements is contiguous whatever its strides (as in PyTorch).
  EXPECT_TRUE(empty({3, 0}).is_contiguous());
  EXPECT_TRUE(empty({0, 4, 2}).is_contiguous());
  EXPECT_TRUE(zeros({3, 4}).slice(1, 2, 2).is_contiguous());
}

TEST(Metadata, RawDataPointsAtElementZeroOfTheView) {
  Tensor x = arange(12, {.dtype = DType::f32}).view({3, 4});
  Tensor v = x.select(0, 1).slice(0, 2, 4);  // elements 6, 7
  EXPECT_EQ(v.storage_offset(), 6);
  EXPECT_EQ(v.raw_data(), static_cast<char*>(x.storage()->data()) + 6 * sizeof(float));
  EXPECT_EQ(*v.data_ptr<float>(), 6.0f);
}

// ---- copies and conversions -----------------------------------------------------------------

TEST(Copies, ContiguousOfContiguousIsTheSameTensor) {
  Tensor x = randn({3, 4});
  EXPECT_TRUE(x.contiguous().is_same(x));
  Tensor t = x.t();
  Tensor c = t.contiguous();
  EXPECT_FALSE(c.storage() == x.storage());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.sizes(), (Shape{4, 3}));
  EXPECT_EQ(c.strides(), (Strides{3, 1}));
}

TEST(Copies, CloneIsIndependent) {
  Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor c = x.clone();
  EXPECT_FALSE(c.storage() == x.storage());
  c.fill_(9.0);
  EXPECT_THAT(x.to_vector<float>(), ElementsAre(1, 2, 3, 4));
  x.fill_(0.0);
  EXPECT_THAT(c.to_vector<float>(), ElementsAre(9, 9, 9, 9));
  // Cloning a view copies only the view, densely.
  Tensor big = arange(10, {.dtype = DType::f32});
  Tensor part = big.slice(0, 2, 8, 3).clone();  // 2, 5
  EXPECT_THAT(part.to_vector<float>(), ElementsAre(2, 5));
  EXPECT_EQ(part.storage_offset(), 0);
  EXPECT_TRUE(part.is_contiguous());
}

TEST(Copies, ToDTypeIsIndependentAndRoundsLikePyTorch) {
  Tensor x = from_vector<float>({-1.75f, -0.5f, 0.f, 0.5f, 2.9f});
  EXPECT_TRUE(x.to(DType::f32).is_same(x));
  Tensor i = x.to(DType::i64);
  EXPECT_EQ(i.dtype(), DType::i64);
  EXPECT_THAT(i.to_vector<int64_t>(), ElementsAre(-1, 0, 0, 0, 2));  // truncation
  Tensor b = x.to(DType::b8);
  EXPECT_THAT(b.to_vector<bool>(), ElementsAre(true, true, false, true, true));
  Tensor d = x.to(DType::f64);
  d.fill_(3.0);
  EXPECT_THAT(x.to_vector<float>(), ElementsAre(-1.75f, -0.5f, 0.f, 0.5f, 2.9f));
  EXPECT_THAT(from_vector<bool>({true, false}).to(DType::f32).to_vector<float>(),
              ElementsAre(1.f, 0.f));
  EXPECT_TRUE(x.to(Device::cpu()).is_same(x));
}

TEST(Copies, CopyCastsAndBroadcasts) {
  Tensor dst = zeros({2, 3}, {.dtype = DType::f64});
  dst.copy_(from_vector<int64_t>({1, 2, 3}));
  EXPECT_THAT(dst.to_vector<double>(), ElementsAre(1, 2, 3, 1, 2, 3));
  dst.copy_(scalar_tensor(0.5));
  EXPECT_THAT(dst.to_vector<double>(), ElementsAre(0.5, 0.5, 0.5, 0.5, 0.5, 0.5));
}

TEST(Copies, DetachSharesStorageWithoutHistory) {
  Tensor x = randn({3}, {.dtype = DType::f32, .device = Device::cpu(), .requires_grad = true});
  Tensor d = x.detach();
  EXPECT_TRUE(d.storage() == x.storage());
  EXPECT_FALSE(d.requires_grad());
}

// ---- item and to_vector ------------------------------------------------------------------------

TEST(Item, ConvertsTheSingleElement) {
  EXPECT_EQ(scalar_tensor(2.5).item<float>(), 2.5f);
  EXPECT_EQ(full({1, 1}, 7, {.dtype = DType::i64}).item<int64_t>(), 7);
  EXPECT_EQ(full({1}, 7, {.dtype = DType::i64}).item<double>(), 7.0);
  EXPECT_EQ(scalar_tensor(-3.75).item<int64_t>(), -3);
  EXPECT_TRUE(from_vector<bool>({true}).item<bool>());
  // item of a one-element view reads the right element.
  Tensor x = from_vector<float>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(x.select(0, 1).select(0, 0).item<float>(), 3.0f);
}

TEST(Item, ToVectorOfViewsIsRowMajor) {
  Tensor x = from_vector<int64_t>({0, 1, 2, 3, 4, 5}, {2, 3});
  EXPECT_THAT(x.t().to_vector<int64_t>(), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_THAT(x.to_vector<double>(), ElementsAre(0, 1, 2, 3, 4, 5));
}

// ---- from_blob
// ------------------------------------------------------------------------------------

TEST(FromBlob, AliasesCallerMemory) {
  std::vector<float> buf = {1, 2, 3, 4, 5, 6};
  Tensor t = from_blob(buf.data(), {2, 3}, DType::f32);
  EXPECT_EQ(t.raw_data(), buf.data());
  EXPECT_THAT(t.to_vector<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  buf[4] = 50;
  EXPECT_EQ(t.select(0, 1).select(0, 1).item<float>(), 50.f);
  t.fill_(-1.0);
  EXPECT_THAT(buf, ElementsAre(-1, -1, -1, -1, -1, -1));
  t.select(1, 0).fill_(8.0);  // a strided write lands in the caller's buffer
  EXPECT_THAT(buf, ElementsAre(8, -1, -1, 8, -1, -1));
}

TEST(FromBlob, StridedAndDeleterRunsWhenLastTensorDies) {
  std::vector<double> buf = {0, 1, 2, 3, 4, 5};
  int deleted = 0;
  {
    Tensor t = from_blob(buf.data(), {3, 2}, {1, 3}, DType::f64, [&](void* p) {
      EXPECT_EQ(p, buf.data());
      ++deleted;
    });
    EXPECT_THAT(t.to_vector<double>(), ElementsAre(0, 3, 1, 4, 2, 5));
    Tensor view = t.select(1, 1);
    t = Tensor();
    EXPECT_EQ(deleted, 0) << "a view still uses the memory";
    EXPECT_THAT(view.to_vector<double>(), ElementsAre(3, 4, 5));
  }
  EXPECT_EQ(deleted, 1);
}

// ---- version counter ---------------------------------------------------------------------------

TEST(Version, InPlaceOpsBumpTheSharedCounter) {
  Tensor x = zeros({2, 3});
  Tensor v = x.select(0, 1);
  uint32_t v0 = x.version();
  x.fill_(1.0);
  uint32_t v1 = x.version();
  EXPECT_GT(v1, v0);
  EXPECT_EQ(v.version(), v1) << "views share the version counter";
  v.add_(ones({3}));
  EXPECT_GT(x.version(), v1);
  uint32_t before = x.version();
  x.mul_(2.0);
  x.add_(1.0);
  x.sub_(ones({2, 3}));
  x.div_(full({2, 3}, 2.0));
  x.mul_(ones({2, 3}));
  x.masked_fill_(ones({2, 3}, {.dtype = DType::b8}), 3.0);
  x.copy_(zeros({2, 3}));
  x.zero_();
  x.uniform_();
  x.normal_();
  EXPECT_GE(x.version(), before + 10);
  // Out-of-place ops and views do not bump it.
  uint32_t now = x.version();
  (void)(x + x);
  (void)x.t();
  (void)x.clone();
  EXPECT_EQ(x.version(), now);
}

// ---- storage lifetime ---------------------------------------------------------------------------

TEST(Storage, LiveCountReturnsToBaselineAfterTensorsDie) {
  int64_t count0 = Storage::live_count();
  int64_t bytes0 = Storage::live_bytes();
  {
    Tensor a = randn({64, 32});
    Tensor b = a.t();
    Tensor c = matmul(a, b);
    Tensor d = c.softmax(1).sum({0});
    std::vector<Tensor> parts = split(a, 10);
    EXPECT_GT(Storage::live_count(), count0);
    EXPECT_GE(Storage::live_bytes(), bytes0 + 64 * 32 * 4);
  }
  EXPECT_EQ(Storage::live_count(), count0);
  EXPECT_EQ(Storage::live_bytes(), bytes0);
}

TEST(Storage, ViewsKeepTheirStorageAlive) {
  int64_t count0 = Storage::live_count();
  Tensor v;
  {
    Tensor x = arange(6, {.dtype = DType::f32});
    v = x.slice(0, 3, 6);
  }
  EXPECT_EQ(Storage::live_count(), count0 + 1);
  EXPECT_THAT(v.to_vector<float>(), ElementsAre(3, 4, 5));
  v = Tensor();
  EXPECT_EQ(Storage::live_count(), count0);
}

// ---- equal / allclose
// ------------------------------------------------------------------------------

TEST(Compare, EqualAndAllclose) {
  Tensor a = from_vector<float>({1, 2, 3});
  EXPECT_TRUE(equal(a, from_vector<float>({1, 2, 3})));
  EXPECT_FALSE(equal(a, from_vector<float>({1, 2, 4})));
  EXPECT_FALSE(equal(a, from_vector<double>({1, 2, 3})));  // dtype differs
  EXPECT_FALSE(equal(a, from_vector<float>({1, 2, 3}, {3, 1})));
  EXPECT_TRUE(allclose(a, from_vector<float>({1, 2, 3.000001f})));
  EXPECT_FALSE(allclose(a, from_vector<float>({1, 2, 3.1f})));
  EXPECT_FALSE(allclose(from_vector<float>({NAN}), from_vector<float>({NAN})));
  EXPECT_TRUE(allclose(a, from_vector<double>({1, 2, 3})));
}

// ---- promotion
// --------------------------------------------------------------------------------------

TEST(Promotion, DTypeLattice) {
  EXPECT_EQ(promote_types(DType::b8, DType::i64), DType::i64);
  EXPECT_EQ(promote_types(DType::i64, DType::f32), DType::f32);
  EXPECT_EQ(promote_types(DType::f32, DType::f64), DType::f64);
  EXPECT_EQ(promote_types(DType::b8, DType::b8), DType::b8);
  EXPECT_EQ((ones({2}, {.dtype = DType::i64}) + 1.5).dtype(), DType::f32);
  EXPECT_EQ((ones({2}, {.dtype = DType::f64}) * 2).dtype(), DType::f64);
  EXPECT_EQ((ones({2}) / ones({2}, {.dtype = DType::f64})).dtype(), DType::f64);
  EXPECT_EQ(div(ones({2}, {.dtype = DType::i64}), ones({2}, {.dtype = DType::i64})).dtype(),
            DType::f32);
  EXPECT_EQ(sum(ones({2}, {.dtype = DType::b8})).dtype(), DType::i64);
  EXPECT_EQ(cat({ones({2}), ones({2}, {.dtype = DType::f64})}).dtype(), DType::f64);
  EXPECT_EQ(cat({ones({2}, {.dtype = DType::b8}), ones({2}, {.dtype = DType::i64})}).dtype(),
            DType::i64);
}

}  // namespace
}  // namespace ember
