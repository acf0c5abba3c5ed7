// Allocation, copies, casts, device moves, fills and random fills.
#include <vector>

#include "tensor/backend.h"
#include "tensor/finfo.h"
#include "tensor/object_pool.h"
#include "tensor/pinned_memory.h"
#include "tensor/profiler.h"
#include "tensor/random.h"
#include "tensor/raw.h"

namespace ember::raw {

Tensor empty(Shape shape, DType dtype, Device device) {
  int64_t n = checked_numel("empty", shape);
  auto storage = std::allocate_shared<Storage>(detail::PoolAllocator<Storage>(), device,
                                               static_cast<size_t>(n) * element_size(dtype));
  Strides strides = contiguous_strides(shape);
  return make_tensor(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

Tensor contiguous(const Tensor& x) {
  const profiler::OpScope profile("contiguous");
  check_defined("contiguous", x);
  if (x.is_contiguous()) return x;
  Tensor out = empty(x.sizes(), x.dtype(), x.device());
  if (out.numel() > 0) backend(x.device()).copy(out, x);
  return out;
}

Tensor clone(const Tensor& x) {
  const profiler::OpScope profile("clone");
  check_defined("clone", x);
  Tensor out = empty(x.sizes(), x.dtype(), x.device());
  if (out.numel() > 0) backend(x.device()).copy(out, x);
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined("to", x);
  if (x.dtype() == dtype) return x;
  Tensor out = empty(x.sizes(), dtype, x.device());
  if (out.numel() > 0) backend(x.device()).copy(out, x);
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  check_defined("to", x);
  if (x.device() == device) return x;
  Tensor src = contiguous(x);
  Tensor out = empty(x.sizes(), x.dtype(), device);
  size_t nbytes = static_cast<size_t>(out.numel()) * out.element_size();
  if (nbytes == 0) return out;
  Device from = x.device();
  // Through the device's own copies even where its memory is the host's (sim): they
  // wait for its work and are what the profiler counts as transfers.
  if (from.is_cpu()) {
    // From pinned memory: enqueued on the device's stream, the block fenced until it ran.
    if (!copy_pinned_to_device_async(src, out.raw_data(), device, nbytes))
      backend(device).copy_from_host(out.raw_data(), src.raw_data(), nbytes);
  } else if (device.is_cpu()) {
    backend(from).copy_to_host(out.raw_data(), src.raw_data(), nbytes);
  } else if (from.type == device.type) {
    // Between two ordinals of one type (issue 17): peer to peer on cuda, memcpy on sim.
    backend(device).copy_peer(out.raw_data(), device.index, src.raw_data(), from.index, nbytes);
  } else {  // between two devices that are not host memory: stage through the host
    std::vector<char> staging(nbytes);
    backend(from).copy_to_host(staging.data(), src.raw_data(), nbytes);
    backend(device).copy_from_host(out.raw_data(), staging.data(), nbytes);
  }
  return out;
}

void copy_(const Tensor& dst, const Tensor& src) {
  const profiler::OpScope profile("copy_");
  check_defined("copy_", dst);
  check_defined("copy_", src);
  if (broadcast_shapes("copy_", dst.sizes(), src.sizes()) != dst.sizes())
    fail<ShapeError>("copy_", "source of shape ", str(src.sizes()),
                     " does not broadcast to destination shape ", str(dst.sizes()));
  for (int64_t i = 0; i < dst.dim(); ++i)
    if (dst.strides()[i] == 0 && dst.sizes()[i] > 1)
      fail<ValueError>("copy_", "cannot copy into an expanded tensor of shape ", str(dst.sizes()),
                       " (several elements share one memory location)");
  if (dst.numel() == 0) return;
  Tensor s = src.device() == dst.device() ? src : to_device(src, dst.device());
  if (s.storage() == dst.storage()) s = clone(s);  // reading what we write: copy first
  backend(dst.device()).copy(dst, expand(s, dst.sizes()));
  dst.bump_version();
}

void fill_(const Tensor& dst, const Scalar& value) {
  const profiler::OpScope profile("fill_");
  check_defined("fill_", dst);
  if (dst.numel() > 0) backend(dst.device()).fill(dst, value);
  dst.bump_version();
}

void random_(const Tensor& dst, RandomDist dist, double a, double b) {
  const char* op = dist == RandomDist::uniform  ? "uniform_"
                   : dist == RandomDist::normal ? "normal_"
                                                : "randint";
  const profiler::OpScope profile(op);
  check_defined(op, dst);
  if (dist != RandomDist::randint && !is_floating(dst.dtype()))
    fail<DTypeError>(op, "needs a floating-point tensor, got ", dst.dtype());
  if (dist == RandomDist::randint && dst.dtype() == DType::b8)
    fail<DTypeError>(op, "cannot fill a bool tensor with integers");
  PhiloxState st = next_philox_state();
  if (dst.numel() == 0) return;
  Backend& be = backend(dst.device());
  // The 16-bit floats draw the f32 numbers and round them, the small integer types draw
  // i64 ones: the same values on every device, and the backends need no kernels for them.
  if (is_half(dst.dtype()) || dst.dtype() == DType::i32 || dst.dtype() == DType::i8 ||
      dst.dtype() == DType::u8) {
    if (dist == RandomDist::randint) {
      const IInfo lim = iinfo(dst.dtype());
      if (a < static_cast<double>(lim.min) || b - 1 > static_cast<double>(lim.max))
        fail<ValueError>(op, "range [", a, ", ", b, ") does not fit ", dst.dtype());
    }
    Tensor tmp = empty(dst.sizes(), is_half(dst.dtype()) ? DType::f32 : DType::i64, dst.device());
    be.random(tmp, dist, st.seed, st.offset, a, b);
    be.copy(dst, tmp);
    dst.bump_version();
    return;
  }
  if (dst.is_contiguous()) {
    be.random(dst, dist, st.seed, st.offset, a, b);
  } else {
    Tensor tmp = empty(dst.sizes(), dst.dtype(), dst.device());
    be.random(tmp, dist, st.seed, st.offset, a, b);
    be.copy(dst, tmp);
  }
  dst.bump_version();
}

}  // namespace ember::raw
