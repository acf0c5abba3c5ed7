// The backward engine.
//
// 1. Count, for every node reachable from the roots, how many edges point at it.
// 2. Seed the roots' gradient slots; a node is ready when all its dependents have run.
// 3. Run ready nodes, newest first (highest sequence number), adding each returned
//    gradient into the slot its edge names; free saved tensors unless retain_graph.
// autograd::grad runs the same loop but records the slots of the requested inputs
// instead of letting AccumulateGrad write .grad().
#include "autograd/engine.h"

#include <atomic>
#include <queue>
#include <unordered_map>

#include "autograd/anomaly_mode.h"
#include "autograd/autocast_policy.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::autograd {

namespace {

struct Capture {
  Edge edge;
  Tensor* out;
};

struct NewestFirst {
  bool operator()(const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

// The callbacks queue_callback adds to the backward pass running on this thread.
thread_local std::vector<std::function<void()>>* t_callbacks = nullptr;

struct CallbackScope {
  explicit CallbackScope(std::vector<std::function<void()>>* c) : prev(t_callbacks) {
    t_callbacks = c;
  }
  ~CallbackScope() { t_callbacks = prev; }
  std::vector<std::function<void()>>* prev;
};

void add_into(Tensor& slot, const Tensor& g) { slot = slot.defined() ? ember::add(slot, g) : g; }

void run(const TensorList& roots, const TensorList& root_grads, bool retain_graph,
         bool create_graph, bool accumulate_leaves, const std::vector<Capture>& captures) {
  GradModeGuard mode(create_graph);
  std::vector<std::function<void()>> callbacks;
  CallbackScope callback_scope(&callbacks);
  // autocast does not apply to derivative rules: a gradient keeps its forward op's dtype.
  autocast_policy::Suspend no_autocast;
  std::unordered_map<Node*, int> deps;
  std::unordered_map<Node*, TensorList> buffers;

  std::vector<std::shared_ptr<Node>> stack;
  auto visit = [&](const std::shared_ptr<Node>& n) {
    if (deps.emplace(n.get(), 0).second) stack.push_back(n);
  };
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    Edge e = gradient_edge(roots[i]);
    if (!e.valid())
      fail<ValueError>("backward", "element ", i, " of the tensors (shape ", str(roots[i].sizes()),
                       ") does not require grad and has no grad_fn");
    root_edges.push_back(e);
    visit(e.fn);
  }
  while (!stack.empty()) {
    auto n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.valid()) continue;
      visit(e.fn);
      ++deps[e.fn.get()];
    }
  }

  for (size_t i = 0; i < roots.size(); ++i) {
    TensorList& buf = buffers[root_edges[i].fn.get()];
    buf.resize(root_edges[i].fn->num_outputs);
    add_into(buf[root_edges[i].input_nr], root_grads[i]);
  }

  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>, NewestFirst> ready;
  for (const Edge& e : root_edges) {
    if (deps[e.fn.get()] == 0) {
      deps[e.fn.get()] = -1;  // queued once even when several roots share it
      ready.push(e.fn);
    }
  }

  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.top();
    ready.pop();
    TensorList grads = std::move(buffers[node.get()]);
    buffers.erase(node.get());
    grads.resize(node->num_outputs);
    for (auto& [slot, handle, hook] : node->pre_hooks) {
      if (slot < grads.size() && grads[slot].defined()) {
        Tensor r = hook(grads[slot]);
        if (r.defined()) grads[slot] = r;
      }
    }
    for (const Capture& c : captures)
      if (c.edge.fn == node && grads[c.edge.input_nr].defined()) *c.out = grads[c.edge.input_nr];

    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    TensorList outs;
    bool is_leaf_sink = dynamic_cast<AccumulateGrad*>(node.get()) != nullptr;
    if (any && (accumulate_leaves || !is_leaf_sink)) {
      const profiler::Range profile(node->name(), profiler::EventKind::backward);
      outs = node->apply(std::move(grads));
      if (AnomalyMode::is_enabled()) [[unlikely]]
        check_gradients(*node, outs);
    }
    if (!retain_graph) node->release_saved();

    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      if (i < outs.size() && outs[i].defined()) {
        TensorList& buf = buffers[e.fn.get()];
        buf.resize(e.fn->num_outputs);
        add_into(buf[e.input_nr], outs[i]);
      }
      if (--deps[e.fn.get()] == 0) ready.push(e.fn);
    }
  }
  // An index loop: a callback may queue another.
  for (size_t i = 0; i < callbacks.size(); ++i) {
    std::function<void()> callback = std::move(callbacks[i]);
    callback();
  }
}

