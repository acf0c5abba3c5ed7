// The GPU devices beyond the registry's cases: the kernels' other paths (long rows,
// multi-block grids, more than 8 dims, every cast), index errors found on the device,
// transfers, the implementation switches (the cuda device's GEMM and conv2d choices, TF32,
// the bf16 attention path), modules and optimizers trained on the device, argument errors,
// and memory statistics. Each test runs on sim and on cuda (skipped without a GPU).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

#include <ember/ember.h>

#include "cuda_required.h"
#include "kernels/memory.h"
#include "kernels/sim/scheduler.h"
#include "nn/functional.h"
#include "registry/op_cases.h"
#include "registry/reference_nn.h"
#include "tensor/backends.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

#if EMBER_HAVE_CUDA
#define EMBER_VARIANT_CUDA 1  // this file uses the cuda build's backend controls only
#include "kernels/cuda/backend.h"
#include "kernels/cuda/cudnn_conv.h"
#endif
#include "kernels/cuda/fast_div.h"  // after the variant is chosen: either build's FastDiv

namespace ember::simtest {
namespace {

using ::testing::HasSubstr;

class DeviceOps : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (GetParam().is_cuda()) EMBER_SKIP_WITHOUT_CUDA();
  }
  Device dev() const { return GetParam(); }
  TensorOptions opts(DType dt = DType::f32) const { return {.dtype = dt, .device = dev()}; }
};

