// conv2d's three backend primitives on the GPU devices: the implicit-GEMM kernels
// (kernels/cuda/conv2d.cu) on `sim` in the sequential and the shuffled schedule, and on
// `cuda` ember's kernels (FMA and TF32) and cuDNN (skipped without a GPU). Each result
// is compared with the cpu backend's, computed in f64 from the same random inputs; the
// device output is filled with NaN before the kernel, so an element never written fails.
// Then the op layer on sim (non-contiguous input, bias), nn::Conv2d against the cpu,
// and gradcheck through nn::functional::conv2d on sim in f64.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "cuda_required.h"
#include "kernels/sim/scheduler.h"
#include "tensor/backends.h"
#include "tensor/raw.h"

#if EMBER_HAVE_CUDA
#define EMBER_VARIANT_CUDA 1  // from here on, the cuda build's backend controls
#include "kernels/cuda/cudnn_conv.h"
#endif
#include "kernels/cuda/fast_div.h"  // after the variant is chosen: either build's FastDiv

namespace ember::simtest {
namespace {

using autograd::TensorList;

// Where the primitives run: a device, the simulator's schedule, and on cuda which
// implementation (ember's kernels, with or without TF32, or cuDNN).
struct Variant {
  const char* name;
  DeviceType device;
  sim::Schedule schedule = sim::Schedule::sequential;
  bool cudnn = false;
  bool tf32 = false;
};

std::string variant_name(const ::testing::TestParamInfo<Variant>& info) { return info.param.name; }

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, K, R, S;
  Conv2dParams p;
};

Conv2dParams params(int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh = 1, int64_t dw = 1, int64_t g = 1) {
  return {.stride_h = sh, .stride_w = sw, .pad_h = ph, .pad_w = pw, .dilation_h = dh, .dilation_w = dw, .groups = g};
}

// Small but varied: odd sizes, strides 1-3 (and 5 x 4), padding, dilation, groups
// (depthwise too, which has direct kernels), batch 1 and more, channel counts that are
// not multiples of the 64 x 64 tile (and more than one tile), 1x1 and 5x5 kernels,
// non-square kernels and strides.
const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> v = {
      {"3x3_pad1", 2, 3, 9, 11, 5, 3, 3, params(1, 1, 1, 1)},
      {"3x3_stride2_pad1", 1, 4, 10, 9, 6, 3, 3, params(2, 2, 1, 1)},
      {"5x5_stride3_pad2", 2, 3, 13, 12, 4, 5, 5, params(3, 3, 2, 2)},
      {"5x5_nopad", 1, 3, 12, 11, 9, 5, 5, params(1, 1, 0, 0)},
      {"3x3_dilation2", 1, 5, 11, 10, 7, 3, 3, params(1, 1, 2, 2, 2, 2)},
      {"mixed_stride_dilation", 2, 3, 10, 13, 4, 3, 2, params(1, 2, 1, 3, 2, 3)},
      {"groups2", 2, 6, 8, 7, 4, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      {"groups3_1x3", 1, 9, 6, 8, 6, 1, 3, params(1, 2, 0, 1, 1, 1, 3)},
      {"depthwise", 2, 8, 9, 9, 8, 3, 3, params(1, 1, 1, 1, 1, 1, 8)},
      {"depthwise_x2_5x5_stride2", 1, 4, 11, 10, 8, 5, 5, params(2, 2, 2, 2, 1, 1, 4)},
      {"depthwise_plane_over_a_block", 2, 3, 20, 19, 3, 3, 3, params(1, 1, 1, 1, 2, 1, 3)},
      {"depthwise_dilated_strided", 1, 5, 13, 12, 5, 3, 3, params(2, 3, 2, 1, 2, 2, 5)},
      {"1x1_over_tile", 3, 70, 5, 6, 67, 1, 1, params(1, 1, 0, 0)},
      {"1x1_stride2", 2, 5, 7, 9, 3, 1, 1, params(2, 2, 0, 0)},
      {"channels_17_to_66", 4, 17, 6, 6, 66, 3, 3, params(1, 1, 1, 1)},
      // backward-weight: N P Q = 1024 over one 64 x 64 tile, so Kd is split (8 ranges)
      {"long_reduction", 4, 8, 16, 16, 16, 3, 3, params(1, 1, 1, 1)},
      // backward-weight split in 5 uneven ranges, with stride, dilation and padding
      {"long_reduction_strided_dilated", 3, 5, 20, 18, 7, 3, 3, params(2, 1, 2, 1, 2, 1)},
      {"groups2_two_m_tiles", 1, 4, 5, 5, 140, 3, 3, params(1, 1, 1, 1, 1, 1, 2)},
      {"c130_three_m_tiles_backward", 1, 130, 4, 4, 9, 3, 3, params(1, 1, 1, 1)},
      // backward-input: 5 x 4 = 20 output phases, two launches of up to 16
      {"stride5x4_many_phases", 2, 3, 11, 9, 4, 3, 2, params(5, 4, 1, 1)},
      {"one_output_pixel", 3, 4, 3, 3, 5, 3, 3, params(1, 1, 0, 0)},
      {"width_1", 2, 3, 7, 1, 4, 3, 1, params(2, 1, 1, 0)},
  };
  return v;
}

std::string name(DType dt) {
  std::ostringstream os;
  os << dt;
  return os.str();
}

std::string describe(const ConvCase& c) {
  std::ostringstream os;
  os << c.name << ": x (" << c.N << ", " << c.C << ", " << c.H << ", " << c.W << "), w (" << c.K << ", "
     << c.C / c.p.groups << ", " << c.R << ", " << c.S << "), stride [" << c.p.stride_h << ", " << c.p.stride_w
     << "], padding [" << c.p.pad_h << ", " << c.p.pad_w << "], dilation [" << c.p.dilation_h << ", "
     << c.p.dilation_w << "], groups " << c.p.groups;
  return os.str();
}

// The operands of one case on the cpu in f64 (random, never zeros), from one seed.
struct Operands {
  Tensor x, w, bias, grad_out;
  Shape out_shape;
};

Operands make_operands(const ConvCase& c, uint64_t seed) {
  manual_seed(seed);
  const TensorOptions f64{.dtype = DType::f64};
  Operands o;
  o.x = randn({c.N, c.C, c.H, c.W}, f64);
  o.w = randn({c.K, c.C / c.p.groups, c.R, c.S}, f64);
  o.bias = randn({c.K}, f64);
  o.out_shape = raw::conv2d_output_shape(o.x.sizes(), o.w.sizes(), c.p);
  o.grad_out = randn(o.out_shape, f64);
  return o;
}

// Every element of `got` (a device result) is a number and |got - want| <= atol +
// rtol |want|; names the first mismatches with their indices.
void expect_close(const Tensor& got, const Tensor& want, double atol, double rtol, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  const std::vector<double> g = got.cpu().to_vector<double>(), w = want.to_vector<double>();
  int bad = 0;
  std::ostringstream os;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isnan(g[i]) && std::fabs(g[i] - w[i]) <= atol + rtol * std::fabs(w[i])) continue;
    if (bad++ < 5) os << "\n  [" << i << "] got " << g[i] << ", want " << w[i];
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements differ" << os.str();
}

