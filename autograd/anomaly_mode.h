// Anomaly detection for backward (torch.autograd.detect_anomaly / set_detect_anomaly):
// while it is on, every node records the forward op that created it and its inputs' shapes,
// and the engine checks each gradient a node returns; a NaN or an infinity throws a
// ValueError naming the node, the output slot and the forward op:
//
//   autograd::DetectAnomalyGuard anomaly;   // Trainer({.detect_anomaly = true}) does this
//   loss.backward();  // ValueError: backward: SqrtBackward returned inf values in its 0th
//                     // output (created by sqrt on an f32 input of shape (3)) ...
//
// Off (the default) it costs one relaxed load per recorded node and per node run. On, each
// gradient costs an elementwise pass, a reduction and a one-value copy to the host.
#pragma once

#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ember::autograd {

struct Node;

// Process-wide, as PyTorch's: a backward run on another thread is checked too.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Turns anomaly detection on (or off) for its scope; nests.
class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool enabled = true) : prev_(AnomalyMode::is_enabled()) {
    AnomalyMode::set_enabled(enabled);
  }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

// The forward op a node name stands for: "LogSoftmaxBackward" -> "log_softmax".
std::string forward_op_name(const std::string& node_name);
// What `record` stores in a node while anomaly mode is on: the forward op and its inputs.
std::string describe_forward(const std::string& node_name, const std::vector<Tensor>& inputs);
// Throws when one of the gradients `node` returned has a NaN or an infinity.
void check_gradients(const Node& node, const std::vector<Tensor>& grads);

}  // namespace ember::autograd