// Equal values, NaN equal to NaN, whatever the dtypes.
bool same_values(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.cpu().to_vector<double>(), y = b.cpu().to_vector<double>();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

// Compares a device result with the cpu's result of the same computation: same shape and
// dtype, NaN where the cpu has NaN, |a - b| <= tol * (1 + |b|) elsewhere.
void expect_close(const Tensor& device_result, const Tensor& cpu_result, double tol = 1e-5) {
  ASSERT_EQ(device_result.sizes(), cpu_result.sizes());
  ASSERT_EQ(device_result.dtype(), cpu_result.dtype());
  std::vector<double> x = device_result.cpu().to_vector<double>(),
                      y = cpu_result.to_vector<double>();
  int bad = 0;
  for (size_t i = 0; i < x.size() && bad < 5; ++i) {
    const bool ok =
        std::isnan(y[i]) ? std::isnan(x[i]) : std::fabs(x[i] - y[i]) <= tol * (1 + std::fabs(y[i]));
    if (!ok)
      ADD_FAILURE() << "element " << i << ": " << x[i] << " on " << device_result.device() << ", "
                    << y[i] << " on cpu (" << ++bad << ")";
  }
}

TEST_P(DeviceOps, ElementwiseOnMoreThanEightNonContiguousDims) {
  manual_seed(1);
  Tensor c = randn({2, 3, 2, 2, 3, 2, 2, 3, 2, 2});  // 10 dims
  Tensor d = c.to(dev());
  // A permutation defeats every merge of dims: the launch is split over the outer dims.
  const DimList perm{9, 0, 8, 1, 7, 2, 6, 3, 5, 4};
  expect_close((d.permute(perm) * 2.0f + 1.0f).exp(), (c.permute(perm) * 2.0f + 1.0f).exp());
  expect_close(d.permute(perm).contiguous(), c.permute(perm).contiguous(), 0.0);
}

TEST_P(DeviceOps, LargeElementwiseSpansManyBlocks) {
  manual_seed(2);
  Tensor c = randn({1000, 301}), e = randn({1, 301});
  Tensor d = c.to(dev()), f = e.to(dev());
  expect_close(d * f - d.sigmoid(), c * e - c.sigmoid());
  expect_close(d.slice(1, 1, 301, 3).tanh(), c.slice(1, 1, 301, 3).tanh());  // misaligned, strided
}

TEST_P(DeviceOps, EveryCastBetweenDtypes) {
  manual_seed(3);
  Tensor src = (randn({257}) * 40.0f).to(DType::f64);
  src.data_ptr<double>()[5] = std::numeric_limits<double>::quiet_NaN();  // NaN to integer: pinned
  src.data_ptr<double>()[6] = 1e30;                                      // out of range: pinned
  for (DType from : {DType::f32, DType::f64, DType::i64, DType::b8}) {
    Tensor c = src.to(from);
    Tensor d = c.to(dev());
    for (DType to : {DType::f32, DType::f64, DType::i64, DType::b8}) {
      Tensor want = c.to(to), got = d.to(to).cpu();
      ASSERT_EQ(got.dtype(), to);
      EXPECT_TRUE(same_values(got, want)) << from << " -> " << to;
    }
  }
}

TEST_P(DeviceOps, LongRowsUseTheBlockKernels) {
  manual_seed(4);
  Tensor c = randn({3, 5000});
  c.data_ptr<float>()[7000] = std::numeric_limits<float>::quiet_NaN();  // row 1
  Tensor d = c.to(dev());
  expect_close(d.sum({1}), c.sum({1}), 1e-4);
  expect_close(d.var({1}), c.var({1}), 1e-4);
  auto [dv, di] = d.max(1);
  auto [cv, ci] = c.max(1);
  EXPECT_TRUE(equal(di.cpu(), ci));
  EXPECT_TRUE(std::isnan(dv.cpu().data_ptr<float>()[1]));
  EXPECT_EQ(di.cpu().data_ptr<int64_t>()[1], 7000 - 5000);
  expect_close(d.softmax(1), c.softmax(1), 1e-6);
  expect_close(d.log_softmax(0), c.log_softmax(0), 1e-5);
}

TEST_P(DeviceOps, MaxMinTiesGiveTheFirstIndex) {
  Tensor c = full({2, 2000}, 3.0f);
  c.data_ptr<float>()[1500] = 5.0f;
  c.data_ptr<float>()[1700] = 5.0f;
  Tensor d = c.to(dev());
  EXPECT_EQ(d.argmax(1).cpu().to_vector<int64_t>(), (std::vector<int64_t>{1500, 0}));
  EXPECT_EQ(d.argmin(1).cpu().to_vector<int64_t>(), (std::vector<int64_t>{0, 0}));
}

TEST_P(DeviceOps, MatmulBatchedBroadcastAndTransposed) {
  manual_seed(5);
  Tensor a = randn({3, 1, 70, 130}), b = randn({4, 130, 90});
  expect_close(a.to(dev()).matmul(b.to(dev())), a.matmul(b), 1e-4);
  Tensor t = randn({130, 70}).t();                 // (70, 130), column-major
  Tensor u = b.select(0, 1).t().contiguous().t();  // (130, 90), column-major
  expect_close(t.to(dev()).matmul(u.to(dev())), t.matmul(u), 1e-4);
  Tensor a64 = randn({65, 33}, {.dtype = DType::f64}), b64 = randn({33, 17}, {.dtype = DType::f64});
  expect_close(a64.to(dev()).matmul(b64.to(dev())), a64.matmul(b64), 1e-12);
}

// A kernel records a bad index in the runtime's error slot; the IndexError, naming the op,
// comes at the next synchronization the user causes (item(), a copy to the host,
// synchronize()), not at the launch, and the slot is clear afterwards.
TEST_P(DeviceOps, OutOfRangeIndicesAreIndexErrorsAtTheNextSynchronization) {
  Tensor x = arange(12, opts()).reshape({3, 4});
  Tensor bad = from_vector<int64_t>({0, 3}, {2}).to(dev());
  Tensor y;
  ASSERT_NO_THROW(y = x.index_select(0, bad)) << "the launch does not wait for its indices";
  try {
    (void)y.cpu();
    FAIL() << "index_select accepted index 3 for size 3";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("index_select: index 3 is out of bounds for size 3"));
  }
  EXPECT_NO_THROW((void)x.cpu()) << "the slot is cleared once raised";
  Tensor bad2 = from_vector<int64_t>({0, -1, 2, 1, 0, 0}, {3, 2}).to(dev());
  Tensor g;
  ASSERT_NO_THROW(g = x.gather(1, bad2));
  try {
    (void)g.sum().item<float>();
    FAIL() << "gather accepted index -1";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("gather: index -1"));
  }
  Tensor src = ones({3, 2}, opts());
  ASSERT_NO_THROW((void)x.scatter_add(1, bad2, src));
  EXPECT_THROW(backend(dev()).synchronize(), IndexError);
  EXPECT_NO_THROW(backend(dev()).synchronize());
  Tensor good = from_vector<int64_t>({3, 0, 2, 1, 1, 1}, {3, 2}).to(dev());
  expect_close(x.scatter_add(1, good, src), x.cpu().scatter_add(1, good.cpu(), src.cpu()), 0.0);
  expect_close(x.gather(1, good), x.cpu().gather(1, good.cpu()), 0.0);
}

