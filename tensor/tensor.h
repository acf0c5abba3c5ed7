// Tensor: a cheap, shared handle to a strided view of a Storage.
//
// Copying a Tensor copies the handle (like torch::Tensor); views share storage.
// The differentiable methods below are declared here and defined in autograd/, where
// each records its graph node; their non-differentiable cores live in tensor/raw.h.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/scalar.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace ember {

namespace autograd {
struct Node;
}

struct AutogradMeta;
struct TensorImpl;

// Options of a new tensor: ember::zeros({2, 3}, {.dtype = DType::f64, .device = "sim"}).
// An unset dtype means the factory's default (f32, or i64 for integer aranges).
struct TensorOptions {
  std::optional<DType> dtype{};
  Device device = Device::cpu();
  bool requires_grad = false;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false, every other call throws
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- metadata ----------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  inline const Shape& sizes() const;
  const Shape& shape() const { return sizes(); }
  int64_t size(int64_t dim) const;  // negative dims count from the end
  inline const Strides& strides() const;
  int64_t stride(int64_t dim) const;
  inline int64_t dim() const;
  int64_t numel() const;
  inline int64_t storage_offset() const;
  inline DType dtype() const;
  inline Device device() const;
  TensorOptions options() const;  // dtype and device (requires_grad false)
  inline size_t element_size() const;
  bool is_contiguous() const;
  bool is_floating_point() const { return is_floating(dtype()); }
  inline const std::shared_ptr<Storage>& storage() const;
  // Address of element 0 (device memory on cuda). No dtype check.
  inline void* raw_data() const;
  // Typed address of element 0; checks the dtype and that memory is host-addressable.
  template <typename T>
  T* data_ptr() const;
  // The single element of a one-element tensor, converted to T (copied to host if needed).
  template <typename T>
  T item() const;
  // All elements in row-major order, converted to T (copied to host if needed).
  template <typename T>
  std::vector<T> to_vector() const;
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }
  TensorImpl* impl() const { return impl_.get(); }
  // Handles sharing this tensor's TensorImpl (1: this one only).
  long use_count() const { return impl_.use_count(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  uint32_t version() const;
  void bump_version() const;
  std::string to_string() const;  // as PyTorch prints it

  // ---- autograd ----------------------------------------------------------------
  bool requires_grad() const;
  Tensor& requires_grad_(bool requires_grad = true);
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward pass writes it
  void set_grad(const Tensor& grad) const;
  // Points this tensor (and so every handle to it) at src's storage, geometry and dtype,
  // keeping its autograd state: how a module moves its parameters without invalidating
  // the handles users hold.
  void set_data(const Tensor& src) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  AutogradMeta* autograd_meta() const;  // null when the tensor never took part in autograd
  AutogradMeta& ensure_autograd_meta() const;
  // Backpropagates from this tensor: a scalar needs no `gradient`; any other tensor needs
  // one of its shape. Gradients accumulate into the .grad() of the leaves that need them.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false,
                bool create_graph = false) const;
  // Calls hook(grad) when the gradient with respect to this tensor is computed; a defined
  // return value replaces the gradient. Returns a handle for remove_hook.
  int64_t register_hook(std::function<Tensor(const Tensor&)> hook) const;
  void remove_hook(int64_t handle) const;
  // Leaves only (torch 2.1's name): calls hook(*this) after backward has accumulated into
  // this->grad(), so the hook sees the new .grad() (DDP's gradient buckets start here).
  // Returns a handle for remove_hook.
  int64_t register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const;
  // Makes a non-leaf keep its .grad() after backward, as leaves do.
  void retain_grad() const;

  // ---- views (share storage) ---------------------------------------------------------
  Tensor view(const Shape& shape) const;     // one size may be -1
  Tensor reshape(const Shape& shape) const;  // a view when strides allow, else a copy
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  Tensor t() const;  // transpose of a tensor with at most 2 dims
  Tensor permute(const DimList& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze() const;
  Tensor squeeze(int64_t dim) const;
  Tensor expand(const Shape& shape) const;  // -1 keeps a size
  Tensor expand_as(const Tensor& other) const { return expand(other.sizes()); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor detach() const;  // shares storage, no autograd history

  // ---- copies and conversions ------------------------------------------------------
  Tensor contiguous() const;  // *this when already contiguous
  Tensor clone() const;
  Tensor to(DType dtype) const;    // *this when already of that dtype
  Tensor to(Device device) const;  // *this when already there
  Tensor to(Device device, DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }
  // A contiguous copy in pinned host memory (*this when already pinned), as torch's
  // x.pin_memory(); copies from it to cuda are asynchronous (tensor/pinned_memory.h).
  Tensor pin_memory() const;
  bool is_pinned() const;  // storage from a pinned-memory allocator (views included)

  // ---- math (same as the free functions in tensor/ops.h) ----------------------------
  Tensor neg() const;
  Tensor abs() const;
  Tensor sign() const;
  Tensor exp() const;
  Tensor log() const;
  Tensor sqrt() const;
  Tensor rsqrt() const;
  Tensor tanh() const;
  Tensor sigmoid() const;
  Tensor relu() const;
  Tensor sin() const;
  Tensor cos() const;
  Tensor pow(const Scalar& exponent) const;
  Tensor pow(const Tensor& exponent) const;
  Tensor floor() const;
  Tensor ceil() const;
  Tensor round() const;
  Tensor trunc() const;
  Tensor log1p() const;
  Tensor expm1() const;
  Tensor clamp(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor clamp(const std::optional<Tensor>& min,
               const std::optional<Tensor>& max = std::nullopt) const;
  Tensor clip(std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt) const;
  Tensor clip(const std::optional<Tensor>& min,
              const std::optional<Tensor>& max = std::nullopt) const;
  Tensor clamp_min(const Scalar& min) const;
  Tensor clamp_min(const Tensor& min) const;
  Tensor clamp_max(const Scalar& max) const;
  Tensor clamp_max(const Tensor& max) const;
  Tensor add(const Tensor& other) const;
  Tensor sub(const Tensor& other) const;
  Tensor mul(const Tensor& other) const;
  Tensor div(const Tensor& other) const;
  Tensor maximum(const Tensor& other) const;
  Tensor minimum(const Tensor& other) const;
  Tensor eq(const Tensor& other) const;
  Tensor ne(const Tensor& other) const;
  Tensor lt(const Tensor& other) const;
  Tensor le(const Tensor& other) const;
  Tensor gt(const Tensor& other) const;
  Tensor ge(const Tensor& other) const;
  Tensor masked_fill(const Tensor& mask, const Scalar& value) const;

  Tensor sum() const;
  Tensor sum(const DimList& dims, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const DimList& dims, bool keepdim = false) const;
  Tensor prod() const;
  Tensor prod(int64_t dim, bool keepdim = false) const;
  Tensor max() const;
  std::tuple<Tensor, Tensor> max(int64_t dim, bool keepdim = false) const;  // values, indices
  Tensor min() const;
  std::tuple<Tensor, Tensor> min(int64_t dim, bool keepdim = false) const;
  Tensor argmax() const;  // index into the flattened tensor
  Tensor argmax(int64_t dim, bool keepdim = false) const;
  Tensor argmin() const;
  Tensor argmin(int64_t dim, bool keepdim = false) const;
  Tensor var(const DimList& dims = {}, int64_t correction = 1, bool keepdim = false) const;
  Tensor std(const DimList& dims = {}, int64_t correction = 1, bool keepdim = false) const;
  Tensor logsumexp(const DimList& dims, bool keepdim = false) const;
  Tensor any(const DimList& dims = {}, bool keepdim = false) const;
  Tensor all(const DimList& dims = {}, bool keepdim = false) const;
  Tensor cumsum(int64_t dim) const;
  Tensor cumprod(int64_t dim) const;
  // sorting and sampling (issue 15): see ember::sort, argsort, topk, multinomial
  std::tuple<Tensor, Tensor> sort(int64_t dim = -1, bool descending = false,
                                  bool stable = false) const;
  Tensor argsort(int64_t dim = -1, bool descending = false, bool stable = false) const;
  std::tuple<Tensor, Tensor> topk(int64_t k, int64_t dim = -1, bool largest = true,
                                  bool sorted = true) const;
  Tensor multinomial(int64_t num_samples, bool replacement = false) const;
  Tensor masked_select(const Tensor& mask) const;
  Tensor index_put(const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate = false) const;

  Tensor matmul(const Tensor& other) const;
  Tensor softmax(int64_t dim) const;
  Tensor log_softmax(int64_t dim) const;
  Tensor index_select(int64_t dim, const Tensor& index) const;
  Tensor gather(int64_t dim, const Tensor& index) const;
  Tensor scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const;
  Tensor tril(int64_t diagonal = 0) const;
  Tensor triu(int64_t diagonal = 0) const;
  Tensor flip(const DimList& dims) const;
  Tensor roll(const std::vector<int64_t>& shifts, const DimList& dims = {}) const;
  Tensor repeat(const std::vector<int64_t>& sizes) const;
  Tensor tile(const std::vector<int64_t>& dims) const;
  Tensor repeat_interleave(int64_t repeats, std::optional<int64_t> dim = std::nullopt) const;
  Tensor repeat_interleave(const Tensor& repeats, std::optional<int64_t> dim = std::nullopt) const;
  std::vector<Tensor> split(int64_t split_size, int64_t dim = 0) const;
  std::vector<Tensor> split(const std::vector<int64_t>& split_sizes, int64_t dim = 0) const;
  std::vector<Tensor> chunk(int64_t chunks, int64_t dim = 0) const;

  // ---- in place (bump the version counter) ----------------------------------------
  Tensor& fill_(const Scalar& value);
  Tensor& zero_();
  Tensor& copy_(const Tensor& src);  // src broadcasts to *this; any dtype or device
  Tensor& add_(const Tensor& other);
  Tensor& add_(const Scalar& other);
  Tensor& sub_(const Tensor& other);
  Tensor& mul_(const Tensor& other);
  Tensor& mul_(const Scalar& other);
  Tensor& div_(const Tensor& other);
  Tensor& masked_fill_(const Tensor& mask, const Scalar& value);
  Tensor& index_put_(const std::vector<Tensor>& indices, const Tensor& values,
                     bool accumulate = false);
  Tensor& uniform_(double from = 0.0, double to = 1.0);
  Tensor& normal_(double mean = 0.0, double std = 1.0);

 private:
  const TensorImpl& checked_impl() const;  // *impl_, or ValueError for an undefined tensor
  std::shared_ptr<TensorImpl> impl_;
};

// What every tensor handle points at.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape sizes;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  std::shared_ptr<AutogradMeta> autograd;  // null until autograd needs it
};

// Autograd's per-tensor state (given meaning by autograd/).
struct AutogradMeta {
  bool requires_grad = false;  // for leaves; a non-leaf requires grad through its grad_fn
  bool retains_grad = false;
  bool is_view = false;  // a differentiable view of another tensor's storage
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;         // null for leaves
  uint32_t output_nr = 0;                          // which output of grad_fn this is
  std::weak_ptr<autograd::Node> grad_accumulator;  // leaves: their AccumulateGrad node
  std::vector<std::pair<int64_t, std::function<Tensor(const Tensor&)>>> hooks;  // leaves
  // Leaves: run after AccumulateGrad wrote .grad() (register_post_accumulate_grad_hook).
  std::vector<std::pair<int64_t, std::function<void(const Tensor&)>>> post_accumulate_grad_hooks;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Makes a tensor over `storage` with the given geometry (no checks: for the op layer).
Tensor make_tensor(std::shared_ptr<Storage> storage, Shape sizes, Strides strides, int64_t offset,
                   DType dtype);

namespace detail {
// Throws ValueError: the cold path of every accessor of an undefined tensor.
[[noreturn]] void undefined_tensor();
}  // namespace detail

// The metadata accessors, inline: every op calls them many times.
inline const TensorImpl& Tensor::checked_impl() const {
  if (impl_ == nullptr) [[unlikely]]
    detail::undefined_tensor();
  return *impl_;
}
inline const Shape& Tensor::sizes() const { return checked_impl().sizes; }
inline const Strides& Tensor::strides() const { return checked_impl().strides; }
inline int64_t Tensor::dim() const { return static_cast<int64_t>(checked_impl().sizes.size()); }
inline int64_t Tensor::storage_offset() const { return checked_impl().offset; }
inline DType Tensor::dtype() const { return checked_impl().dtype; }
inline Device Tensor::device() const { return checked_impl().storage->device(); }
inline size_t Tensor::element_size() const { return ember::element_size(checked_impl().dtype); }
inline const std::shared_ptr<Storage>& Tensor::storage() const { return checked_impl().storage; }
inline void* Tensor::raw_data() const {
  const TensorImpl& t = checked_impl();
  return static_cast<char*>(t.storage->data()) +
         t.offset * static_cast<int64_t>(ember::element_size(t.dtype));
}

namespace detail {
// The host-addressable check behind data_ptr/item.
void check_host_dtype(const Tensor& t, DType expected, const char* op);
double item_as_double(const Tensor& t);
// "MulBackward" for a tensor made by mul (defined in autograd/).
std::string grad_fn_name(const Tensor& t);
int64_t item_as_int(const Tensor& t);
}  // namespace detail

template <typename T>
T* Tensor::data_ptr() const {
  detail::check_host_dtype(*this, dtype_of_v<T>, "data_ptr");
  return static_cast<T*>(raw_data());
}

template <typename T>
T Tensor::item() const {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(detail::item_as_double(*this));
  } else {
    return static_cast<T>(detail::item_as_int(*this));
  }
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = to(Device::cpu(), dtype_of_v<T>).contiguous();
  const T* p = host.data_ptr<T>();
  return std::vector<T>(p, p + host.numel());
}
}  // namespace ember
