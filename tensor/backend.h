// Backend: the whole contract a device must meet, and the registry of devices. The op
// enums, parameter and operand structs the primitives take are in tensor/backend_args.h.
//
// The op layer (tensor/raw_*.cpp) validates arguments, computes output shapes and
// dtypes, allocates outputs on the inputs' device and calls one primitive below.
// A primitive may assume what its comment promises; it never sees a user mistake
// except out-of-range index *values*, which live in device memory and are checked
// by the kernel (IndexError naming the op: at once on the cpu; on sim and cuda at the
// next synchronization the user causes, see kernels/cuda/index_flag.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensor/backend_args.h"
#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/scalar.h"
#include "tensor/tensor.h"

namespace ember {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual DeviceType device_type() const = 0;
  // False for a backend that is built in but has no device now (cuda with no GPU).
  virtual bool available() const { return true; }
  // Whether this backend runs `op` for operands of `dtype` with its own kernel. Every
  // backend supports the required primitives; the default says no to the optional ones.
  virtual bool supports(Primitive op, DType dtype) const;

  // ---- memory ----------------------------------------------------------------
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) noexcept = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t nbytes) = 0;
  virtual void synchronize() {}

  // ---- several devices of one type (issue 17, multidev) ------------------------
  // The devices of this type (cuda: the GPUs visible; sim: the simulated ones), and the
  // calling thread's current one: the device whose memory, stream and library handles the
  // other methods use. backend(Device) makes the tensor's device current before a call.
  virtual int device_count() const { return 1; }
  virtual int current_device() const { return 0; }
  virtual void set_device(int /*index*/) {}
  // Copies nbytes from src on device src_index to dst on device dst_index (both of this
  // type); returns when the copy is done. The default stages through the host.
  virtual void copy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes);

  // ---- primitives ------------------------------------------------------------
  // All tensors passed to one call live on this backend's device. "Expanded" means
  // the tensor has the output's shape, with stride 0 along broadcast dims.

  // out[i] = cast(in[i]); in is expanded to out's shape and may have another dtype.
  virtual void copy(const Tensor& out, const Tensor& in) = 0;
  // out[i] = value (cast to out's dtype).
  virtual void fill(const Tensor& out, const Scalar& value) = 0;
  // out[i] = op(in[i], arg, arg2); in expanded, same dtype as out except logical_not (out
  // bool). Float-only ops (exp, ...) get floating inputs. clamp on i64 gets bounds that
  // are integral and within the i64 range, or infinite (raw::unary makes them so).
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) = 0;
  // out[i] = op(a[i], b[i]); a and b expanded with one dtype; out has it too, or bool
  // for comparisons and logical ops.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // out[i] = cond[i] ? a[i] : b[i]; all expanded, cond bool, a/b of out's dtype.
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) = 0;
  // Reduces each row of the contiguous (R, K) `in` into out (R) contiguous. For max/min,
  // `indices` is either undefined or an i64 (R) tensor receiving the first arg of the
  // extreme (NaN counts as the extreme, as in PyTorch). K may be 0 only for sum/prod.
  // For sum and mean, `in` may instead have strides (1, R), columns contiguous: the sum
  // over the leading dims of a contiguous input, passed without a copy (issue 19).
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
                      int64_t correction) = 0;
  // out (B, M, N) contiguous = a (B, M, K) @ b (B, K, N); a and b are strided (batch
  // stride 0 when broadcast), floating, of out's dtype.
  virtual void matmul(const Tensor& out, const Tensor& a, const Tensor& b) = 0;
  // Row-wise softmax (or log_softmax) of the contiguous (R, K) `in` into out (R, K).
  virtual void softmax(const Tensor& out, const Tensor& in, bool log) = 0;
  // Fills the contiguous `out` from Philox-4x32-10 with key `seed` and counter
  // (element index, offset): element i is a function of (seed, offset, i) only, so
  // every device produces the same numbers (tensor/philox.h defines them).
  virtual void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
                      double b) = 0;
  // out = in.index_select(dim, index): index is a contiguous i64 (N) tensor.
  virtual void index_select(const Tensor& out, const Tensor& in, int64_t dim,
                            const Tensor& index) = 0;
  // out[..., j, ...] = in[..., index[..., j, ...], ...] along dim; out and index share a shape.
  virtual void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) = 0;
  // out[..., index[..., j, ...], ...] += src[..., j, ...] along dim (out already holds self).
  virtual void scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                           const Tensor& src) = 0;

  // Raises IndexError naming `op` ("nll_loss") for a value of index (contiguous i64) outside
  // [0, bound) that is not `ignore`: at once on host devices; GPU devices record it on the
  // device and raise it at the next synchronization (so validating costs no stream sync).
  // The default copies index to the host (a synchronization).
  virtual void check_index_range(const char* op, const Tensor& index, int64_t bound,
                                 int64_t ignore);

  // ---- optional primitives ---------------------------------------------------------------
  // A backend implements those it says it supports (supports(op, dtype)); the op layer
  // routes the others through one fallback (tensor/dispatch.h): the cpu kernels in place
  // on host-memory devices, else on host copies, with a warning once per (op, device).
  // The default methods here are never reached through the op layer.

  // Fused optimizer steps over a group of parameters (Primitive::adam_step, sgd_step): one
  // pass over param, grad and state per tensor (one launch per group on a GPU). All tensors
  // contiguous, of one floating dtype per parameter, updated in place.
  virtual void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p);
  virtual void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p);
  // The same contract for RMSprop, Adagrad, NAdam and RAdam.
  virtual void rmsprop_step(const std::vector<RmspropTensors>& tensors, const RmspropStepParams& p);
  virtual void adagrad_step(const std::vector<AdagradTensors>& tensors, const AdagradStepParams& p);
  virtual void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p);
  virtual void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p);
  // The norm of a group of tensors (clip_grad_norm_) in one reduction: out, a 0-dim f64
  // tensor on this device, = sum over every element of |x|^norm_type, or max |x| when
  // norm_type is inf (NaN propagates), accumulated in f64. Tensors contiguous, floating,
  // of one dtype; norm_type > 0.
  virtual void multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                          double norm_type);

  // ---- mixed precision (issue 16, scaler): GradScaler's two device-side steps ----
  // PyTorch's _amp_foreach_non_finite_check_and_unscale_: each element x of every tensor
  // becomes x * inv_scale, and found_inf becomes 1 when some x (before scaling) is inf or
  // NaN, else keeps its value. Tensors contiguous, floating, of one dtype; found_inf and
  // inv_scale 0-dim f32 on this device. No host synchronization.
  virtual void amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                           const Tensor& inv_scale);
  // PyTorch's _amp_update_scale_ (AmpScaleParams): scale 0-dim f32, growth_tracker 0-dim
  // i64, found_inf 0-dim f32, all on this device, updated in place without a host sync.
  virtual void amp_update_scale(const Tensor& scale, const Tensor& growth_tracker,
                                const Tensor& found_inf, const AmpScaleParams& p);

  // Cross entropy (CrossEntropyForwardArgs says the shapes). Target values outside [0, C)
  // that are not ignore_index raise IndexError.
  virtual void cross_entropy_forward(const CrossEntropyForwardArgs& a, const CrossEntropyParams& p);
  virtual void cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                                      const CrossEntropyParams& p);

  // Layer norm (LayerNormForwardArgs says the shapes).
  virtual void layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p);
  virtual void layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p);

  // RMS norm (RmsNormForwardArgs says the shapes; issue 15).
  virtual void rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p);
  virtual void rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p);

  // Batch norm and group norm (BatchNormForwardArgs, GroupNormForwardArgs say the shapes).
  virtual void batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p);
  virtual void batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p);
  virtual void group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p);
  virtual void group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p);

  // GELU's backward (issue 15, perf): grad_x = grad_y gelu'(x), the erf form, or the tanh
  // form when `tanh`; grad_x, grad_y and x contiguous, of one shape and floating dtype.
  virtual void gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                             bool tanh);

  // Recurrent cells, issue 15 (LstmCellForwardArgs, GruCellForwardArgs say the shapes).
  virtual void lstm_cell_forward(const LstmCellForwardArgs& a);
  virtual void lstm_cell_backward(const LstmCellBackwardArgs& a);
  virtual void gru_cell_forward(const GruCellForwardArgs& a);
  virtual void gru_cell_backward(const GruCellBackwardArgs& a);

  // Embedding: out (M, D) = weight (V, D) rows at indices (M) i64, all contiguous; an index
  // outside [0, V) raises IndexError. The backward writes every row of grad_weight (V, D):
  // the grad_out (M, D) rows of its positions summed in increasing position, so results
  // are reproducible bit for bit (no float atomics); row padding_idx (or none, -1) is zero.
  virtual void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices);
  virtual void embedding_backward(const Tensor& grad_weight, const Tensor& grad_out,
                                  const Tensor& indices, int64_t padding_idx);

  // Bilinear resizing: x (B, H, W) -> out (B, P, Q), contiguous, floating of one dtype;
  // each output is the lerp in H of the lerps in W of its four source neighbours, with
  // weights and indices computed in the dtype's accumulation type (f32 for f32). The
  // backward writes every element of grad_x (B, H, W): each input element sums the
  // grad_out (B, P, Q) terms it fed, in a fixed order, so no float atomics.
  virtual void upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                         const UpsampleBilinearParams& p);
  virtual void upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                          const UpsampleBilinearParams& p);

  // Inclusive scan along the middle dim of the contiguous (O, K, I) `in` into out (O, K, I)
  // of in's dtype (f32, f64 or i64): out[o, k, i] = in[o, 0, i] op ... op in[o, k, i], or
  // with `reverse` in[o, k, i] op ... op in[o, K - 1, i] (the suffix scan, a backward's
  // need). Each of the O * I lines is independent; K >= 1.
  virtual void scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse);

  // ---- sorting and sampling (issue 15) ----
  // Sorts each row of the contiguous (R, N) `in` (f32, f64 or i64): values (R, N) of in's
  // dtype and indices (R, N) i64 (the column each value came from). The order is stable
  // (equal values keep their column order) and NaN counts as larger than every number
  // (last ascending, first descending), as torch.sort(stable=True). N >= 1.
  virtual void sort(const Tensor& values, const Tensor& indices, const Tensor& in, bool descending);
  // Draws num_samples = out.size(1) categories per row of the contiguous (R, C) weights
  // `probs` (f32 or f64; finite, >= 0, a positive sum and, without replacement, at least
  // num_samples positive weights: the op checks) into out (R, S) i64. Sample s of row r
  // uses the uniform philox::uniform_f64(draw(seed, offset, r S + s)): with replacement
  // the first c whose running f64 sum of weights exceeds u * total; without replacement the
  // same on the weights not drawn yet (sequential draws). `workspace` (R, C) f64 is
  // scratch. Only sums, products and comparisons in f64, so every device draws the same.
  virtual void multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                           bool replacement, uint64_t seed, uint64_t offset);

  // Convolution, all tensors contiguous and floating of one dtype:
  // x (N, C, H, W), w (K, C/groups, R, S), bias (K) or undefined -> out (N, K, P, Q).
  virtual void conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w,
                              const Tensor& bias, const Conv2dParams& p);
  virtual void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                                     const Conv2dParams& p);
  virtual void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                                      const Conv2dParams& p);
  // The gradients Conv2dBackwardArgs asks for, in one call: a backend may fuse them (one
  // pass over grad_out, one parallel region). The default runs the two methods above and
  // sums grad_b with raw::reduce over dims 0, 2 and 3 of grad_out.
  virtual void conv2d_backward(const Conv2dBackwardArgs& a, const Conv2dParams& p);

  // 2-D pooling (Pool2dParams says the windows), contiguous, floating of one dtype:
  // x (B, H, W) planes -> out (B, P, Q); for max, indices (B, P, Q) i64 receive the flat
  // h W + w of each window's first maximum in row-major window order (a NaN wins, the last
  // one seen, as PyTorch); undefined for avg. Every window holds an input element.
  virtual void pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                              const Pool2dParams& p);
  // grad_x (B, H, W), every element written: max adds grad_out (B, P, Q) at indices;
  // avg spreads each grad_out element over its window divided by the forward's divisor.
  virtual void pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                               const Pool2dParams& p);

  // Attention (AttentionForwardArgs says the shapes); lse is saved for the backward,
  // which recomputes the probabilities.
  virtual void attention_forward(const AttentionForwardArgs& a, const AttentionParams& p);
  virtual void attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p);
};

// The backend of a device type; throws DeviceError if it is not built in or has no device.
Backend& backend(DeviceType type);
// The backend of d's type with d made its current device for this thread (issue 17), so the
// call that follows lands on d; throws DeviceError for an ordinal >= its device_count().
Backend& backend(Device d);
bool backend_available(DeviceType type);
// Installs b as the backend of its device type (kernels/ calls this at start-up).
void register_backend(Backend* b);

namespace detail {
// Defined in kernels/: registers every backend built into this library. Declared here
// so that tensor/ needs no kernels/ header; called once, on first use of the registry.
void register_builtin_backends();
}  // namespace detail

}  // namespace ember