// nll_loss validates its targets on the device: no item(), the error at the next sync.
TEST_P(DeviceOps, NllLossTargetErrorsAreDeferred) {
  Tensor logp = randn({3, 4}, opts()).log_softmax(1);
  Tensor bad = from_vector<int64_t>({0, 7, -100}, {3}).to(dev());
  Tensor loss;
  ASSERT_NO_THROW(loss = nn::functional::nll_loss(logp, bad));
  try {
    (void)loss.item<float>();
    FAIL() << "nll_loss accepted class 7 of 4";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("nll_loss: index 7 is out of bounds for size 4"));
  }
  Tensor good = from_vector<int64_t>({0, 3, -100}, {3}).to(dev());
  EXPECT_NEAR(nn::functional::nll_loss(logp, good).item<float>(),
              nn::functional::nll_loss(logp.cpu(), good.cpu()).item<float>(), 1e-6);
}

TEST_P(DeviceOps, RandomFillsOnNonContiguousTensors) {
  manual_seed(6);
  Tensor d = empty({50, 40}, opts()).t();
  d.uniform_(-1.0, 1.0);
  manual_seed(6);
  Tensor c = empty({50, 40}).t();
  c.uniform_(-1.0, 1.0);
  expect_close(d, c, 0.0);
}

TEST_P(DeviceOps, TransfersRoundTrip) {
  Tensor c = arange(1000, {.dtype = DType::f64}).reshape({10, 100});
  Tensor d = c.to(dev());
  EXPECT_EQ(d.device(), dev());
  expect_close(d.to(Device::sim()).to(dev()), c, 0.0);
  expect_close(d.slice(1, 3, 50, 7).cpu(), c.slice(1, 3, 50, 7), 0.0);
}

// nn::Conv2d on the device: the same output and parameter gradients as on the cpu (the
// registry checks the primitives; this, the module and autograd around them).
TEST_P(DeviceOps, Conv2dModuleAndItsGradientsMatchCpu) {
  manual_seed(11);
  const nn::Conv2dOptions o{.stride = 2, .padding = 1, .groups = 2};
  auto on_cpu = nn::Conv2d::make(6, 10, 3, o), on_dev = nn::Conv2d::make(6, 10, 3, o);
  on_cpu->to(DType::f64);
  on_dev->to(DType::f64);
  {
    NoGradGuard no_grad;
    on_dev->weight.copy_(on_cpu->weight);
    on_dev->bias.copy_(on_cpu->bias);
  }
  on_dev->to(dev());
  const Tensor x = randn({3, 6, 11, 10}, {.dtype = DType::f64});
  const Tensor y_cpu = on_cpu->forward(x), y_dev = on_dev->forward(x.to(dev()));
  EXPECT_EQ(y_dev.device(), dev());
  expect_close(y_dev, y_cpu, 1e-12);
  (y_cpu * y_cpu).sum().backward();
  (y_dev * y_dev).sum().backward();
  expect_close(on_dev->weight.grad(), on_cpu->weight.grad(), 1e-10);
  expect_close(on_dev->bias.grad(), on_cpu->bias.grad(), 1e-10);
}

