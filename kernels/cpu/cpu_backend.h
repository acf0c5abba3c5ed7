// The cpu device: plain loops and OpenMP, Eigen for GEMM.
#pragma once

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace ember::cpu {

class CpuBackend final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::cpu; }
  // The reference backend: every primitive (optional ones for f32 and f64; other dtypes
  // fail in the kernel with the op's name).
  bool supports(Primitive, DType) const override { return true; }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) noexcept override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;

  void copy(const Tensor& out, const Tensor& in) override;     // elementwise.cpp
  void fill(const Tensor& out, const Scalar& value) override;  // elementwise.cpp
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg, double arg2) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
              int64_t correction) override;                                   // reduce.cpp
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) override;  // matmul.cpp
  void softmax(const Tensor& out, const Tensor& in, bool log) override;       // softmax.cpp
  void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override;  // random.cpp
  void index_select(const Tensor& out, const Tensor& in, int64_t dim,
                    const Tensor& index) override;  // index.cpp
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) override;

  // cross_entropy.cpp
  void cross_entropy_forward(const CrossEntropyForwardArgs& a,
                             const CrossEntropyParams& p) override;
  void cross_entropy_backward(const CrossEntropyBackwardArgs& a,
                              const CrossEntropyParams& p) override;

  void layer_norm_forward(const LayerNormForwardArgs& a, const LayerNormParams& p) override;
  void layer_norm_backward(const LayerNormBackwardArgs& a, const LayerNormParams& p) override;
  void embedding_forward(const Tensor& out, const Tensor& weight, const Tensor& indices) override;
  void embedding_backward(const Tensor& grad_weight, const Tensor& grad_out, const Tensor& indices,
                          int64_t padding_idx) override;  // layer_norm.cpp, embedding.cpp
  void upsample_bilinear_forward(const Tensor& out, const Tensor& x,
                                 const UpsampleBilinearParams& p) override;  // upsample.cpp
  void upsample_bilinear_backward(const Tensor& grad_x, const Tensor& grad_out,
                                  const UpsampleBilinearParams& p) override;

  void scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse) override;  // scan.cpp
  // rms_norm.cpp (issue 15)
  void rms_norm_forward(const RmsNormForwardArgs& a, const RmsNormParams& p) override;
  void rms_norm_backward(const RmsNormBackwardArgs& a, const RmsNormParams& p) override;
  // gelu_backward.cpp (issue 15, perf)
  void gelu_backward(const Tensor& grad_x, const Tensor& grad_y, const Tensor& x,
                     bool tanh) override;
  // sort.cpp (issue 15)
  void sort(const Tensor& values, const Tensor& indices, const Tensor& in,
            bool descending) override;
  void multinomial(const Tensor& out, const Tensor& probs, const Tensor& workspace,
                   bool replacement, uint64_t seed, uint64_t offset) override;
  // batch_norm.cpp, group_norm.cpp
  void batch_norm_forward(const BatchNormForwardArgs& a, const BatchNormParams& p) override;
  void batch_norm_backward(const BatchNormBackwardArgs& a, const BatchNormParams& p) override;
  void group_norm_forward(const GroupNormForwardArgs& a, const GroupNormParams& p) override;
  void group_norm_backward(const GroupNormBackwardArgs& a, const GroupNormParams& p) override;
  // rnn_cell.cpp (issue 15, rnn)
  void lstm_cell_forward(const LstmCellForwardArgs& a) override;
  void lstm_cell_backward(const LstmCellBackwardArgs& a) override;
  void gru_cell_forward(const GruCellForwardArgs& a) override;
  void gru_cell_backward(const GruCellBackwardArgs& a) override;

  // optim.cpp
  void adam_step(const std::vector<AdamTensors>& tensors, const AdamStepParams& p) override;
  void sgd_step(const std::vector<SgdTensors>& tensors, const SgdStepParams& p) override;
  // optim_more.cpp
  void rmsprop_step(const std::vector<RmspropTensors>& tensors,
                    const RmspropStepParams& p) override;
  void adagrad_step(const std::vector<AdagradTensors>& tensors,
                    const AdagradStepParams& p) override;
  void nadam_step(const std::vector<NadamTensors>& tensors, const NadamStepParams& p) override;
  void radam_step(const std::vector<RadamTensors>& tensors, const RadamStepParams& p) override;
  void multi_norm(const Tensor& out, const std::vector<const Tensor*>& tensors,
                  double norm_type) override;
  // amp.cpp: GradScaler's unscale and scale update (issue 16, scaler)
  void amp_unscale(const std::vector<const Tensor*>& tensors, const Tensor& found_inf,
                   const Tensor& inv_scale) override;
  void amp_update_scale(const Tensor& scale, const Tensor& growth_tracker, const Tensor& found_inf,
                        const AmpScaleParams& p) override;

  // conv2d.cpp
  void conv2d_forward(const Tensor& out, const Tensor& x, const Tensor& w, const Tensor& bias,
                      const Conv2dParams& p) override;
  void conv2d_backward_input(const Tensor& grad_x, const Tensor& grad_out, const Tensor& w,
                             const Conv2dParams& p) override;
  void conv2d_backward_weight(const Tensor& grad_w, const Tensor& grad_out, const Tensor& x,
                              const Conv2dParams& p) override;
  void conv2d_backward(const Conv2dBackwardArgs& a, const Conv2dParams& p) override;
  // pool.cpp
  void pool2d_forward(const Tensor& out, const Tensor& indices, const Tensor& x,
                      const Pool2dParams& p) override;
  void pool2d_backward(const Tensor& grad_x, const Tensor& grad_out, const Tensor& indices,
                       const Pool2dParams& p) override;
  // attention.cpp
  void attention_forward(const AttentionForwardArgs& a, const AttentionParams& p) override;
  void attention_backward(const AttentionBackwardArgs& a, const AttentionParams& p) override;
};

CpuBackend& cpu_backend();

}  // namespace ember::cpu
