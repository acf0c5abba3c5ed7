// The fused attention kernels (kernels/cuda/attention.cu) on sim, in the sequential and the
// shuffled schedule, and on cuda (skipped without a GPU): the backend primitive against the
// cpu backend in f64 (outputs poisoned with NaN first) over head dims 32/64/128 and odd
// ones, Tq != Tk, lengths that are not multiples of the 32-row tile, batch and heads > 1,
// causal, additive masks (full and broadcast, incl. a fully masked row), scale and dropout;
// then scaled_dot_product_attention with bool masks, its gradients and gradcheck.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "cuda_required.h"
#include "kernels/sim/scheduler.h"
#include "tensor/ops.h"
#include "tensor/random.h"

// The bf16 attention switch of each device's backend (kernels/cuda/backend.h, declared
// here for both builds: that header serves one build per translation unit).
namespace ember::sim_impl {
bool attention_bf16();
void set_attention_bf16(bool on);
}  // namespace ember::sim_impl
#if EMBER_HAVE_CUDA
namespace ember::cuda_impl {
bool attention_bf16();
void set_attention_bf16(bool on);
}  // namespace ember::cuda_impl
#endif

namespace ember::simtest {
namespace {

using autograd::TensorList;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Run {
  Device dev;
  bool shuffled;
};

std::string run_name(const ::testing::TestParamInfo<Run>& p) {
  return p.param.dev.is_cuda() ? "cuda" : (p.param.shuffled ? "sim_shuffled" : "sim");
}

class AttentionDevice : public ::testing::TestWithParam<Run> {
 protected:
  void SetUp() override {
    if (GetParam().dev.is_cuda()) EMBER_SKIP_WITHOUT_CUDA();
    if (GetParam().shuffled) schedule_ = std::make_unique<sim::ScheduleGuard>(sim::Schedule::shuffled, 0xA77Eu);
  }
  Device dev() const { return GetParam().dev; }

 private:
  std::unique_ptr<sim::ScheduleGuard> schedule_;
};

// |got - want| <= atol + rtol |want| everywhere, NaN exactly where want is NaN; prints the
// first mismatches with their indices.
void expect_near(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  std::vector<double> g = got.cpu().to(DType::f64).to_vector<double>(), w = want.cpu().to(DType::f64).to_vector<double>();
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < g.size(); ++i) {
    const bool ok = std::isnan(w[i]) ? std::isnan(g[i])
                                     : (g[i] == w[i] || std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i]));
    if (ok) continue;
    if (bad++ < 5) os << "\n  [" << i << "] got " << g[i] << ", want " << w[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements differ" << os.str();
}

enum class Mask {
  none,
  full,        // (B, H, Tq, Tk)
  broadcast,   // (1, H, 1, Tk) expanded: strides 0 along batch and queries
  padding,     // (B, 1, 1, Tk), -inf on some keys (key 0 always kept)
  masked_row,  // (B, H, Tq, Tk) with query 1 of every head fully masked (forward only)
};

struct Case {
  const char* name;
  int64_t B, H, Tq, Tk, D, Dv;
  Mask mask = Mask::none;
  bool causal = false;
  double scale = 0;  // 0: 1/sqrt(D)
  double dropout = 0;
  DType dtype = DType::f64;
};

std::vector<Case> cases() {
  return {
      {"d32_tq_ne_tk", 2, 2, 40, 37, 32, 32},
      {"d64_causal", 1, 3, 45, 45, 64, 64, Mask::none, true},
      {"d128_full_mask", 1, 2, 33, 50, 128, 128, Mask::full},
      {"d24_broadcast_mask", 2, 2, 17, 70, 24, 24, Mask::broadcast},
      {"d80_padding_mask_scale", 2, 1, 35, 29, 80, 80, Mask::padding, false, 0.3},
      {"dv_ne_d_causal", 1, 2, 20, 41, 16, 40, Mask::none, true},
      {"causal_more_queries", 1, 2, 70, 33, 32, 32, Mask::none, true},
      {"causal_more_keys", 1, 1, 10, 65, 64, 64, Mask::none, true},
      {"dropout_d64", 2, 2, 37, 45, 64, 64, Mask::none, false, 0, 0.3},
      {"dropout_general_causal_mask", 1, 2, 40, 40, 20, 12, Mask::broadcast, true, 0, 0.5},
      {"dropout_all", 1, 1, 9, 7, 32, 32, Mask::none, false, 0, 1.0},
      {"one_query_one_key", 1, 1, 1, 1, 1, 1},
      {"d96_one_query_causal", 2, 1, 1, 100, 96, 96, Mask::none, true},
      {"d48_dv64_full_mask_long_keys", 1, 2, 9, 200, 48, 64, Mask::full},
      {"d64_three_heads_three_batches", 3, 3, 31, 33, 64, 64, Mask::padding, false, 0.5},
      {"value_dim_0", 1, 2, 5, 6, 4, 0},
      {"f32_d64_causal", 2, 2, 50, 50, 64, 64, Mask::none, true, 0, 0, DType::f32},
      {"f32_d128_mask_dropout", 1, 2, 34, 40, 128, 128, Mask::full, false, 0, 0.2, DType::f32},
      {"f32_d32", 1, 1, 3, 90, 32, 32, Mask::padding, false, 0, 0, DType::f32},
  };
}

struct Inputs {
  Tensor q, k, v, mask, grad_out;  // on the cpu; mask (B, H, Tq, Tk) with unit key stride or undefined
  AttentionParams p;
};

Inputs make_inputs(const Case& c) {
  const TensorOptions o{.dtype = c.dtype};
  Inputs in{randn({c.B, c.H, c.Tq, c.D}, o), randn({c.B, c.H, c.Tk, c.D}, o), randn({c.B, c.H, c.Tk, c.Dv}, o),
            Tensor(), randn({c.B, c.H, c.Tq, c.Dv}, o), {}};
  const Shape scores{c.B, c.H, c.Tq, c.Tk};
  switch (c.mask) {
    case Mask::none: break;
    case Mask::full: in.mask = randn(scores, o); break;
    case Mask::broadcast: in.mask = randn({1, c.H, 1, c.Tk}, o).expand(scores); break;
    case Mask::padding: {
      Tensor keep = logical_or(rand({c.B, 1, 1, c.Tk}) > 0.3, eq(arange(c.Tk), 0));
      in.mask = where(keep, zeros({}, o), full({}, -kInf, o)).expand(scores);
      break;
    }
    case Mask::masked_row: {
      in.mask = randn(scores, o);
      in.mask.narrow(2, 1, 1).fill_(-kInf);
      break;
    }
  }
  in.p.scale = c.scale > 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.D));
  in.p.causal = c.causal;
  in.p.dropout_p = c.dropout;
  in.p.seed = 0x5EED0000u + static_cast<uint64_t>(c.Tq);
  in.p.offset = 7;
  return in;
}