// Adam with gradient clipping on the device follows the cpu run step for step.
TEST_P(DeviceOps, AdamWithClippingTrainsLikeTheCpu) {
  manual_seed(15);
  auto cpu_model = std::make_shared<nn::Linear>(13, 7);
  auto dev_model = std::make_shared<nn::Linear>(13, 7);
  dev_model->load_state_dict(cpu_model->state_dict());
  dev_model->to(dev());
  const optim::AdamOptions options{.lr = 1e-2, .weight_decay = 1e-3, .amsgrad = true};
  auto cpu_opt = optim::Adam::make(cpu_model->parameters(), options);
  auto dev_opt = optim::Adam::make(dev_model->parameters(), options);
  for (int step = 0; step < 4; ++step) {
    Tensor x = randn({5, 13}), y = randn({5, 7});
    cpu_opt->zero_grad();
    dev_opt->zero_grad();
    ((*cpu_model)(x)-y).pow(2.0).sum().backward();
    ((*dev_model)(x.to(dev())) - y.to(dev())).pow(2.0).sum().backward();
    const double n_cpu = optim::clip_grad_norm_(cpu_model->parameters(), 0.5);
    const double n_dev = optim::clip_grad_norm_(dev_model->parameters(), 0.5);
    EXPECT_NEAR(n_dev, n_cpu, 1e-5 * n_cpu) << "step " << step;
    cpu_opt->step();
    dev_opt->step();
  }
  expect_close(dev_model->weight.detach(), cpu_model->weight.detach(), 4e-6);
}

TEST_P(DeviceOps, MultiTensorNormArgumentErrors) {
  EXPECT_EQ(raw::multi_tensor_norm({}, 2.0), 0.0);
  EXPECT_THROW((void)raw::multi_tensor_norm({randn({3}).to(dev())}, 0.0), ValueError);
  EXPECT_THROW((void)raw::multi_tensor_norm({arange(3).to(dev())}, 2.0), DTypeError);
}

// Switches the bf16 attention kernels (sim and cuda alike) on for a scope.
class Bf16Attention {
 public:
  explicit Bf16Attention(Device) : before_(backends::cuda::attention.get()) {
    backends::cuda::attention = backends::AttentionPath::bf16;
  }
  ~Bf16Attention() { backends::cuda::attention = before_; }
  Bf16Attention(const Bf16Attention&) = delete;
  Bf16Attention& operator=(const Bf16Attention&) = delete;

 private:
  backends::AttentionPath before_;
};

// The bf16 tensor-core attention path (a backend switch, so no registry case) against the
// registry's f64 reference at bf16's precision. On sim its products are emulated, so
// staging, masks, softmax, dropout and barriers are checked there, in both schedules.
TEST_P(DeviceOps, Bf16AttentionPathMatchesTheReference) {
  const Bf16Attention bf16(dev());
  enum class Mask { none, full, padding };
  struct Spec {
    const char* name;
    int64_t B, H, Tq, Tk, D;
    Mask mask;
    bool causal;
    double dropout;
  };
  const Spec specs[] = {
      {"bf16_d64", 2, 3, 100, 130, 64, Mask::none, false, 0},
      {"bf16_d128_causal", 1, 2, 150, 150, 128, Mask::none, true, 0},
      {"bf16_d32_mask_dropout", 2, 2, 70, 90, 32, Mask::full, false, 0.2},
      {"bf16_d64_padding_more_queries", 1, 2, 130, 40, 64, Mask::padding, true, 0},
  };
  std::vector<sim::Schedule> schedules = {sim::Schedule::sequential};
  if (!dev().is_cuda()) schedules.push_back(sim::Schedule::shuffled);
  for (sim::Schedule schedule : schedules)
    for (const Spec& s : specs) {
      sim::ScheduleGuard guard(schedule, sim::schedule_seed());
      manual_seed(static_cast<uint64_t>(s.Tq));
      const Shape scores{s.B, s.H, s.Tq, s.Tk};
      Tensor q = randn({s.B, s.H, s.Tq, s.D}, opts()), k = randn({s.B, s.H, s.Tk, s.D}, opts());
      Tensor v = randn({s.B, s.H, s.Tk, s.D}, opts()), g = randn({s.B, s.H, s.Tq, s.D}, opts());
      Tensor mask;
      if (s.mask == Mask::full) mask = randn(scores, opts());
      if (s.mask == Mask::padding) {  // -inf on some keys, key 0 kept; (B, 1, 1, Tk) expanded
        Tensor keep = logical_or(rand({s.B, 1, 1, s.Tk}) > 0.3, eq(arange(s.Tk), 0));
        mask = where(keep, zeros({}), full({}, -std::numeric_limits<double>::infinity()))
                   .to(dev())
                   .expand(scores);
      }
      const AttentionParams p{.scale = 1.0 / std::sqrt(static_cast<double>(s.D)),
                              .causal = s.causal,
                              .dropout_p = s.dropout,
                              .seed = 0x5EEDu,
                              .offset = 7};
      auto [out, lse] = raw::attention_forward(q, k, v, mask, p);
      auto [dq, dk, dv] = raw::attention_backward(g, q, k, v, out, lse, mask, p);
      const ref::RefTensor rmask = mask.defined() ? ref::from_tensor(mask) : ref::RefTensor{};
      const ref::AttentionResult want =
          ref::attention(ref::from_tensor(q), ref::from_tensor(k), ref::from_tensor(v),
                         mask.defined() ? &rmask : nullptr, p, nullptr);
      const ref::RefTensor rg = ref::from_tensor(g);
      const ref::AttentionResult want_grads =
          ref::attention(ref::from_tensor(q), ref::from_tensor(k), ref::from_tensor(v),
                         mask.defined() ? &rmask : nullptr, p, &rg);
      const std::string what =
          std::string(s.name) + (schedule == sim::Schedule::shuffled ? " shuffled" : "");
      EXPECT_EQ(cases::compare(out, want.out, DType::f32, {3e-2, 3e-2}), "") << what << ": out";
      EXPECT_EQ(cases::compare(lse, want.lse, DType::f32, {3e-2, 3e-2}), "") << what << ": lse";
      EXPECT_EQ(cases::compare(dq, want_grads.dq, DType::f32, {5e-2, 5e-2}), "") << what << ": dq";
      EXPECT_EQ(cases::compare(dk, want_grads.dk, DType::f32, {5e-2, 5e-2}), "") << what << ": dk";
      EXPECT_EQ(cases::compare(dv, want_grads.dv, DType::f32, {5e-2, 5e-2}), "") << what << ": dv";
      // bf16 operands: not the f32 path's result to the last bits.
      if (!dev().is_cuda()) {
        EXPECT_NE(cases::compare(out, want.out, DType::f32, {1e-5, 0}), "") << what;
      }
    }
}

