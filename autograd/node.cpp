#include "autograd/node.h"

#include <atomic>

#include "autograd/anomaly_mode.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::autograd {

namespace {
std::atomic<uint64_t> g_next_sequence_nr{0};

// The node whose backward is running on this thread (SavedTensor::unpack needs it).
thread_local Node* t_current_node = nullptr;

struct CurrentNode {
  explicit CurrentNode(Node* n) : prev(t_current_node) { t_current_node = n; }
  ~CurrentNode() { t_current_node = prev; }
  Node* prev;
};

// Sums a gradient computed in the broadcast shape down to the input's shape, with
// differentiable ops so that create_graph sees it.
Tensor reduce_to(const Tensor& g, const Shape& shape) {
  if (g.sizes() == shape) return g;
  int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  DimList dims;
  for (int64_t d = 0; d < g.dim(); ++d)
    if (d < lead || (shape[d - lead] == 1 && g.sizes()[d] != 1)) dims.push_back(d);
  Tensor r = dims.empty() ? g : ember::sum(g, dims, true);
  return r.reshape(shape);
}
}  // namespace

Node::Node(std::string name) : name_(std::move(name)), sequence_nr_(g_next_sequence_nr++) {}

AccumulateGrad::AccumulateGrad(std::shared_ptr<TensorImpl> leaf_impl)
    : Node("AccumulateGrad"), leaf(std::move(leaf_impl)) {}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  Tensor g = std::move(grads[0]);
  if (!g.defined()) return {};
  Tensor self(leaf);
  AutogradMeta& meta = self.ensure_autograd_meta();
  for (auto& [handle, hook] : meta.hooks) {
    Tensor r = hook(g);
    if (r.defined()) g = r;
  }
  if (GradMode::is_enabled()) {  // create_graph: keep the gradient differentiable
    meta.grad = meta.grad.defined() ? ember::add(meta.grad, g) : g;
  } else if (!meta.grad.defined()) {
    // Take g itself when nothing else can see it (no other handle on it, its storage not
    // shared with a view, dense): a large gradient is then not copied. Otherwise copy:
    // g may be shared with other leaves or be an expanded view.
    const bool alone = g.use_count() == 1 && g.storage().use_count() == 1 && g.is_contiguous() &&
                       g.storage_offset() == 0 && !g.requires_grad() && g.sizes() == self.sizes() &&
                       g.dtype() == self.dtype() && g.device() == self.device();
    if (!alone) {
      meta.grad = raw::clone(g);
    } else if (g.autograd_meta() != nullptr) {
      meta.grad = raw::alias(g);  // the same memory, without g's autograd state
    } else {
      meta.grad = std::move(g);
    }
  } else if (meta.grad.requires_grad()) {
    meta.grad = raw::binary(BinaryOp::add, meta.grad, g);
  } else {
    raw::binary_(BinaryOp::add, meta.grad, g);
  }
  // Copied: a hook may register or remove hooks.
  auto post_hooks = meta.post_accumulate_grad_hooks;
  for (auto& [handle, hook] : post_hooks) hook(self);
  return {};
}

SavedTensor::SavedTensor(const Tensor& t, bool is_output) : is_output_(is_output) {
  if (!t.defined()) return;
  version_ = t.version();
  if (is_output) {
    data_ = raw::alias(t);  // no autograd state: the node must not own its own output
    if (t.grad_fn()) grad_fn_ = t.grad_fn();
    output_nr_ = t.autograd_meta() ? t.autograd_meta()->output_nr : 0;
  } else {
    data_ = t;
  }
}

Tensor SavedTensor::unpack() const {
  if (!data_.defined()) return data_;
  if (data_.version() != version_) {
    std::string node = t_current_node ? t_current_node->name() : "a backward node";
    fail<ValueError>("backward", "a tensor of shape ", str(data_.sizes()), " saved by ", node,
                     " was modified by an in-place operation after it was saved (version ",
                     data_.version(), ", expected ", version_,
                     "); clone() it before modifying it in place");
  }
  if (!is_output_ || !GradMode::is_enabled()) return data_;
  // create_graph: give the output its history back so the backward is differentiable.
  auto fn = grad_fn_.lock();
  if (!fn) return data_;
  Tensor out = raw::alias(data_);
  AutogradMeta& m = out.ensure_autograd_meta();
  m.grad_fn = fn;
  m.output_nr = output_nr_;
  return out;
}

TensorList FunctionNode::apply(TensorList&& grad_outputs) {
  if (!fn_)
    fail<ValueError>("backward", "trying to backward through ", name(),
                     " a second time, after its saved tensors were freed; pass "
                     "retain_graph=true to the first backward if you need to do this");
  CurrentNode current(this);
  TensorList grads = fn_(grad_outputs);
  EMBER_CHECK(grads.size() == next_edges.size(), name(), " returned ", grads.size(),
              " gradients for ", next_edges.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    Tensor& g = grads[i];
    if (!g.defined() || !next_edges[i].valid()) {
      g = Tensor();
      continue;
    }
    const InputMeta& in = inputs[i];
    if (g.sizes() != in.shape) g = reduce_to(g, in.shape);
    if (g.dtype() != in.dtype) g = g.to(in.dtype);
    if (g.device() != in.device) g = g.to(in.device);
  }
  return grads;
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined()) return {};
  AutogradMeta* m = t.autograd_meta();
  if (m == nullptr) return {};
  if (m->grad_fn) return {m->grad_fn, m->output_nr};
  if (!m->requires_grad) return {};
  auto acc = m->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    m->grad_accumulator = acc;
  }
  return {acc, 0};
}

std::shared_ptr<Node> record(std::string name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn fn) {
  auto node = std::make_shared<FunctionNode>(std::move(name), std::move(fn));
  node->next_edges.reserve(inputs.size());
  node->inputs.reserve(inputs.size());
  for (const Tensor& in : inputs) {
    node->next_edges.push_back(gradient_edge(in));
    node->inputs.push_back(in.defined() ? InputMeta{in.sizes(), in.dtype(), in.device()}
                                        : InputMeta{});
  }
  node->num_outputs = static_cast<uint32_t>(outputs.size());
  if (AnomalyMode::is_enabled()) [[unlikely]]
    node->anomaly_forward = describe_forward(node->name(), inputs);
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined() || !is_floating(out.dtype())) continue;
    for (const Tensor& in : inputs)
      EMBER_CHECK(!out.is_same(in), node->name(), " records an output that is its own input");
    AutogradMeta& m = out.ensure_autograd_meta();
    m.grad_fn = node;
    m.output_nr = static_cast<uint32_t>(i);
  }
  return node;
}

}  // namespace ember::autograd

namespace ember::detail {
std::string grad_fn_name(const Tensor& t) {
  return t.grad_fn() ? t.grad_fn()->name() : std::string("none");
}
}  // namespace ember::detail
