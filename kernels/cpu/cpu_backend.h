// The cpu device: plain loops and OpenMP, Eigen for GEMM.
#pragma once

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace ember::cpu {

class CpuBackend final : public Backend {
 public:
  DeviceType device_type() const override { return DeviceType::cpu; }

  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr, size_t nbytes) noexcept override;
  void copy_from_host(void* dst, const void* host_src, size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, size_t nbytes) override;

  void copy(const Tensor& out, const Tensor& in) override;                     // elementwise.cpp
  void fill(const Tensor& out, const Scalar& value) override;                  // elementwise.cpp
  void unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
              int64_t correction) override;                                    // reduce.cpp
  void matmul(const Tensor& out, const Tensor& a, const Tensor& b) override;   // matmul.cpp
  void softmax(const Tensor& out, const Tensor& in, bool log) override;        // softmax.cpp
  void random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset, double a,
              double b) override;                                              // random.cpp
  void index_select(const Tensor& out, const Tensor& in, int64_t dim,
                    const Tensor& index) override;                             // index.cpp
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& out, int64_t dim, const Tensor& index,
                   const Tensor& src) override;
};

CpuBackend& cpu_backend();

}  // namespace ember::cpu