std::string device_name(const ::testing::TestParamInfo<Device>& p) {
  return p.param.is_cuda() ? "cuda" : "sim";
}

// ---- cross entropy, layer norm and embedding kernels against the cpu backend ----------------
// The backend primitives run directly on random inputs, outputs poisoned with NaN, in both
// simulator schedules (a missing barrier shows up in the shuffled one).

std::vector<sim::Schedule> schedules(Device d) {
  if (d.is_cuda()) return {sim::Schedule::sequential};  // the schedule is the hardware's
  return {sim::Schedule::sequential, sim::Schedule::shuffled};
}

Tensor poisoned(const Shape& shape, DType dt, Device d) {
  return full(shape, std::numeric_limits<double>::quiet_NaN(), {.dtype = dt, .device = d});
}

TEST_P(DeviceOps, CrossEntropyKernelsMatchCpu) {
  Backend& cpu = backend(DeviceType::cpu);
  for (sim::Schedule sched : schedules(dev()))
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t C : {7, 1500}) {  // a row per warp; a row per block
        const sim::ScheduleGuard guard(sched, 0xCE);
        manual_seed(C);
        const int64_t R = 37;
        Tensor z = (randn({R, C}) * 3.0).to(dt), w = rand({C}).to(dt) + 0.5, gl = randn({R}).to(dt);
        Tensor t = randint(0, C, {R});
        t.data_ptr<int64_t>()[4] = -100;  // ignored
        const CrossEntropyParams p{.ignore_index = -100, .label_smoothing = 0.1};
        for (const Tensor& weight : {Tensor(), w}) {
          Tensor loss = poisoned({R}, dt, Device::cpu()), lse = poisoned({R}, dt, Device::cpu());
          cpu.cross_entropy_forward({loss, lse, z, t, weight}, p);
          Tensor gz = poisoned({R, C}, dt, Device::cpu());
          cpu.cross_entropy_backward({gz, gl, z, lse, t, weight}, p);
          Tensor dz = z.to(dev()), dtg = t.to(dev()),
                 dw = weight.defined() ? weight.to(dev()) : weight;
          Tensor dloss = poisoned({R}, dt, dev()), dlse = poisoned({R}, dt, dev());
          backend(dev()).cross_entropy_forward({dloss, dlse, dz, dtg, dw}, p);
          Tensor dgz = poisoned({R, C}, dt, dev());
          backend(dev()).cross_entropy_backward({dgz, gl.to(dev()), dz, dlse, dtg, dw}, p);
          const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
          expect_close(dloss, loss, tol);
          expect_close(dlse, lse, tol);
          expect_close(dgz, gz, tol);
        }
      }
  Tensor bad = from_vector(std::vector<int64_t>{0, 9}, dev());  // 9: out of range for 3 classes
  try {
    auto [loss, lse] = raw::cross_entropy_forward(randn({2, 3}, opts()), bad, Tensor(), {});
    (void)loss.cpu();  // raised at this synchronization
    ADD_FAILURE() << "no error";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cross_entropy"));
  }
}

