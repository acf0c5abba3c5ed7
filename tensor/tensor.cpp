// Tensor's metadata accessors. Its differentiable methods live in autograd/.
#include "tensor/tensor.h"

#include <cstring>
#include <ostream>

#include "tensor/backend.h"
#include "tensor/object_pool.h"
#include "tensor/raw.h"

namespace ember {

void detail::undefined_tensor() { fail<ValueError>("Tensor", "use of an undefined tensor"); }

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl) {
  if (!impl) detail::undefined_tensor();
  return *impl;
}
}  // namespace

#define IMPL checked(impl_)

int64_t Tensor::numel() const { return ember::numel(IMPL.sizes); }
TensorOptions Tensor::options() const { return {.dtype = dtype(), .device = device()}; }
uint32_t Tensor::version() const { return IMPL.storage->version(); }
void Tensor::bump_version() const { IMPL.storage->bump_version(); }

int64_t Tensor::size(int64_t d) const {
  const auto& s = IMPL.sizes;
  if (s.empty()) fail<IndexError>("size", "a 0-dim tensor has no dim ", d);
  return s[wrap_dim("size", d, static_cast<int64_t>(s.size()))];
}

int64_t Tensor::stride(int64_t d) const {
  const auto& s = IMPL.strides;
  if (s.empty()) fail<IndexError>("stride", "a 0-dim tensor has no dim ", d);
  return s[wrap_dim("stride", d, static_cast<int64_t>(s.size()))];
}

bool Tensor::is_contiguous() const {
  const auto& t = IMPL;
  if (ember::numel(t.sizes) == 0) return true;  // no element sits anywhere
  int64_t expected = 1;
  for (size_t i = t.sizes.size(); i-- > 0;) {
    if (t.sizes[i] == 1) continue;  // any stride is fine for a size-1 dim
    if (t.strides[i] != expected) return false;
    expected *= t.sizes[i];
  }
  return true;
}

// ---- autograd state ------------------------------------------------------------------

bool Tensor::requires_grad() const {
  const auto& m = IMPL.autograd;
  return m && (m->requires_grad || m->grad_fn);
}

Tensor& Tensor::requires_grad_(bool requires_grad) {
  if (requires_grad && !is_floating(dtype()))
    fail<DTypeError>("requires_grad_", "only floating-point tensors can require gradients, got ",
                     dtype());
  if (requires_grad && !is_leaf())
    fail<ValueError>("requires_grad_",
                     "can only change requires_grad of leaf tensors; use detach() first");
  ensure_autograd_meta().requires_grad = requires_grad;
  return *this;
}

bool Tensor::is_leaf() const { return !IMPL.autograd || !impl_->autograd->grad_fn; }

Tensor Tensor::grad() const { return IMPL.autograd ? impl_->autograd->grad : Tensor(); }

void Tensor::set_grad(const Tensor& grad) const { ensure_autograd_meta().grad = grad; }

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  return IMPL.autograd ? impl_->autograd->grad_fn : none;
}

void Tensor::set_data(const Tensor& src) const {
  auto& t = const_cast<TensorImpl&>(IMPL);
  if (!src.defined()) fail<ValueError>("set_data", "source tensor is undefined");
  if (requires_grad() && !is_floating(src.dtype()))
    fail<DTypeError>("set_data", "a tensor that requires grad cannot take ", src.dtype(), " data");
  const TensorImpl& s = *src.impl();
  t.storage = s.storage;
  t.sizes = s.sizes;
  t.strides = s.strides;
  t.offset = s.offset;
  t.dtype = s.dtype;
}

AutogradMeta* Tensor::autograd_meta() const { return IMPL.autograd.get(); }

AutogradMeta& Tensor::ensure_autograd_meta() const {
  auto& t = const_cast<TensorImpl&>(IMPL);
  if (!t.autograd) t.autograd = std::make_shared<AutogradMeta>();
  return *t.autograd;
}

#undef IMPL

Tensor make_tensor(std::shared_ptr<Storage> storage, Shape sizes, Strides strides, int64_t offset,
                   DType dtype) {
  auto impl = std::allocate_shared<TensorImpl>(detail::PoolAllocator<TensorImpl>());
  impl->storage = std::move(storage);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

namespace detail {

void check_host_dtype(const Tensor& t, DType expected, const char* op) {
  raw::check_defined(op, t);
  if (t.dtype() != expected)
    fail<DTypeError>(op, "tensor has dtype ", t.dtype(), " but ", expected, " was requested");
  if (!t.device().is_host_accessible())
    fail<DeviceError>(op, "tensor lives on ", t.device(), "; copy it to the cpu first");
}

namespace {
Tensor single_element_on_host(const Tensor& t, const char* op) {
  raw::check_defined(op, t);
  if (t.numel() != 1)
    fail<ValueError>(op, "only a one-element tensor converts to a number; shape is ",
                     str(t.sizes()));
  return raw::to_device(t, Device::cpu());
}
}  // namespace

double item_as_double(const Tensor& t) {
  Tensor h = single_element_on_host(t, "item");
  return dispatch_all(h.dtype(), "item", [&](auto tag) {
    return static_cast<double>(*static_cast<decltype(tag)*>(h.raw_data()));
  });
}

int64_t item_as_int(const Tensor& t) {
  Tensor h = single_element_on_host(t, "item");
  return dispatch_all(h.dtype(), "item", [&](auto tag) {
    using T = decltype(tag);
    return static_cast<int64_t>(static_cast<opmath_t<T>>(*static_cast<T*>(h.raw_data())));
  });
}

}  // namespace detail

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace ember