#if EMBER_HAVE_CUDA
int rt_major() { return cuda_impl::rt::props().major; }
#endif

class Conv2dDevice : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    const Variant& v = GetParam();
    if (v.device == DeviceType::cuda) {
      EMBER_SKIP_WITHOUT_CUDA();
#if EMBER_HAVE_CUDA
      if (v.cudnn && !cuda_impl::cudnn_conv_available())
        GTEST_SKIP() << "cuDNN cannot be loaded (libcudnn.so.N on the loader path?)";
      if (v.tf32 && rt_major() < 8) GTEST_SKIP() << "TF32 needs sm_80 or newer";
      backends::cuda::conv = v.cudnn ? backends::ConvImpl::cudnn : backends::ConvImpl::ember;
      backends::cuda::conv_tf32 = v.tf32;
#endif
    }
    schedule_.emplace(v.schedule, sim::schedule_seed());
  }
  void TearDown() override {
#if EMBER_HAVE_CUDA
    if (GetParam().device == DeviceType::cuda && backend_available(DeviceType::cuda)) {
      backends::cuda::conv = backends::ConvImpl::automatic;
      backends::cuda::conv_tf32 = false;
    }
#endif
    schedule_.reset();
  }

  Device dev() const { return Device(GetParam().device); }
  Backend& be() const { return backend(dev()); }

  // A NaN-filled output of `shape` on the device.
  Tensor poisoned(const Shape& shape, DType dtype) const {
    return full(shape, std::numeric_limits<double>::quiet_NaN(), {.dtype = dtype, .device = dev()});
  }
  // Tolerances for a sum of `terms` products of N(0, 1) numbers in `dtype`.
  void tolerances(DType dtype, int64_t terms, double* atol, double* rtol) const {
    const double t = static_cast<double>(terms);
    if (dtype == DType::f64) {
      *atol = 1e-13 * (1 + t), *rtol = 1e-12;
    } else if (GetParam().tf32) {  // 10-bit mantissas: relative errors ~5e-4 per product
      *atol = 4e-3 * std::sqrt(t) + 1e-3, *rtol = 4e-3;
    } else {
      *atol = 2e-6 * (1 + t), *rtol = 1e-5;
    }
  }
  std::vector<DType> dtypes() const {
    if (GetParam().tf32 || GetParam().cudnn) return {DType::f32};  // f64 on cuda is ember's kernels
    return {DType::f32, DType::f64};
  }

 private:
  std::optional<sim::ScheduleGuard> schedule_;
};

