// The one dispatch rule (tensor/dispatch.h): a device without an optional primitive runs
// the cpu kernels, says so once per (op, device) on stderr, and leaves a profiler event.
#include <gtest/gtest.h>

#include <string>

#include <ember/ember.h>

#include "tensor/dispatch.h"
#include "tensor/raw.h"

namespace ember {
namespace {

// A `sim` stand-in: host memory, the cpu backend's required primitives, no optional ones
// (Backend::supports' default), so every optional primitive takes the fallback.
class HostBackendWithoutOptional final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::sim; }
  void* allocate(size_t n) override { return cpu().allocate(n); }
  void deallocate(void* p, size_t n) noexcept override { cpu().deallocate(p, n); }
  void copy_from_host(void* d, const void* s, size_t n) override { cpu().copy_from_host(d, s, n); }
  void copy_to_host(void* d, const void* s, size_t n) override { cpu().copy_to_host(d, s, n); }
  void copy(const Tensor& o, const Tensor& i) override { cpu().copy(o, i); }
  void fill(const Tensor& o, const Scalar& v) override { cpu().fill(o, v); }
  void unary(UnaryOp op, const Tensor& o, const Tensor& i, double a, double a2) override {
    cpu().unary(op, o, i, a, a2);
  }
  void binary(BinaryOp op, const Tensor& o, const Tensor& a, const Tensor& b) override {
    cpu().binary(op, o, a, b);
  }
  void where(const Tensor& o, const Tensor& c, const Tensor& a, const Tensor& b) override {
    cpu().where(o, c, a, b);
  }
  void reduce(ReduceOp op, const Tensor& o, const Tensor& idx, const Tensor& i,
              int64_t corr) override {
    cpu().reduce(op, o, idx, i, corr);
  }
  void matmul(const Tensor& o, const Tensor& a, const Tensor& b) override { cpu().matmul(o, a, b); }
  void softmax(const Tensor& o, const Tensor& i, bool log) override { cpu().softmax(o, i, log); }
  void random(const Tensor& o, RandomDist d, uint64_t seed, uint64_t off, double a,
              double b) override {
    cpu().random(o, d, seed, off, a, b);
  }
  void index_select(const Tensor& o, const Tensor& i, int64_t dim, const Tensor& idx) override {
    cpu().index_select(o, i, dim, idx);
  }
  void gather(const Tensor& o, const Tensor& i, int64_t dim, const Tensor& idx) override {
    cpu().gather(o, i, dim, idx);
  }
  void scatter_add(const Tensor& o, int64_t dim, const Tensor& idx, const Tensor& s) override {
    cpu().scatter_add(o, dim, idx, s);
  }

 private:
  static Backend& cpu() { return backend(DeviceType::cpu); }
};

// Installs the stand-in as the `sim` backend for a scope and puts the real one back.
class WithoutOptionalPrimitives {
 public:
  WithoutOptionalPrimitives()
      : real_(backend_available(DeviceType::sim) ? &backend(DeviceType::sim) : nullptr) {
    static HostBackendWithoutOptional stand_in;  // outlives the scope
    register_backend(&stand_in);
    raw::reset_fallback_warnings();
  }
  ~WithoutOptionalPrimitives() {
    if (real_ != nullptr) register_backend(real_);
  }
  WithoutOptionalPrimitives(const WithoutOptionalPrimitives&) = delete;
  WithoutOptionalPrimitives& operator=(const WithoutOptionalPrimitives&) = delete;

 private:
  Backend* real_;
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Dispatch, RequiredPrimitivesAreSupportedOptionalOnesNotByDefault) {
  HostBackendWithoutOptional b;
  EXPECT_TRUE(b.supports(Primitive::matmul, DType::f32));
  EXPECT_TRUE(b.supports(Primitive::scatter_add, DType::i64));
  EXPECT_FALSE(b.supports(Primitive::cross_entropy, DType::f32));
  EXPECT_FALSE(b.supports(Primitive::adam_step, DType::f64));
  EXPECT_TRUE(backend(DeviceType::cpu).supports(Primitive::cross_entropy, DType::f64));
}

TEST(Dispatch, FallbackWarnsOncePerOpAndDeviceAndMatchesCpu) {
  const WithoutOptionalPrimitives scope;
  const Device dev = Device::sim();
  manual_seed(5);
  Tensor z = randn({6, 5}, {.dtype = DType::f64});  // (R, C)
  Tensor t = randint(0, 5, {6});                    // (R)
  const CrossEntropyParams p{.ignore_index = -100, .label_smoothing = 0.1};
  auto [want, want_lse] = raw::cross_entropy_forward(z, t, Tensor(), p);

  Tensor zs = z.to(dev), ts = t.to(dev);
  testing::internal::CaptureStderr();
  profiler::start();
  auto [got, got_lse] = raw::cross_entropy_forward(zs, ts, Tensor(), p);
  Tensor g = raw::cross_entropy_backward(got, zs, got_lse, ts, Tensor(), p);
  profiler::stop();
  const std::string err = testing::internal::GetCapturedStderr();

  const std::string line = "ember: warning: cross_entropy has no sim kernel for f64; running";
  EXPECT_EQ(count(err, line), 1u) << err;  // forward and backward: one primitive, one warning
  EXPECT_EQ(count(err, "ember: warning:"), 1u) << err;
  size_t events = 0;
  for (const profiler::Event& e : profiler::events()) events += e.name == "fallback:cross_entropy";
  EXPECT_EQ(events, 2u);  // one per call: a fallback is never silent in a profile

  EXPECT_EQ(got.device(), dev);
  EXPECT_EQ(g.device(), dev);
  EXPECT_TRUE(allclose(got.cpu(), want, 0, 0));
  EXPECT_TRUE(allclose(got_lse.cpu(), want_lse, 0, 0));
  EXPECT_TRUE(
      allclose(g.cpu(), raw::cross_entropy_backward(want, z, want_lse, t, Tensor(), p), 0, 0));

  // Another primitive on the same device warns once on its own.
  Tensor param = randn({7}, {.dtype = DType::f64}), grad = randn({7}, {.dtype = DType::f64});
  Tensor m = zeros({7}, {.dtype = DType::f64}), v = zeros({7}, {.dtype = DType::f64});
  Tensor ps = param.to(dev), gs = grad.to(dev), ms = m.to(dev), vs = v.to(dev);
  testing::internal::CaptureStderr();
  for (int64_t step = 1; step <= 2; ++step) {
    raw::adam_step({{&param, &grad, &m, &v, nullptr, step}}, {.lr = 0.1});
    raw::adam_step({{&ps, &gs, &ms, &vs, nullptr, step}}, {.lr = 0.1});
  }
  const std::string err2 = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err2, "ember: warning: adam_step has no sim kernel for f64"), 1u) << err2;
  EXPECT_EQ(count(err2, "ember: warning:"), 1u) << err2;
  EXPECT_TRUE(allclose(ps.cpu(), param, 0, 0));
  EXPECT_TRUE(allclose(vs.cpu(), v, 0, 0));
}

TEST(Dispatch, OwnKernelsRunWithoutAWarning) {
  raw::reset_fallback_warnings();
  Tensor z = randn({4, 3}), t = randint(0, 3, {4});
  testing::internal::CaptureStderr();
  raw::cross_entropy_forward(z, t, Tensor(), {});
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  const raw::Dispatch run(Primitive::cross_entropy, Device::cpu(), DType::f32);
  EXPECT_FALSE(run.is_fallback());
}

}  // namespace
}  // namespace ember