TEST_P(DeviceOps, LayerNormKernelsMatchCpu) {
  for (sim::Schedule sched : schedules(dev()))
    for (DType dt : {DType::f32, DType::f64})
      for (int64_t N : {5, 1100}) {
        const sim::ScheduleGuard guard(sched, 0x1A);
        manual_seed(N);
        const int64_t R = 19;
        Tensor x = (randn({R, N}) * 2.0 + 0.5).to(dt), w = randn({N}).to(dt), b = randn({N}).to(dt);
        Tensor dy = randn({R, N}).to(dt);
        for (bool affine : {false, true}) {
          Tensor ww = affine ? w : Tensor(), bb = affine ? b : Tensor();
          auto on = [&](Device d) {
            auto put = [&](const Tensor& t) { return t.defined() ? t.to(d) : t; };
            Tensor y = poisoned({R, N}, dt, d), mean = poisoned({R}, dt, d),
                   rstd = poisoned({R}, dt, d);
            Backend& be = backend(d);
            be.layer_norm_forward({y, mean, rstd, put(x), put(ww), put(bb)}, {.eps = 1e-5});
            Tensor dx = poisoned({R, N}, dt, d), dw = poisoned({N}, dt, d),
                   db = poisoned({N}, dt, d);
            be.layer_norm_backward({dx, dw, db, put(dy), put(x), mean, rstd, put(ww)},
                                   {.eps = 1e-5});
            return std::vector<Tensor>{y, mean, rstd, dx, dw, db};
          };
          std::vector<Tensor> want = on(Device::cpu()), got = on(dev());
          const double tol = dt == DType::f64 ? 1e-11 : 1e-4;
          for (size_t i = 0; i < want.size(); ++i) expect_close(got[i], want[i], tol);
        }
      }
}

TEST_P(DeviceOps, EmbeddingKernelsMatchCpuBitForBit) {
  for (sim::Schedule sched : schedules(dev()))
    for (DType dt : {DType::f32, DType::f64}) {
      const sim::ScheduleGuard guard(sched, 0xE3);
      manual_seed(11);
      const int64_t V = 50, D = 33, M = 300;
      Tensor w = randn({V, D}).to(dt), g = randn({M, D}).to(dt);
      Tensor idx = randint(0, 12, {M});  // many repeats: buckets of ~25 positions
      idx.data_ptr<int64_t>()[7] = V - 1;
      for (int64_t pad : {int64_t{-1}, int64_t{3}}) {
        auto on = [&](Device d) {
          Tensor out = poisoned({M, D}, dt, d), gw = poisoned({V, D}, dt, d);
          backend(d).embedding_forward(out, w.to(d), idx.to(d));
          backend(d).embedding_backward(gw, g.to(d), idx.to(d), pad);
          return std::pair{out, gw};
        };
        auto [want_out, want_gw] = on(Device::cpu());
        auto [got_out, got_gw] = on(dev());
        expect_close(got_out, want_out, 0.0);
        expect_close(got_gw, want_gw, 0.0);  // the same sums in the same order
        if (pad >= 0) {
          EXPECT_TRUE(same_values(got_gw.cpu().select(0, pad), zeros({D}, {.dtype = dt})));
        }
      }
    }
  try {
    (void)raw::embedding_forward(randn({4, 2}, opts()),
                                 from_vector(std::vector<int64_t>{1, 4}, dev()))
        .cpu();
    ADD_FAILURE() << "no error";
  } catch (const IndexError& e) {
    EXPECT_THAT(e.what(), HasSubstr("embedding"));
  }
}

