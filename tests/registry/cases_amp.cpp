// GradScaler's primitives (issue 16, scaler): raw::amp_unscale_ (PyTorch's
// _amp_foreach_non_finite_check_and_unscale_) and raw::amp_update_scale_ (_amp_update_scale_).
// Unscale: a group of tensors of many sizes (1 element to past the 65536-element chunk,
// sizes off the pack width, every third tensor misaligned), each inside a buffer two
// elements longer so a write outside the tensor is a mismatch; f32, f64 or both in one
// group; finite values, or an inf or a NaN in one tensor. found_inf starts at 0.25, so
// "left as it was" (no inf) and "set to 1" are told apart. inv_scale is 1/3 rounded to f32
// (an inexact product). The reference multiplies in f64 by the f32 inv_scale.
// Update: every branch: backoff, counting, growth, growth that would overflow (kept).
// Napkin math: unscale 1 flop and 2 accesses per element; the update O(1).
#include <cmath>
#include <limits>

#include "registry/builders.h"
#include "registry/reference_nn.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

const std::vector<int64_t> kSizes = {1, 2, 3, 4, 5, 7, 64, 127, 1000, 4097, 65536 + 5};

enum class Bad { none, inf, nan };

bool misaligned(size_t i) { return i % 3 == 2; }

OpCase base(const std::string& op, const std::string& tag, DType dt) {
  OpCase c;
  c.name = op + "/" + tag + "/" + dtype_tag(dt);
  c.family = op;
  c.op = op;
  c.dtype = dt;
  return c;
}

// Inputs: the buffers of the tensors, then found_inf, then inv_scale.
OpCase unscale_case(const std::string& tag, DType dt, bool mixed, Bad bad) {
  OpCase c = base("amp_unscale", tag, dt);
  const std::vector<int64_t> sizes = kSizes;
  const size_t nt = sizes.size();
  auto dtype_of = [mixed, dt](size_t i) { return mixed && i % 2 == 1 ? DType::f64 : dt; };
  c.make_inputs = [=](Device dev, DType) {
    Inputs in;
    for (size_t i = 0; i < nt; ++i) {
      Tensor b = randn({sizes[i] + 2}, {.dtype = dtype_of(i), .device = dev}) * 1000.0;
      if (sizes[i] == 4097 && bad != Bad::none)  // a bad value inside a packed stretch
        b.narrow(0, 1500, 1)
            .fill_(bad == Bad::inf ? -std::numeric_limits<double>::infinity()
                                   : std::numeric_limits<double>::quiet_NaN());
      in.push_back(b);
    }
    in.push_back(full({}, 0.25, {.dtype = DType::f32, .device = dev}));
    in.push_back(full({}, 1.0 / 3.0, {.dtype = DType::f32, .device = dev}));
    return in;
  };
  c.run = [=](const Inputs& x) {
    std::vector<Tensor> views;
    for (size_t i = 0; i < nt; ++i)
      views.push_back(x[i].narrow(0, misaligned(i) ? 1 : 0, sizes[i]));
    raw::amp_unscale_(views, x[nt], x[nt + 1]);
    return Outputs(x.begin(), x.end() - 1);
  };
  c.reference = [=](const Refs& x) {
    Refs r(x.begin(), x.end() - 1);
    const double inv = x[nt + 1].data[0];  // already the f32 rounding
    bool found = false;
    for (size_t i = 0; i < nt; ++i) {
      const int64_t at = misaligned(i) ? 1 : 0;
      for (int64_t k = at; k < at + sizes[i]; ++k) {
        double& v = r[i].data[static_cast<size_t>(k)];
        found = found || !std::isfinite(v);
        v *= inv;
      }
    }
    if (found) r[nt].data[0] = 1.0;
    return r;
  };
  for (size_t i = 0; i < nt; ++i) c.out_dtypes.push_back(dtype_of(i));
  c.out_dtypes.push_back(DType::f32);
  c.tol = {0.0, dt == DType::f64 && !mixed ? 1e-15 : 1e-7};
  // bf16/f16 (issue 16, halfnn2): the product in f32, rounded once (half an ulp; an f16
  // subnormal result has an absolute ulp of 2^-24).
  if (is_half(dt)) c.tol = {dt == DType::f16 ? 0x1p-24 : 0.0, dt == DType::bf16 ? 0x1p-8 : 0x1p-11};
  c.flops = [sizes](const Inputs&) {
    double n = 0;
    for (int64_t s : sizes) n += static_cast<double>(s);
    return n;
  };
  c.bytes = [nt](const Inputs& x) {
    double b = 8;
    for (size_t i = 0; i < nt; ++i)
      b += 2 * (bytes_of(x[i]) - 2.0 * static_cast<double>(x[i].element_size()));
    return b;
  };
  return c;
}

