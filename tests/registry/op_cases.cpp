#include "registry/op_cases.h"

#include <cctype>
#include <cmath>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <exception>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include "kernels/cpu/host_cache.h"
#include "registry/builders.h"
#include "tensor/backends.h"

namespace ember::cases {

uint64_t OpCase::seed() const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : name) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

Inputs OpCase::inputs(Device device) const {
  manual_seed(seed());
  return make_inputs(device, dtype);
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> all = [] {
    std::vector<OpCase> v;
    add_elementwise_cases(v);
    add_compare_cases(v);
    add_reduce_cases(v);
    add_linalg_cases(v);
    add_shape_cases(v);
    add_index_cases(v);
    add_conv2d_cases(v);
    add_attention_cases(v);
    add_loss_cases(v);
    add_norm_cases(v);
    add_embedding_cases(v);
    add_optim_cases(v);
    add_optim_more_cases(v);
    add_fill_cases(v);
    add_linear_loss_cases(v);
    add_scan_cases(v);
    add_sort_cases(v);  // issue 15
    add_amp_cases(v);   // issue 16, scaler: GradScaler's primitives
    add_select_cases(v);
    add_pool_cases(v);
    add_conv_transpose_cases(v);
    add_pad_cases(v);
    add_reorder_cases(v);
    add_resample_cases(v);
    add_smooth_loss_cases(v);
    add_activation_cases(v);
    add_batch_norm_cases(v);
    add_group_norm_cases(v);
    add_lin_cases(v);
    add_matmul_half_cases(v);  // issue 16, autocast
    add_rms_norm_cases(v);
    add_rnn_cases(v);  // issue 15, rnn
    std::set<std::string> seen;
    for (const OpCase& c : v)
      if (!seen.insert(sanitize(c.name)).second)
        throw std::logic_error("op_cases: duplicate case name " + c.name);
    return v;
  }();
  return all;
}

Refs to_refs(const Inputs& inputs) {
  Refs r;
  for (const Tensor& t : inputs) r.push_back(ref::from_tensor(t));
  return r;
}

std::string compare(const Tensor& actual, const ref::RefTensor& expected, DType expected_dtype,
                    Tolerance tol, int max_report) {
  std::ostringstream os;
  os.precision(10);
  if (!actual.defined()) return "output is an undefined tensor";
  if (actual.dtype() != expected_dtype) {
    os << "dtype " << actual.dtype() << ", expected " << expected_dtype;
    return os.str();
  }
  if (actual.sizes() != expected.shape) {
    os << "shape " << str(actual.sizes()) << ", expected " << str(expected.shape);
    return os.str();
  }
  ref::RefTensor got = ref::from_tensor(actual);
  bool exact = !is_floating(expected_dtype);
  int64_t bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.data[static_cast<size_t>(i)], e = expected.data[static_cast<size_t>(i)];
    double limit = tol.atol + tol.rtol * std::fabs(e);
    bool ok = g == e || (std::isnan(g) && std::isnan(e)) ||
              (!exact && std::isfinite(e) && std::fabs(g - e) <= limit);
    if (ok) continue;
    if (bad++ < max_report) {
      os << "  at " << ref::index_str(ref::unravel(i, expected.shape)) << ": got " << g
         << ", expected " << e;
      if (!exact) os << " (|diff| " << std::fabs(g - e) << " > " << limit << ")";
      os << "\n";
    }
  }
  if (bad == 0) return "";
  std::ostringstream head;
  head << bad << " of " << got.numel() << " elements differ (shape " << str(expected.shape)
       << ", dtype " << expected_dtype << ", atol " << tol.atol << ", rtol " << tol.rtol << "):\n";
  return head.str() + os.str();
}

bool poison_host_allocations() {
  // The cpu device's block cache reuses blocks that malloc's fill would not reach.
  cpu::host_set_fill_byte(0xFE);
#if defined(__GLIBC__)
  // glibc fills new allocations with the complement of the perturb byte: 0x01 -> 0xFE.
  return mallopt(M_PERTURB, 0x01) == 1;
#else
  return false;
#endif
}

std::string check_case(const OpCase& c, Device device) {
  // f32 cases meet f64 references at f32 tolerances: TF32 convolutions (on by default on
  // `cuda`, as torch.backends.cudnn.allow_tf32) are off here, as in PyTorch's own tests.
  struct NoTf32 {
    bool before = backends::cudnn::allow_tf32;
    NoTf32() { backends::cudnn::allow_tf32 = false; }
    ~NoTf32() { backends::cudnn::allow_tf32 = before; }
  } no_tf32;
  try {
    Inputs in = c.inputs(device);
    Refs expected = c.reference(to_refs(in));
    if (expected.size() != c.out_dtypes.size())
      return "registry bug: " + std::to_string(expected.size()) + " references but " +
             std::to_string(c.out_dtypes.size()) + " output dtypes";
    Outputs out = c.run(in);
    if (out.size() != expected.size())
      return "op returned " + std::to_string(out.size()) + " outputs, expected " +
             std::to_string(expected.size());
    std::string report;
    for (size_t i = 0; i < out.size(); ++i) {
      std::string r = compare(out[i], expected[i], c.out_dtypes[i], c.tol);
      if (!r.empty()) report += "output " + std::to_string(i) + ": " + r + "\n";
    }
    return report;
  } catch (const std::exception& e) {
    return std::string("threw: ") + e.what();
  }
}

std::string sanitize(const std::string& name) {
  std::string s = name;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

}  // namespace ember::cases