// use_deterministic_algorithms: scatter_add adds each fiber's sources in index order, as the
// cpu's loop does, so the sums are the cpu's bit for bit under any thread order; along an
// inner dim, along dim 0 of a 9-d index (which the launches split off), and 1-d (one fiber).
TEST_P(DeviceOps, DeterministicScatterAddMatchesCpuBitForBit) {
  struct Off {
    ~Off() { use_deterministic_algorithms(false); }
  } off;
  use_deterministic_algorithms(true);
  for (sim::Schedule sched : schedules(dev()))
    for (DType dt : {DType::f32, DType::f64}) {
      const sim::ScheduleGuard guard(sched, 0xD7);
      manual_seed(5);
      struct Case {
        Shape out, index;
        int64_t dim;
      };
      for (const Case& c : {Case{{6, 40}, {6, 300}, 1}, Case{{40, 7}, {300, 7}, 0},
                            Case{{3, 2, 1, 2, 1, 2, 1, 2, 2}, {5, 2, 1, 2, 1, 2, 1, 2, 2}, 0},
                            Case{{4}, {50}, 0}}) {
        const int64_t size = c.out[static_cast<size_t>(c.dim)];
        Tensor base = randn(c.out).to(dt), src = (randn(c.index) * 1e4).to(dt);
        Tensor idx = randint(0, size, c.index);  // many repeats per output element
        Tensor want = scatter_add(base, c.dim, idx, src);
        Tensor got = scatter_add(base.to(dev()), c.dim, idx.to(dev()), src.to(dev()));
        expect_close(got, want, 0.0);
      }
    }
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceOps, ::testing::Values(Device::sim(), Device::cuda()),
                         device_name);

// ---- cuda only ------------------------------------------------------------------------------

TEST(CudaDevice, TiledGemmMatchesCublas) {
  EMBER_SKIP_WITHOUT_CUDA();
#if EMBER_HAVE_CUDA
  manual_seed(7);
  Tensor a = randn({2, 300, 200}, {.device = Device::cuda()}),
         b = randn({200, 150}, {.device = Device::cuda()});
  const backends::GemmImpl before = backends::cuda::matmul;
  backends::cuda::matmul = backends::GemmImpl::cublas;
  Tensor by_cublas = a.matmul(b);
  backends::cuda::matmul = backends::GemmImpl::ember;
  Tensor by_tiled = a.matmul(b);
  backends::cuda::matmul = before;
  Tensor cpu = a.cpu().matmul(b.cpu());
  EXPECT_TRUE(allclose(by_cublas.cpu(), cpu, 1e-4, 1e-4));
  EXPECT_TRUE(allclose(by_tiled.cpu(), cpu, 1e-4, 1e-4));
#endif
}

