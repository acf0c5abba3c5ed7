// The op-case registry, in the spirit of ggml's test-backend-ops: one OpCase per
// (op, shapes, layout, dtype). Each case makes random inputs on any device, runs the
// ember op, knows a plain-loop double reference (registry/reference.h), its tolerance,
// and its FLOPs and bytes. The same registry drives the forward comparison of every
// device (registry/device_checks.h), the gradient checks (registry/grad_checks.h) and the
// timings against the roofline: the gtest suites and ember_ops (scripts/ops.sh,
// docs/ops.md) call the same checks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "registry/reference.h"
#include "tensor/ops.h"

namespace ember::cases {

using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;
using Refs = std::vector<ref::RefTensor>;

// An element passes when |actual - expected| <= atol + rtol * |expected|. Integer and
// bool outputs are always compared exactly.
struct Tolerance {
  double atol = 0.0;
  double rtol = 0.0;
};

struct OpCase {
  std::string name;  // "add/3x1_1x4/f32": op / inputs (T transposed, s strided, e expanded) / dtype
  std::string family;        // "unary", "binary", "compare", "reduce", "matmul", ...
  std::string op;            // the ember op under test: "add", "softmax", ...
  DType dtype = DType::f32;  // the dtype of the case's (first) inputs

  // Random inputs (never all zeros) for a device and dtype. Call inputs() instead,
  // which seeds the generator from the case name first.
  std::function<Inputs(Device, DType)> make_inputs;
  // Runs the ember op on the inputs; returns every output (values, indices, pieces).
  std::function<Outputs(const Inputs&)> run;
  // The expected outputs, from the inputs' values, in double.
  std::function<Refs(const Refs&)> reference;
  std::vector<DType> out_dtypes;  // expected dtype of each output (PyTorch's promotion)
  Tolerance tol;
  // Napkin math as formulas of the input shapes: floating-point operations and bytes
  // moved (inputs read once, outputs written once) per call.
  std::function<double(const Inputs&)> flops;
  std::function<double(const Inputs&)> bytes;
  // Inputs a gradient check may perturb (floating inputs of differentiable ops); empty
  // for non-differentiable cases (comparisons, casts, indices, ...).
  std::vector<int> grad_inputs;

  uint64_t seed() const;               // stable hash of the name
  Inputs inputs(Device device) const;  // manual_seed(seed()) + make_inputs
};

// Every case, built once.
const std::vector<OpCase>& op_cases();

// Host references of the inputs (read through their strides, no ember op involved).
Refs to_refs(const Inputs& inputs);

// Compares one output with its reference: dtype, shape, then every element. Returns ""
// when all match, else a report naming the first `max_report` mismatches by multi-index.
std::string compare(const Tensor& actual, const ref::RefTensor& expected, DType expected_dtype,
                    Tolerance tol, int max_report = 8);

// Runs a case on a device and compares every output; "" when all match.
std::string check_case(const OpCase& c, Device device);

// Makes every later host allocation (glibc malloc, so cpu and sim tensors) start filled
// with 0xFE bytes (-1.7e38 as f32, an invalid bool), so an output element a kernel
// forgets to write cannot pass for a right answer. False where not supported.
bool poison_host_allocations();

// "add/3x1_1x4/f32" -> "add_3x1_1x4_f32": a valid gtest parameter name.
std::string sanitize(const std::string& name);

}  // namespace ember::cases