// A view of the same values with the same strides on `dev` (the mask keeps its expansion).
Tensor on(const Tensor& t, Device dev) {
  if (!t.defined()) return t;
  bool expanded = false;
  for (int64_t d = 0; d < t.dim(); ++d) expanded = expanded || (t.stride(d) == 0 && t.size(d) > 1);
  if (!expanded) return t.contiguous().to(dev);
  // Rebuild the expansion from the smallest tensor that broadcasts to t.
  Tensor base = t;
  for (int64_t d = 0; d < t.dim(); ++d)
    if (t.stride(d) == 0) base = base.narrow(d, 0, 1);
  return base.contiguous().to(dev).expand(t.sizes());
}

Tensor poisoned(const Shape& s, DType dt, Device dev) { return full(s, kNaN, {.dtype = dt, .device = dev}); }

struct Outputs {
  Tensor out, lse, dq, dk, dv;
};

// The primitive on `dev`, outputs poisoned first; the backward uses the device's own out and lse.
Outputs run_primitive(const Case& c, const Inputs& in, Device dev, bool backward) {
  const DType dt = c.dtype == DType::f32 && dev.is_cpu() ? DType::f64 : c.dtype;  // the cpu reference in f64
  auto put = [&](const Tensor& t) { return t.defined() ? on(t.to(dt), dev) : t; };
  Tensor q = put(in.q), k = put(in.k), v = put(in.v), mask = put(in.mask), g = put(in.grad_out);
  Backend& be = backend(dev);
  Outputs o{poisoned({c.B, c.H, c.Tq, c.Dv}, dt, dev), poisoned({c.B, c.H, c.Tq}, dt, dev), {}, {}, {}};
  be.attention_forward({o.out, o.lse, q, k, v, mask}, in.p);
  if (backward) {
    o.dq = poisoned(q.sizes(), dt, dev), o.dk = poisoned(k.sizes(), dt, dev), o.dv = poisoned(v.sizes(), dt, dev);
    be.attention_backward({o.dq, o.dk, o.dv, g, q, k, v, o.out, o.lse, mask}, in.p);
  }
  return o;
}