// conv2d's registry cases on every cuda implementation: ember's kernels (FMA, and TF32 at
// TF32's tolerance) and cuDNN (the default, which the registry's own cuda run takes for
// f32; f64 is always ember's kernels).
TEST(CudaDevice, Conv2dCasesOnEveryImplementation) {
  EMBER_SKIP_WITHOUT_CUDA();
#if EMBER_HAVE_CUDA
  struct Impl {
    const char* name;
    backends::ConvImpl impl;
    bool tf32;
  };
  const backends::ConvImpl impl_before = backends::cuda::conv;
  const bool tf32_before = backends::cuda::conv_tf32;
  for (const Impl& im : {Impl{"ember", backends::ConvImpl::ember, false},
                         Impl{"ember_tf32", backends::ConvImpl::ember, true},
                         Impl{"cudnn", backends::ConvImpl::cudnn, false}}) {
    if (im.impl == backends::ConvImpl::cudnn && !cuda_impl::cudnn_conv_available()) {
      std::printf("note: cuDNN cannot be loaded (libcudnn.so.N on the loader path?)\n");
      continue;
    }
    if (im.tf32 && cuda_impl::rt::props().major < 8) continue;  // TF32 needs sm_80
    backends::cuda::conv = im.impl;
    backends::cuda::conv_tf32 = im.tf32;
    for (const cases::OpCase& c : cases::op_cases()) {
      const bool ember_fma = im.impl == backends::ConvImpl::ember && !im.tf32;
      if (c.family != "conv2d" || (c.dtype == DType::f64 && !ember_fma)) continue;
      cases::OpCase t = c;
      if (im.tf32) {  // 10-bit mantissas; the case's f32 atol is 2e-6 (1 + terms summed)
        const double terms = c.tol.atol / 2e-6;
        t.tol = {4e-3 * std::sqrt(terms) + 1e-3, 4e-3};
      }
      EXPECT_EQ(cases::check_case(t, Device::cuda()), "") << im.name << ": " << c.name;
    }
  }
  backends::cuda::conv = impl_before;
  backends::cuda::conv_tf32 = tf32_before;
#endif
}

TEST(CudaDevice, MemoryStatsAndCache) {
  EMBER_SKIP_WITHOUT_CUDA();
  empty_cache(DeviceType::cuda);
  const MemoryStats before = memory_stats(DeviceType::cuda);
  {
    Tensor t = empty({1 << 20}, {.device = Device::cuda()});  // 4 MiB
    const MemoryStats during = memory_stats(DeviceType::cuda);
    EXPECT_EQ(during.allocated_bytes - before.allocated_bytes, 4 << 20);
    EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
  }
  const MemoryStats after = memory_stats(DeviceType::cuda);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_EQ(after.reserved_bytes - before.reserved_bytes, 4 << 20) << "the block stays cached";
  { Tensor again = empty({1 << 20}, {.device = Device::cuda()}); }
  EXPECT_EQ(memory_stats(DeviceType::cuda).num_device_allocs, after.num_device_allocs) << "reused";
  empty_cache(DeviceType::cuda);
  const MemoryStats emptied = memory_stats(DeviceType::cuda);
  EXPECT_EQ(emptied.reserved_bytes, emptied.allocated_bytes) << "nothing cached";
}

TEST(CudaDevice, UnavailableWithoutAGpuButEverythingElseWorks) {
  if (backend_available(DeviceType::cuda)) GTEST_SKIP() << "a GPU is present";
  EXPECT_THROW((void)empty({2}, {.device = Device::cuda()}), DeviceError);
  EXPECT_EQ(Device::best(), Device::cpu());
  EXPECT_EQ((ones({2}, {.device = Device::sim()}) * 2.0f).cpu().to_vector<float>(),
            (std::vector<float>{2, 2}));
}

// conv2d's division by a launch-time constant, against `/` on every divisor up to 600 and
// dividends up to the 2^31 - 1 its callers stay below.
TEST(KernelHelpers, FastDivMatchesDivision) {
  const std::vector<int> ns = {0,
                               1,
                               2,
                               3,
                               63,
                               64,
                               65,
                               1000,
                               65535,
                               65536,
                               1 << 20,
                               123456789,
                               (1 << 30) + 7,
                               2147483646,
                               2147483647};
  int bad = 0;
  for (int d = 1; d <= 600; ++d) {
    const EMBER_VARIANT::FastDiv f(static_cast<uint32_t>(d));
    for (int n : ns)
      for (int k = 0; k < 3; ++k) {
        const int v = n - k >= 0 ? n - k : 0;
        int r;
        const int q = f.divmod(v, &r);
        if ((q != v / d || r != v % d) && bad++ < 5)
          ADD_FAILURE() << v << " / " << d << ": got " << q << " rem " << r;
      }
  }
  for (uint32_t d : {1000003u, 1u << 30, (1u << 31) - 1}) {
    const EMBER_VARIANT::FastDiv f(d);
    for (int n : ns) EXPECT_EQ(f.div(n), n / static_cast<int>(d)) << n << " / " << d;
  }
}

}  // namespace
}  // namespace ember::simtest
