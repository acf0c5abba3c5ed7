// The graph: nodes (one per differentiable op call), edges to the nodes of their inputs,
// saved tensors with version checks, and the helpers ops use to record themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/tensor.h"

namespace ember::autograd {

using TensorList = std::vector<Tensor>;
struct Node;

// Where a gradient goes: output-gradient slot `input_nr` of node `fn`.
struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;
  bool valid() const { return fn != nullptr; }
};

// What an input of a node looked like, so gradients can be checked and reduced to it.
struct InputMeta {
  Shape shape;
  DType dtype = DType::f32;
  Device device;
};

struct Node : std::enable_shared_from_this<Node> {
  explicit Node(std::string name);
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients with respect to the outputs (undefined for outputs no path used) ->
  // gradients with respect to the inputs, one per next_edges entry (undefined = zero).
  virtual TensorList apply(TensorList&& grad_outputs) = 0;
  // Frees saved tensors once backward ran without retain_graph.
  virtual void release_saved() {}

  const std::string& name() const { return name_; }
  uint64_t sequence_nr() const { return sequence_nr_; }

  std::vector<Edge> next_edges;   // one per input
  std::vector<InputMeta> inputs;  // one per input
  uint32_t num_outputs = 1;
  // Hooks on the gradient of output slot `first`, run before apply (tensor hooks of non-leaves).
  std::vector<std::tuple<uint32_t, int64_t, std::function<Tensor(const Tensor&)>>> pre_hooks;
  // Anomaly mode only (autograd/anomaly_mode.h): the forward op and its inputs' shapes.
  std::string anomaly_forward;

 private:
  std::string name_;
  uint64_t sequence_nr_;  // creation order: later nodes run first among ready ones
};

// Accumulates into a leaf's .grad(); the leaf's hooks run first.
struct AccumulateGrad final : Node {
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf);
  TensorList apply(TensorList&& grad_outputs) override;
  std::shared_ptr<TensorImpl> leaf;
};

// A tensor kept for the backward pass, with the version it had when saved: unpacking it
// after an in-place change fails with an Error naming the node. Outputs of the node
// itself are saved without their autograd state (no reference cycle) and get it back,
// through a weak reference, when unpacked.
class SavedTensor {
 public:
  SavedTensor() = default;
  SavedTensor(const Tensor& t, bool is_output);
  // Must be called from inside the owning node's backward.
  Tensor unpack() const;
  bool defined() const { return data_.defined(); }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  bool is_output_ = false;
  std::weak_ptr<Node> grad_fn_;
  uint32_t output_nr_ = 0;
};

using BackwardFn = std::function<TensorList(const TensorList& grad_outputs)>;

// A node whose backward is a closure written next to the op's forward.
struct FunctionNode final : Node {
  FunctionNode(std::string name, BackwardFn fn) : Node(std::move(name)), fn_(std::move(fn)) {}
  TensorList apply(TensorList&& grad_outputs) override;
  void release_saved() override { fn_ = nullptr; }

 private:
  BackwardFn fn_;
};

// ---- recording -------------------------------------------------------------------------

// True when grad mode is on and any input requires grad: the op must record.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const TensorList& inputs);
// The edge a gradient for `t` flows into (creating a leaf's AccumulateGrad), or an
// invalid edge when t does not require grad.
Edge gradient_edge(const Tensor& t);
// Creates a node for `inputs` -> `outputs` with backward `fn`, and makes every floating
// output a non-leaf pointing at it. `outputs` are modified (their autograd state).
std::shared_ptr<Node> record(std::string name, const TensorList& inputs, const TensorList& outputs,
                             BackwardFn fn);
inline std::shared_ptr<Node> record(std::string name, const TensorList& inputs,
                                    const Tensor& output, BackwardFn fn) {
  return record(std::move(name), inputs, TensorList{output}, std::move(fn));
}

}  // namespace ember::autograd