// Inputs: scale (f32), growth_tracker (i64), found_inf (f32); outputs scale and tracker.
OpCase update_case(const std::string& tag, double scale, int64_t tracker, float found,
                   const AmpScaleParams& p) {
  OpCase c = base("amp_update_scale", tag, DType::f32);
  c.make_inputs = [=](Device dev, DType) {
    // A random scale around the given one: the products are then inexact in f32.
    Tensor s = (rand({}, {.device = dev}) * 0.5 + 1.0) * scale;
    return Inputs{s, full({}, tracker, {.dtype = DType::i64, .device = dev}),
                  full({}, found, {.dtype = DType::f32, .device = dev})};
  };
  c.run = [p](const Inputs& x) {
    raw::amp_update_scale_(x[0], x[1], x[2], p);
    return Outputs{x[0], x[1]};
  };
  c.reference = [p](const Refs& x) {
    Refs r{x[0], x[1]};
    double& s = r[0].data[0];
    double& t = r[1].data[0];
    if (x[2].data[0] != 0.0) {
      s *= p.backoff_factor;
      t = 0;
    } else if (t + 1 == static_cast<double>(p.growth_interval)) {
      const double grown = s * p.growth_factor;
      if (grown <= std::numeric_limits<float>::max()) s = grown;
      t = 0;
    } else {
      t += 1;
    }
    return r;
  };
  c.out_dtypes = {DType::f32, DType::i64};
  c.tol = {0.0, 1e-7};
  c.flops = [](const Inputs&) { return 1.0; };
  c.bytes = [](const Inputs&) { return 4.0 + 8 + 4 + 4 + 8; };
  return c;
}

}  // namespace

void add_amp_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(unscale_case("finite", dt, false, Bad::none));
    out.push_back(unscale_case("inf", dt, false, Bad::inf));
    out.push_back(unscale_case("nan", dt, false, Bad::nan));
  }
  out.push_back(unscale_case("mixed_f32_f64_nan", DType::f32, true, Bad::nan));
  // bf16/f16 gradients, as torch's _amp_foreach_non_finite_check_and_unscale_ takes them.
  for (DType dt : {DType::bf16, DType::f16}) {
    out.push_back(unscale_case("finite", dt, false, Bad::none));
    out.push_back(unscale_case("inf", dt, false, Bad::inf));
    out.push_back(unscale_case("nan", dt, false, Bad::nan));
    out.push_back(unscale_case("mixed_f64_nan", dt, true, Bad::nan));
  }

  const AmpScaleParams torch_defaults{};  // x2 after 2000, x0.5
  const AmpScaleParams custom{.growth_factor = 3.0, .backoff_factor = 0.25, .growth_interval = 3};
  out.push_back(update_case("backoff", 65536.0, 1234, 1.0f, torch_defaults));
  out.push_back(update_case("backoff_summed_flags", 1024.0, 2, 2.0f, custom));
  out.push_back(update_case("count", 65536.0, 1234, 0.0f, torch_defaults));
  out.push_back(update_case("grow", 65536.0, 1999, 0.0f, torch_defaults));
  out.push_back(update_case("grow_custom", 10.0, 2, 0.0f, custom));
  out.push_back(update_case("grow_overflow_kept", 2e38, 1999, 0.0f, torch_defaults));
}

}  // namespace ember::cases