TEST_P(AttentionDevice, PrimitiveMatchesCpuInF64) {
  ASSERT_TRUE(backend(dev()).supports(Primitive::attention, DType::f32));
  for (const Case& c : cases()) {
    manual_seed(static_cast<uint64_t>(c.Tq * 131 + c.Tk));
    const Inputs in = make_inputs(c);
    const Outputs want = run_primitive(c, in, Device::cpu(), true);
    const Outputs got = run_primitive(c, in, dev(), true);
    const double tol = c.dtype == DType::f64 ? 1e-10 : 2e-4;
    const std::string what = std::string(c.name) + " on " + run_name({GetParam(), 0});
    expect_near(got.out, want.out, tol, tol, what + ": out");
    expect_near(got.lse, want.lse, tol, tol, what + ": lse");
    expect_near(got.dq, want.dq, tol, 5 * tol, what + ": dq");
    expect_near(got.dk, want.dk, tol, 5 * tol, what + ": dk");
    expect_near(got.dv, want.dv, tol, 5 * tol, what + ": dv");
  }
}

TEST_P(AttentionDevice, DropoutDropsTheSameScoresAsTheCpuAndDependsOnTheSeed) {
  const Case c{"dropout", 1, 2, 20, 30, 32, 32, Mask::none, false, 0, 0.4};
  manual_seed(3);
  Inputs in = make_inputs(c);
  Inputs no_drop = in;
  no_drop.p.dropout_p = 0;
  const Outputs plain = run_primitive(c, no_drop, dev(), false);
  const Outputs a = run_primitive(c, in, dev(), false);
  // The same lse (dropout acts after the softmax), another output.
  expect_near(a.lse, plain.lse, 1e-12, 1e-12, "lse with and without dropout");
  EXPECT_GT((a.out - plain.out).abs().max().cpu().item<double>(), 1e-3);
  Inputs other = in;
  other.p.offset += 1;
  const Outputs b = run_primitive(c, other, dev(), false);
  EXPECT_GT((a.out - b.out).abs().max().cpu().item<double>(), 1e-3) << "another offset, another mask";
  expect_near(a.out, run_primitive(c, in, Device::cpu(), false).out, 1e-10, 1e-10, "dropout against the cpu");
}

TEST_P(AttentionDevice, FullyMaskedRowGivesNaNOutputAndMinusInfLse) {
  const Case c{"masked_row", 2, 2, 35, 40, 32, 32, Mask::masked_row};
  manual_seed(4);
  const Inputs in = make_inputs(c);
  const Outputs got = run_primitive(c, in, dev(), false);
  const Outputs want = run_primitive(c, in, Device::cpu(), false);
  expect_near(got.out, want.out, 1e-10, 1e-10, "out");
  expect_near(got.lse, want.lse, 1e-10, 1e-10, "lse");
  const std::vector<double> lse = got.lse.cpu().to_vector<double>(), out = got.out.cpu().to_vector<double>();
  for (int64_t bh = 0; bh < c.B * c.H; ++bh) {
    EXPECT_EQ(lse[static_cast<size_t>(bh * c.Tq + 1)], -kInf);
    EXPECT_TRUE(std::isnan(out[static_cast<size_t>((bh * c.Tq + 1) * c.Dv)]));
    EXPECT_FALSE(std::isnan(out[static_cast<size_t>((bh * c.Tq + 2) * c.Dv)]));
  }
}

// Switches a device's bf16 attention kernels on for a scope.
class Bf16Attention {
 public:
  explicit Bf16Attention(Device dev) : cuda_(dev.is_cuda()) {
    before_ = get();
    set(true);
  }
  ~Bf16Attention() { set(before_); }
  Bf16Attention(const Bf16Attention&) = delete;
  Bf16Attention& operator=(const Bf16Attention&) = delete;

 private:
  bool get() const {
#if EMBER_HAVE_CUDA
    if (cuda_) return cuda_impl::attention_bf16();
#endif
    return sim_impl::attention_bf16();
  }
  void set(bool on) const {
#if EMBER_HAVE_CUDA
    if (cuda_) return cuda_impl::set_attention_bf16(on);
#endif
    sim_impl::set_attention_bf16(on);
  }
  bool cuda_;
  bool before_ = false;
};

