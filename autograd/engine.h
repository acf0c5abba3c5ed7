// The backward engine: runs the graph's nodes in reverse topological order.
#pragma once

#include <functional>
#include <optional>

#include "autograd/node.h"

namespace ember::autograd {

// Accumulates d(tensors)/d(leaf) . grad_tensors into every leaf's .grad(). A scalar root
// needs no grad tensor (undefined = ones). Frees the graph unless retain_graph.
void backward(const TensorList& tensors, const TensorList& grad_tensors = {},
              bool retain_graph = false, bool create_graph = false);

// Returns d(outputs)/d(inputs) . grad_outputs without touching any .grad(). With
// create_graph the results are differentiable (double backward). retain_graph defaults
// to create_graph. An input the outputs do not depend on is an error unless allow_unused,
// which gives an undefined tensor for it.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {}, std::optional<bool> retain_graph = {},
                bool create_graph = false, bool allow_unused = false);

// During a backward pass (from a hook or a node), queues `callback` to run once the pass
// has run every node, before backward() returns (torch's
// Variable._execution_engine.queue_callback): how DDP waits for its last all-reduce.
// Callbacks run in the order queued; one may queue more. Outside a backward pass it throws
// ValueError. A pass that throws drops its callbacks.
void queue_callback(std::function<void()> callback);

}  // namespace ember::autograd