TEST_P(Conv2dDevice, ForwardMatchesCpu) {
  for (const ConvCase& c : cases()) {
    const Operands o = make_operands(c, 100);
    const Tensor want = conv2d(o.x, o.w, o.bias, c.p);  // the cpu backend, f64
    for (DType dt : dtypes()) {
      for (bool with_bias : {true, false}) {
        const Tensor x = o.x.to(dev(), dt), w = o.w.to(dev(), dt);
        const Tensor b = with_bias ? o.bias.to(dev(), dt) : Tensor();
        Tensor out = poisoned(o.out_shape, dt);
        be().conv2d_forward(out, x, w, b, c.p);
        double atol, rtol;
        tolerances(dt, c.C / c.p.groups * c.R * c.S, &atol, &rtol);
        const Tensor ref = with_bias ? want : conv2d(o.x, o.w, Tensor(), c.p);
        expect_close(out, ref, atol, rtol, describe(c) + (with_bias ? ", bias, " : ", no bias, ") + name(dt));
      }
    }
  }
}

TEST_P(Conv2dDevice, BackwardInputMatchesCpu) {
  for (const ConvCase& c : cases()) {
    const Operands o = make_operands(c, 200);
    const Tensor want = raw::conv2d_backward_input(o.x.sizes(), o.grad_out, o.w, c.p);
    for (DType dt : dtypes()) {
      Tensor grad_x = poisoned(o.x.sizes(), dt);
      be().conv2d_backward_input(grad_x, o.grad_out.to(dev(), dt), o.w.to(dev(), dt), c.p);
      double atol, rtol;
      tolerances(dt, c.K / c.p.groups * c.R * c.S, &atol, &rtol);
      expect_close(grad_x, want, atol, rtol, describe(c) + ", " + name(dt));
    }
  }
}

TEST_P(Conv2dDevice, BackwardWeightMatchesCpu) {
  for (const ConvCase& c : cases()) {
    const Operands o = make_operands(c, 300);
    const Tensor want = raw::conv2d_backward_weight(o.w.sizes(), o.grad_out, o.x, c.p);
    for (DType dt : dtypes()) {
      Tensor grad_w = poisoned(o.w.sizes(), dt);
      be().conv2d_backward_weight(grad_w, o.grad_out.to(dev(), dt), o.x.to(dev(), dt), c.p);
      double atol, rtol;
      tolerances(dt, c.N * o.out_shape[2] * o.out_shape[3], &atol, &rtol);
      expect_close(grad_w, want, atol, rtol, describe(c) + ", " + name(dt));
    }
  }
}

// Through the op layer: a non-contiguous input (made contiguous there), a bias, and the
// three primitives of one forward and backward, against the same on the cpu.
TEST_P(Conv2dDevice, OpForwardBackwardOfATransposedInput) {
  manual_seed(7);
  const TensorOptions f64{.dtype = DType::f64};
  const Tensor xt = randn({2, 6, 9, 7}, f64), w = randn({4, 3, 3, 3}, f64), b = randn({4}, f64);
  const Conv2dParams p = params(2, 1, 1, 2, 1, 2, 2);
  auto run = [&](Device d, DType dt, TensorList* grads) {
    Tensor x = xt.to(d, dt).detach().requires_grad_();
    Tensor wd = w.to(d, dt).detach().requires_grad_(), bd = b.to(d, dt).detach().requires_grad_();
    Tensor y = conv2d(x.transpose(2, 3), wd, bd, p);  // x^T (2, 6, 7, 9): strided
    *grads = autograd::grad({(y * y).sum()}, {x, wd, bd});
    return y;
  };
  TensorList want_grads, got_grads;
  const Tensor want = run(Device::cpu(), DType::f64, &want_grads);
  const DType dt = (GetParam().tf32 || GetParam().cudnn) ? DType::f32 : DType::f64;
  const Tensor got = run(dev(), dt, &got_grads);
  EXPECT_EQ(got.device(), dev());
  const double tol = dt == DType::f64 ? 1e-10 : 2e-2;
  expect_close(got, want, tol, tol, "forward");
  const char* names[] = {"grad x", "grad w", "grad bias"};
  for (size_t i = 0; i < 3; ++i) expect_close(got_grads[i], want_grads[i], tol * 10, tol, names[i]);
}

