#include "tensor/backend.h"

#include <array>
#include <mutex>
#include <vector>

#include "tensor/error.h"
#include "tensor/raw.h"
#include "tensor/tensor.h"

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

// The optional primitives' defaults: the op layer calls a method only when supports()
// said yes, so reaching one means a backend claimed a primitive it does not implement.
namespace {
[[noreturn]] void unimplemented(Primitive op) {
  fail<InternalError>(to_string(op), "the backend says it supports ", to_string(op),
                      " but does not implement it");
}
}  // namespace

bool is_optional(Primitive op) { return op >= Primitive::adam_step; }

bool Backend::supports(Primitive op, DType) const { return !is_optional(op); }

void Backend::check_index_range(const char* op, const Tensor& index, int64_t bound,
                                int64_t ignore) {
  std::vector<int64_t> host(static_cast<size_t>(index.numel()));
  copy_to_host(host.data(), index.raw_data(), host.size() * sizeof(int64_t));
  for (int64_t v : host)
    if (v != ignore && (v < 0 || v >= bound))
      fail<IndexError>(op, "index ", v, " is out of bounds for size ", bound);
}

void Backend::conv2d_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                             const Conv2dParams&) {
  unimplemented(Primitive::conv2d);
}
void Backend::conv2d_backward_input(const Tensor&, const Tensor&, const Tensor&,
                                    const Conv2dParams&) {
  unimplemented(Primitive::conv2d);
}
void Backend::conv2d_backward_weight(const Tensor&, const Tensor&, const Tensor&,
                                     const Conv2dParams&) {
  unimplemented(Primitive::conv2d);
}
void Backend::conv2d_backward(const Conv2dBackwardArgs& a, const Conv2dParams& p) {
  if (a.grad_x.defined()) conv2d_backward_input(a.grad_x, a.grad_out, a.w, p);
  if (a.grad_w.defined()) conv2d_backward_weight(a.grad_w, a.grad_out, a.x, p);
  // The bias gradient is grad_out summed over N, P and Q: the op layer's reduction (over P Q
  // in place, then over N; one rounding for bf16/f16) on this backend.
  if (a.grad_b.defined())
    copy(a.grad_b, raw::reduce(ReduceOp::sum, a.grad_out, {0, 2, 3}, false, 0));
}
void Backend::pool2d_forward(const Tensor&, const Tensor&, const Tensor&, const Pool2dParams&) {
  unimplemented(Primitive::pool2d);
}
void Backend::pool2d_backward(const Tensor&, const Tensor&, const Tensor&, const Pool2dParams&) {
  unimplemented(Primitive::pool2d);
}
void Backend::attention_forward(const AttentionForwardArgs&, const AttentionParams&) {
  unimplemented(Primitive::attention);
}
void Backend::attention_backward(const AttentionBackwardArgs&, const AttentionParams&) {
  unimplemented(Primitive::attention);
}
void Backend::adam_step(const std::vector<AdamTensors>&, const AdamStepParams&) {
  unimplemented(Primitive::adam_step);
}
void Backend::sgd_step(const std::vector<SgdTensors>&, const SgdStepParams&) {
  unimplemented(Primitive::sgd_step);
}
void Backend::rmsprop_step(const std::vector<RmspropTensors>&, const RmspropStepParams&) {
  unimplemented(Primitive::rmsprop_step);
}
void Backend::adagrad_step(const std::vector<AdagradTensors>&, const AdagradStepParams&) {
  unimplemented(Primitive::adagrad_step);
}
void Backend::nadam_step(const std::vector<NadamTensors>&, const NadamStepParams&) {
  unimplemented(Primitive::nadam_step);
}
void Backend::radam_step(const std::vector<RadamTensors>&, const RadamStepParams&) {
  unimplemented(Primitive::radam_step);
}
void Backend::multi_norm(const Tensor&, const std::vector<const Tensor*>&, double) {
  unimplemented(Primitive::multi_norm);
}
void Backend::amp_unscale(const std::vector<const Tensor*>&, const Tensor&, const Tensor&) {
  unimplemented(Primitive::amp_unscale);
}
void Backend::amp_update_scale(const Tensor&, const Tensor&, const Tensor&, const AmpScaleParams&) {
  unimplemented(Primitive::amp_update_scale);
}
void Backend::layer_norm_forward(const LayerNormForwardArgs&, const LayerNormParams&) {
  unimplemented(Primitive::layer_norm);
}
void Backend::layer_norm_backward(const LayerNormBackwardArgs&, const LayerNormParams&) {
  unimplemented(Primitive::layer_norm);
}
void Backend::rms_norm_forward(const RmsNormForwardArgs&, const RmsNormParams&) {
  unimplemented(Primitive::rms_norm);
}
void Backend::rms_norm_backward(const RmsNormBackwardArgs&, const RmsNormParams&) {
  unimplemented(Primitive::rms_norm);
}
void Backend::gelu_backward(const Tensor&, const Tensor&, const Tensor&, bool) {
  unimplemented(Primitive::gelu_backward);  // issue 15, perf
}
void Backend::embedding_forward(const Tensor&, const Tensor&, const Tensor&) {
  unimplemented(Primitive::embedding);
}
void Backend::embedding_backward(const Tensor&, const Tensor&, const Tensor&, int64_t) {
  unimplemented(Primitive::embedding);
}
void Backend::upsample_bilinear_forward(const Tensor&, const Tensor&,
                                        const UpsampleBilinearParams&) {
  unimplemented(Primitive::upsample_bilinear);
}
void Backend::upsample_bilinear_backward(const Tensor&, const Tensor&,
                                         const UpsampleBilinearParams&) {
  unimplemented(Primitive::upsample_bilinear);
}
void Backend::cross_entropy_forward(const CrossEntropyForwardArgs&, const CrossEntropyParams&) {
  unimplemented(Primitive::cross_entropy);
}
void Backend::cross_entropy_backward(const CrossEntropyBackwardArgs&, const CrossEntropyParams&) {
  unimplemented(Primitive::cross_entropy);
}
void Backend::batch_norm_forward(const BatchNormForwardArgs&, const BatchNormParams&) {
  unimplemented(Primitive::batch_norm);
}
void Backend::batch_norm_backward(const BatchNormBackwardArgs&, const BatchNormParams&) {
  unimplemented(Primitive::batch_norm);
}
void Backend::group_norm_forward(const GroupNormForwardArgs&, const GroupNormParams&) {
  unimplemented(Primitive::group_norm);
}
void Backend::group_norm_backward(const GroupNormBackwardArgs&, const GroupNormParams&) {
  unimplemented(Primitive::group_norm);
}

