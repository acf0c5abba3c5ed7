// DeviceBackend's elementwise family (kernels/cuda/device_backend.h): unary and binary ops
// and where over broadcast strides (plan.h merges dims and splits the launches), row
// reductions, scans and random fill, each a call of its launcher in elementwise.cu,
// reduce.cu, scan.cu or random.cu.
#include "kernels/cuda/device_backend.h"

#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/plan.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/reduce.h"
#include "kernels/cuda/scan.h"
#include "tensor/raw.h"

namespace ember::EMBER_VARIANT {

void DeviceBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in, double arg,
                          double arg2) {
  for_each_chunk(plan<2>({&out, &in}),
                 [&](const Geometry<2>& g, bool contiguous, const std::array<char*, 2>& ptr) {
                   launch_unary(op, in.dtype(), g, contiguous, ptr[0], ptr[1], arg, arg2);
                 });
}

void DeviceBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  for_each_chunk(plan<3>({&out, &a, &b}),
                 [&](const Geometry<3>& g, bool contiguous, const std::array<char*, 3>& ptr) {
                   launch_binary(op, a.dtype(), g, contiguous, ptr[0], ptr[1], ptr[2]);
                 });
}

void DeviceBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  for_each_chunk(plan<4>({&out, &cond, &a, &b}),
                 [&](const Geometry<4>& g, bool contiguous, const std::array<char*, 4>& ptr) {
                   launch_where(out.dtype(), g, contiguous, ptr[0], ptr[1], ptr[2], ptr[3]);
                 });
}

void DeviceBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& indices, const Tensor& in,
                           int64_t correction) {
  // The kernel reads rows: a columns-contiguous `in` (a sum over leading dims, issue 19)
  // is copied into that layout first.
  if (!in.is_contiguous()) {
    Tensor rows = raw::empty(in.sizes(), in.dtype(), in.device());
    copy(rows, in);
    return reduce(op, out, indices, rows, correction);
  }
  auto* idx = indices.defined() ? static_cast<int64_t*>(indices.raw_data()) : nullptr;
  launch_reduce(op, in.dtype(), out.raw_data(), idx, in.raw_data(), in.size(0), in.size(1),
                correction);
}

void DeviceBackend::scan(ScanOp op, const Tensor& out, const Tensor& in, bool reverse) {
  launch_scan(in.dtype(), {in.size(0), in.size(1), in.size(2), op == ScanOp::prod, reverse},
              out.raw_data(), in.raw_data());
}

void DeviceBackend::random(const Tensor& out, RandomDist dist, uint64_t seed, uint64_t offset,
                           double a, double b) {
  launch_random(out.dtype(), dist, out.raw_data(), out.numel(), seed, offset, a, b);
}

}  // namespace ember::EMBER_VARIANT