// The bf16 tensor-core path against the cpu in f64, at bf16's precision (on sim its products
// are emulated, so staging, masks, softmax, dropout and barriers are checked there too).
TEST_P(AttentionDevice, Bf16TensorCorePathMatchesCpu) {
  const Bf16Attention bf16(dev());
  const std::vector<Case> bf16_cases = {
      {"bf16_d64", 2, 3, 100, 130, 64, 64, Mask::none, false, 0, 0, DType::f32},
      {"bf16_d128_causal", 1, 2, 150, 150, 128, 128, Mask::none, true, 0, 0, DType::f32},
      {"bf16_d32_mask_dropout", 2, 2, 70, 90, 32, 32, Mask::full, false, 0, 0.2, DType::f32},
      {"bf16_d64_padding_more_queries", 1, 2, 130, 40, 64, 64, Mask::padding, true, 0, 0, DType::f32},
  };
  for (const Case& c : bf16_cases) {
    manual_seed(static_cast<uint64_t>(c.Tq));
    const Inputs in = make_inputs(c);
    const Outputs want = run_primitive(c, in, Device::cpu(), true);
    const Outputs got = run_primitive(c, in, dev(), true);
    expect_near(got.out, want.out, 3e-2, 3e-2, std::string(c.name) + ": out");
    expect_near(got.lse, want.lse, 3e-2, 3e-2, std::string(c.name) + ": lse");
    expect_near(got.dq, want.dq, 5e-2, 5e-2, std::string(c.name) + ": dq");
    expect_near(got.dk, want.dk, 5e-2, 5e-2, std::string(c.name) + ": dk");
    expect_near(got.dv, want.dv, 5e-2, 5e-2, std::string(c.name) + ": dv");
    // bf16 operands: not the f32 path's result to the last bits.
    if (!dev().is_cuda()) {
      EXPECT_GT((got.out.cpu() - want.out.to(DType::f32)).abs().max().item<double>(), 1e-5);
    }
  }
}

// ---- through scaled_dot_product_attention ------------------------------------------------

TEST_P(AttentionDevice, SdpaWithBoolMaskAndItsGradientsMatchCpu) {
  manual_seed(5);
  Tensor q = randn({2, 3, 19, 16}, {.dtype = DType::f64}), k = randn({2, 3, 27, 16}, {.dtype = DType::f64});
  Tensor v = randn({2, 3, 27, 8}, {.dtype = DType::f64}), g = randn({2, 3, 19, 8}, {.dtype = DType::f64});
  Tensor mask = logical_or(rand({3, 19, 27}) > 0.5, eq(arange(27), 4));  // bool, broadcast over batch
  for (double p : {0.0, 0.25}) {
    TensorList want, got;
    Tensor yc, yd;
    for (Device d : {Device::cpu(), dev()}) {
      Tensor qd = q.detach().to(d).requires_grad_(), kd = k.detach().to(d).requires_grad_();
      Tensor vd = v.detach().to(d).requires_grad_();
      manual_seed(77);
      Tensor y = scaled_dot_product_attention(qd, kd, vd, mask.to(d), p);
      TensorList grads = autograd::grad({y}, {qd, kd, vd}, {g.to(d)});
      (d.is_cpu() ? want : got) = grads;
      (d.is_cpu() ? yc : yd) = y;
    }
    const std::string what = "dropout " + std::to_string(p);
    expect_near(yd, yc, 1e-10, 1e-10, what + ": out");
    expect_near(got[0], want[0], 1e-10, 1e-10, what + ": dq");
    expect_near(got[1], want[1], 1e-10, 1e-10, what + ": dk");
    expect_near(got[2], want[2], 1e-10, 1e-10, what + ": dv");
  }
}

TEST_P(AttentionDevice, GradcheckThroughSdpa) {
  manual_seed(6);
  const TensorOptions o{.dtype = DType::f64, .device = dev()};
  Tensor q = randn({1, 2, 5, 6}, o).requires_grad_(), k = randn({1, 2, 7, 6}, o).requires_grad_();
  Tensor v = randn({1, 2, 7, 3}, o).requires_grad_();
  Tensor mask = randn({2, 5, 7}, o);
  struct Variant {
    const char* name;
    bool causal, masked;
    double dropout;
  };
  for (const Variant& var : {Variant{"plain", false, false, 0.0}, Variant{"causal", true, false, 0.0},
                             Variant{"mask", false, true, 0.0}, Variant{"causal dropout", true, false, 0.3},
                             Variant{"mask dropout", false, true, 0.5}}) {
    auto f = [&](const TensorList& t) {
      manual_seed(1234);  // every evaluation drops the same scores
      return TensorList{scaled_dot_product_attention(t[0], t[1], t[2], var.masked ? mask : Tensor(), var.dropout,
                                                     var.causal)};
    };
    const auto r = autograd::gradcheck(f, {q, k, v});
    EXPECT_TRUE(r.ok) << var.name << ": " << r.message;
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, AttentionDevice,
                         ::testing::Values(Run{Device::sim(), false}, Run{Device::sim(), true},
                                           Run{Device::cuda(), false}),
                         run_name);

}  // namespace
}  // namespace ember::simtest