// Recurrent cells (issue 15, rnn).
void Backend::lstm_cell_forward(const LstmCellForwardArgs&) { unimplemented(Primitive::lstm_cell); }
void Backend::lstm_cell_backward(const LstmCellBackwardArgs&) {
  unimplemented(Primitive::lstm_cell);
}
void Backend::gru_cell_forward(const GruCellForwardArgs&) { unimplemented(Primitive::gru_cell); }
void Backend::gru_cell_backward(const GruCellBackwardArgs&) { unimplemented(Primitive::gru_cell); }

void Backend::scan(ScanOp, const Tensor&, const Tensor&, bool) { unimplemented(Primitive::scan); }

// sorting and sampling (issue 15)
void Backend::sort(const Tensor&, const Tensor&, const Tensor&, bool) {
  unimplemented(Primitive::sort);
}
void Backend::multinomial(const Tensor&, const Tensor&, const Tensor&, bool, uint64_t, uint64_t) {
  unimplemented(Primitive::multinomial);
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

// Several devices of one type (issue 17, multidev).
Backend& backend(Device d) {
  Backend& b = backend(d.type);
  if (d.type == DeviceType::cpu && d.index == 0) return b;  // the one host: nothing to select
  if (d.index < 0 || d.index >= b.device_count())
    fail<DeviceError>(d.str(), "invalid device ordinal ", d.index, ": ", device_type_name(d.type),
                      " has ", b.device_count(), " device(s)");
  b.set_device(d.index);
  return b;
}

void Backend::copy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes) {
  std::vector<char> staging(nbytes);
  set_device(src_index);
  copy_to_host(staging.data(), src, nbytes);
  set_device(dst_index);
  copy_from_host(dst, staging.data(), nbytes);
}

const char* to_string(Primitive op) {
  switch (op) {
    case Primitive::copy: return "copy";
    case Primitive::fill: return "fill";
    case Primitive::unary: return "unary";
    case Primitive::binary: return "binary";
    case Primitive::where: return "where";
    case Primitive::reduce: return "reduce";
    case Primitive::matmul: return "matmul";
    case Primitive::softmax: return "softmax";
    case Primitive::random: return "random";
    case Primitive::index_select: return "index_select";
    case Primitive::gather: return "gather";
    case Primitive::scatter_add: return "scatter_add";
    case Primitive::check_index_range: return "check_index_range";
    case Primitive::adam_step: return "adam_step";
    case Primitive::sgd_step: return "sgd_step";
    case Primitive::multi_norm: return "multi_tensor_norm";
    case Primitive::cross_entropy: return "cross_entropy";
    case Primitive::conv2d: return "conv2d";
    case Primitive::attention: return "attention";
    case Primitive::layer_norm: return "layer_norm";
    case Primitive::embedding: return "embedding";
    case Primitive::upsample_bilinear: return "upsample_bilinear";
    case Primitive::scan: return "scan";
    case Primitive::pool2d: return "pool2d";
    case Primitive::batch_norm: return "batch_norm";
    case Primitive::group_norm: return "group_norm";
    case Primitive::rmsprop_step: return "rmsprop_step";
    case Primitive::adagrad_step: return "adagrad_step";
    case Primitive::nadam_step: return "nadam_step";
    case Primitive::radam_step: return "radam_step";
    case Primitive::rms_norm: return "rms_norm";
    case Primitive::lstm_cell: return "lstm_cell";  // issue 15, rnn
    case Primitive::gru_cell: return "gru_cell";
    case Primitive::sort: return "sort";
    case Primitive::multinomial: return "multinomial";
    case Primitive::amp_unscale: return "amp_unscale";  // issue 16, scaler
    case Primitive::amp_update_scale: return "amp_update_scale";
    case Primitive::gelu_backward: return "gelu_backward";  // issue 15, perf
  }
  return "?";
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
    case BinaryOp::relu_backward: return "relu_backward";
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

const char* to_string(ScanOp op) { return op == ScanOp::sum ? "cumsum" : "cumprod"; }

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

}  // namespace ember
