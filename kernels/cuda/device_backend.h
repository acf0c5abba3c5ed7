// DeviceBackend: the Backend contract (tensor/backend.h) for `sim` and `cuda`. Its methods
// unpack tensors into pointers, strides and sizes and call the launchers (each kernel file's
// header, kernels/cuda/<op>.h); no device code, so the host compiler builds them for both
// devices (kernels/CMakeLists.txt compiles each backend*.cpp a second time with
// EMBER_VARIANT_CUDA=1, into the other namespace). One file per family of methods, named
// below; only those files include this header (the rest of ember reaches the backend through
// device_backend() in kernels/cuda/backend.h).
#pragma once

#include <vector>

#include "kernels/cuda/backend.h"
#include "tensor/tensor.h"

namespace ember::EMBER_VARIANT {

class DeviceBackend final : public Backend {
 public:
  DeviceType device_type() const override {
    return EMBER_VARIANT_IS_CUDA ? DeviceType::cuda : DeviceType::sim;
  }

  // backend.cpp: memory, devices, copies
  bool available() const override;
  bool supports(Primitive op, DType dtype) const override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t) noexcept override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;
  void synchronize() override;
  int device_count() const override;
  int current_device() const override;
  void set_device(int index) override;
  void copy_peer(void* dst, int dst_index, const void* src, int src_index, size_t nbytes) override;
  void copy(const Tensor& out, const Tensor& in) override;
  void fill(const Tensor& out, const Scalar& value) override;

  // backend_elementwise.cpp: elementwise ops, reductions, scans, random fill
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
              int64_t correction) override;
  void scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse) override;
  void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override;

  // backend_matmul.cpp: GEMM and convolution (cuBLAS and cuDNN or ember's kernels)
  void matmul(const Tensor& out, const Tensor& a_in, const Tensor& b_in) override;
  void conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Conv2dParams& p) override;
  void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                              const Conv2dParams& p) override;

  // backend_nn.cpp: the fused nn primitives
  void softmax(const Tensor& out, const Tensor& in, bool log) override;
  void attention_forward(const AttentionForwardArgs& a, const AttentionParams& p) override;
  void attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p) override;
  void cross_entropy_forward(const CrossEntropyForwardArgs& a,
                             const CrossEntropyParams& p) override;
  void cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                              const CrossEntropyParams& p) override;
  void layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p) override;
  void layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p) override;
  void rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p) override;
  void rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p) override;
  void gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                     bool tanh) override;
  void pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                      const Pool2dParams& p) override;
  void pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                       const Pool2dParams& p) override;
  void batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p) override;
  void batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) override;
  void group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p) override;
  void group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) override;
  void lstm_cell_forward(const LstmCellForwardArgs& a) override;
  void lstm_cell_backward(const LstmCellBackwardArgs& a) override;
  void gru_cell_forward(const GruCellForwardArgs& a) override;
  void gru_cell_backward(const GruCellBackwardArgs& a) override;
  void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) override;
  void embedding_backward(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& indices,
                          int64_t padding_idx) override;
  void upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                 const UpsampleBilinearParams& p) override;
  void upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                  const UpsampleBilinearParams& p) override;

  // backend_index.cpp: indexing, sorting and sampling
  void index_select(const Tensor& out, const Tensor& in_any, int64_t dim,
                    const Tensor& index) override;
  void check_index_range(const char* op, const Tensor& index, int64_t bound,
                         int64_t ignore) override;
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in,
            bool descending) override;
  void multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                   bool replacement, uint64_t seed, uint64_t offset) override;

  // backend_optim.cpp: fused optimizer steps, norms, GradScaler
  void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) override;
  void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) override;
  void rmsprop_step(const std::vector<RmspropTensors>& tensors,
                    const RmspropStepParams& p) override;
  void adagrad_step(const std::vector<AdagradTensors>& tensors,
                    const AdagradStepParams& p) override;
  void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) override;
  void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) override;
  void multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                  double norm_type) override;
  void amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                   const Tensor& inv_scale) override;
  void amp_update_scale(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                        const AmpScaleParams& p) override;
};

}  // namespace ember::EMBER_VARIANT