const Variant kVariants[] = {
    {"sim_sequential", DeviceType::sim, sim::Schedule::sequential},
    {"sim_shuffled", DeviceType::sim, sim::Schedule::shuffled},
    {"cuda_ember", DeviceType::cuda},
    {"cuda_ember_tf32", DeviceType::cuda, sim::Schedule::sequential, false, true},
    {"cuda_cudnn", DeviceType::cuda, sim::Schedule::sequential, true},
};
INSTANTIATE_TEST_SUITE_P(Variants, Conv2dDevice, ::testing::ValuesIn(kVariants), variant_name);

// The kernels' division by a launch-time constant, against `/` on every divisor up to
// 600 and dividends up to the 2^31 - 1 its callers stay below.
TEST(Conv2dSim, FastDivMatchesDivision) {
  const std::vector<int> ns = {0, 1, 2, 3, 63, 64, 65, 1000, 65535, 65536, 1 << 20, 123456789,
                               (1 << 30) + 7, 2147483646, 2147483647};
  int bad = 0;
  for (int d = 1; d <= 600; ++d) {
    const EMBER_VARIANT::FastDiv f(static_cast<uint32_t>(d));
    for (int n : ns) {
      for (int k = 0; k < 3; ++k) {
        const int v = n - k >= 0 ? n - k : 0;
        int r;
        const int q = f.divmod(v, &r);
        if ((q != v / d || r != v % d) && bad++ < 5) ADD_FAILURE() << v << " / " << d << ": got " << q << " rem " << r;
      }
    }
  }
  for (uint32_t d : {1000003u, 1u << 30, (1u << 31) - 1}) {
    const EMBER_VARIANT::FastDiv f(d);
    for (int n : ns) EXPECT_EQ(f.div(n), n / static_cast<int>(d)) << n << " / " << d;
  }
}

// nn::Conv2d moved to sim: the same output and parameter gradients as on the cpu.
TEST(Conv2dSim, ModuleMatchesCpu) {
  manual_seed(11);
  auto on_cpu = nn::Conv2d::make(6, 10, 3, {.stride = 2, .padding = 1, .groups = 2});
  auto on_sim = nn::Conv2d::make(6, 10, 3, {.stride = 2, .padding = 1, .groups = 2});
  on_cpu->to(DType::f64);
  on_sim->to(DType::f64);
  {
    NoGradGuard no_grad;
    on_sim->weight.copy_(on_cpu->weight);
    on_sim->bias.copy_(on_cpu->bias);
  }
  on_sim->to(Device::sim());
  const Tensor x = randn({3, 6, 11, 10}, {.dtype = DType::f64});
  const Tensor y_cpu = on_cpu->forward(x), y_sim = on_sim->forward(x.to(Device::sim()));
  EXPECT_EQ(y_sim.device(), Device::sim());
  expect_close(y_sim, y_cpu, 1e-12, 1e-12, "nn::Conv2d forward");
  (y_cpu * y_cpu).sum().backward();
  (y_sim * y_sim).sum().backward();
  expect_close(on_sim->weight.grad(), on_cpu->weight.grad(), 1e-10, 1e-12, "weight grad");
  expect_close(on_sim->bias.grad(), on_cpu->bias.grad(), 1e-10, 1e-12, "bias grad");
}

// The derivative rules through the sim kernels, against finite differences (f64).
TEST(Conv2dSim, Gradcheck) {
  manual_seed(12);
  const TensorOptions opt{.dtype = DType::f64, .device = Device::sim()};
  struct G {
    Shape x, w;
    Conv2dParams p;
  };
  const std::vector<G> gs = {
      {{2, 4, 5, 6}, {6, 2, 3, 3}, params(2, 1, 1, 2, 1, 2, 2)},  // groups, stride, dilation
      {{1, 3, 6, 5}, {3, 1, 3, 3}, params(1, 1, 1, 1, 1, 1, 3)},  // depthwise
  };
  for (const G& c : gs) {
    Tensor x = randn(c.x, opt).requires_grad_(), w = randn(c.w, opt).requires_grad_();
    Tensor b = randn({c.w[0]}, opt).requires_grad_();
    const Conv2dParams p = c.p;
    auto f = [p](const TensorList& t) { return TensorList{nn::functional::conv2d(t[0], t[1], t[2], p)}; };
    const auto r = autograd::gradcheck(f, {x, w, b});
    EXPECT_TRUE(r.ok) << str(c.x) << " " << str(c.w) << ": " << r.message;
    EXPECT_GT(r.entries, 0);
  }
}

}  // namespace
}  // namespace ember::simtest
