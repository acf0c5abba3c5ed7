#include "tensor/backend.h"

#include <array>
#include <mutex>

#include "tensor/error.h"

namespace ember {

namespace {
std::array<Backend*, kNumDeviceTypes>& slots() {
  static std::array<Backend*, kNumDeviceTypes> backends{};
  return backends;
}

// The slots, after the built-in backends have registered themselves.
std::array<Backend*, kNumDeviceTypes>& registry() {
  static std::once_flag once;
  std::call_once(once, [] { detail::register_builtin_backends(); });
  return slots();
}

const char* device_type_name(DeviceType t) {
  switch (t) {
    case DeviceType::cpu: return "cpu";
    case DeviceType::cuda: return "cuda";
    case DeviceType::sim: return "sim";
  }
  return "?";
}
}  // namespace

void register_backend(Backend* b) {
  auto idx = static_cast<size_t>(b->device_type());
  EMBER_CHECK(idx < kNumDeviceTypes);
  slots()[idx] = b;
}

// Optional primitives: reaching these means has_*() was true but the method was not overridden.
void Backend::conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  fail<InternalError>("conv2d", "backend declares conv2d but does not implement its forward");
}
void Backend::conv2d_backward_input(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  fail<InternalError>("conv2d", "backend declares conv2d but does not implement backward_input");
}
void Backend::conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&, const Conv2dParams&) {
  fail<InternalError>("conv2d", "backend declares conv2d but does not implement backward_weight");
}
void Backend::attention_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&, const Tensor&, const AttentionParams&) {
  fail<InternalError>("attention", "backend declares attention but does not implement its forward");
}
void Backend::attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const AttentionParams&) {
  fail<InternalError>("attention", "backend declares attention but does not implement its backward");
}

void Backend::adam_step(const std::vector<AdamTensors>&, const AdamStepParams&) {
  fail<InternalError>("adam_step", "backend declares fused optimizers but does not implement adam_step");
}
void Backend::sgd_step(const std::vector<SgdTensors>&, const SgdStepParams&) {
  fail<InternalError>("sgd_step", "backend declares fused optimizers but does not implement sgd_step");
}

void Backend::multi_norm(const Tensor&, const std::vector<const Tensor*>&, double) {
  fail<InternalError>("multi_tensor_norm", "backend declares multi_norm but does not implement it");
}

void Backend::cross_entropy_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                    const CrossEntropyParams&) {
  fail<InternalError>("cross_entropy", "backend declares cross_entropy but does not implement its forward");
}
void Backend::cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                     const Tensor&, const CrossEntropyParams&) {
  fail<InternalError>("cross_entropy", "backend declares cross_entropy but does not implement its backward");
}

bool backend_available(DeviceType type) {
  Backend* b = registry()[static_cast<size_t>(type)];
  return b != nullptr && b->available();
}

Backend& backend(DeviceType type) {
  Backend* b = registry()[static_cast<size_t>(type)];
  if (b == nullptr)
    fail<DeviceError>("backend", "device type '", device_type_name(type),
                      "' is not built into this ember library");
  if (!b->available())
    fail<DeviceError>("backend", "device type '", device_type_name(type),
                      "' is built in but no device is available");
  return *b;
}

const char* to_string(UnaryOp op) {
  switch (op) {
#define EMBER_UNARY_NAME(op_, name, float_only) \
  case UnaryOp::op_: return name;
    EMBER_UNARY_OPS(EMBER_UNARY_NAME)
#undef EMBER_UNARY_NAME
  }
  return "?";
}

const char* to_string(BinaryOp op) {
  switch (op) {
    case BinaryOp::add: return "add";
    case BinaryOp::sub: return "sub";
    case BinaryOp::mul: return "mul";
    case BinaryOp::div: return "div";
    case BinaryOp::pow: return "pow";
    case BinaryOp::maximum: return "maximum";
    case BinaryOp::minimum: return "minimum";
    case BinaryOp::eq: return "eq";
    case BinaryOp::ne: return "ne";
    case BinaryOp::lt: return "lt";
    case BinaryOp::le: return "le";
    case BinaryOp::gt: return "gt";
    case BinaryOp::ge: return "ge";
    case BinaryOp::logical_and: return "logical_and";
    case BinaryOp::logical_or: return "logical_or";
  }
  return "?";
}

const char* to_string(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::prod: return "prod";
    case ReduceOp::mean: return "mean";
    case ReduceOp::max: return "amax";
    case ReduceOp::min: return "amin";
    case ReduceOp::var: return "var";
  }
  return "?";
}

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

}  // namespace ember