TensorList default_grads(const char* op, const TensorList& roots, const TensorList& given) {
  if (!given.empty() && given.size() != roots.size())
    fail<ValueError>(op, "got ", given.size(), " gradients for ", roots.size(), " tensors");
  TensorList grads(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    if (!roots[i].defined()) fail<ValueError>(op, "element ", i, " of the tensors is undefined");
    if (i < given.size() && given[i].defined()) {
      if (given[i].sizes() != roots[i].sizes())
        fail<ShapeError>(op, "gradient of shape ", str(given[i].sizes()),
                         " does not match its tensor of shape ", str(roots[i].sizes()));
      grads[i] = given[i];
    } else {
      if (roots[i].numel() != 1)
        fail<ValueError>(op, "a gradient can be created implicitly only for a scalar, got shape ",
                         str(roots[i].sizes()), "; pass the gradient explicitly");
      grads[i] = ones_like(roots[i]);
    }
  }
  return grads;
}

}  // namespace

void queue_callback(std::function<void()> callback) {
  if (t_callbacks == nullptr) fail<ValueError>("queue_callback", "called outside a backward pass");
  t_callbacks->push_back(std::move(callback));
}

void backward(const TensorList& tensors, const TensorList& grad_tensors, bool retain_graph,
              bool create_graph) {
  TensorList grads = default_grads("backward", tensors, grad_tensors);
  run(tensors, grads, retain_graph || create_graph, create_graph, true, {});
}

TensorList grad(const TensorList& outputs, const TensorList& inputs, const TensorList& grad_outputs,
                std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  TensorList grads = default_grads("grad", outputs, grad_outputs);
  TensorList result(inputs.size());
  std::vector<Capture> captures;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined() || !inputs[i].requires_grad())
      fail<ValueError>("grad", "input ", i, " does not require grad");
    captures.push_back({gradient_edge(inputs[i]), &result[i]});
  }
  run(outputs, grads, retain_graph.value_or(create_graph), create_graph, false, captures);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!result[i].defined() && !allow_unused)
      fail<ValueError>("grad", "input ", i, " (shape ", str(inputs[i].sizes()),
                       ") was not used to compute the outputs; pass allow_unused=true");
  return result;
}

}  // namespace ember::autograd

namespace ember {

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

namespace {
int64_t next_hook_handle() {
  static std::atomic<int64_t> next{1};
  return next++;
}
}  // namespace

int64_t Tensor::register_hook(std::function<Tensor(const Tensor&)> hook) const {
  if (!requires_grad())
    fail<ValueError>("register_hook",
                     "cannot register a hook on a tensor that does not require grad");
  int64_t handle = next_hook_handle();
  if (is_leaf()) {
    ensure_autograd_meta().hooks.emplace_back(handle, std::move(hook));
  } else {
    grad_fn()->pre_hooks.emplace_back(autograd_meta()->output_nr, handle, std::move(hook));
  }
  return handle;
}

int64_t Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  if (!requires_grad())
    fail<ValueError>("register_post_accumulate_grad_hook",
                     "cannot register a hook on a tensor that does not require grad");
  if (!is_leaf())
    fail<ValueError>("register_post_accumulate_grad_hook",
                     "post accumulate grad hooks cannot be registered on non-leaf tensors");
  int64_t handle = next_hook_handle();
  ensure_autograd_meta().post_accumulate_grad_hooks.emplace_back(handle, std::move(hook));
  return handle;
}

void Tensor::remove_hook(int64_t handle) const {
  if (AutogradMeta* m = autograd_meta()) {
    std::erase_if(m->hooks, [&](const auto& h) { return h.first == handle; });
    std::erase_if(m->post_accumulate_grad_hooks, [&](const auto& h) { return h.first == handle; });
    if (m->grad_fn)
      std::erase_if(m->grad_fn->pre_hooks, [&](const auto& h) { return std::get<1>(h) == handle; });
  }
}

void Tensor::retain_grad() const {
  if (!requires_grad())
    fail<ValueError>("retain_grad",
                     "cannot retain the grad of a tensor that does not require grad");
  if (is_leaf() || autograd_meta()->retains_grad) return;
  autograd_meta()->retains_grad = true;
  std::weak_ptr<TensorImpl> weak = impl_ptr();
  register_hook([weak](const Tensor& g) {
    if (auto impl = weak.lock()) {
      Tensor self(impl);
      AutogradMeta& m = self.ensure_autograd_meta();
      m.grad = m.grad.defined() ? raw::binary(BinaryOp::add, m.grad, g) : g.detach().clone();
    }
    return Tensor();
  });
}

}  // namespace ember
