// Recurrent layers with PyTorch's names, options, parameter keys, gate orders and
// initialization (issue 15): RNN (tanh/relu), LSTM, GRU and their cells.
//
// Sequences are (T, B, input_size), (B, T, input_size) with batch_first, or unbatched
// (T, input_size); states are (num_layers * num_directions, B, H) ((.., H) unbatched).
// Parameters per layer k and direction (suffix "" or "_reverse"): weight_ih_l{k} (G*H, in),
// weight_hh_l{k} (G*H, H), bias_ih_l{k}, bias_hh_l{k} (G*H), G = 4 (LSTM: i, f, g, o),
// 3 (GRU: r, z, n) or 1, all initialized U(-1/sqrt(H), 1/sqrt(H)). An LSTM with proj_size
// P > 0 also has weight_hr_l{k} (P, H): each step's h is projected to P, so weight_hh is
// (4H, P), a layer above the first takes D*P inputs, h0/h_n are (L*D, B, P), c stays H.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace ember::nn {

// torch's arguments after input_size and hidden_size. nonlinearity is RNN's alone; proj_size
// LSTM's alone (0: none; else 0 < proj_size < hidden_size).
struct RNNOptions {
  int64_t num_layers = 1;
  std::string nonlinearity = "tanh";  // tanh | relu (RNN only)
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;  // on every layer's output but the last, in training
  bool bidirectional = false;
  int64_t proj_size = 0;  // LSTM: h_t = weight_hr (o_t * tanh(c_t)), of this size
};

// The shared multi-layer loop: per layer and direction, one GEMM projects every step's
// input, then each step does one GEMM with weight_hh and the fused cell.
class RNNBase : public Module {
 public:
  enum class Mode : uint8_t { rnn_tanh, rnn_relu, lstm, gru };
  RNNBase(Mode mode, int64_t input_size, int64_t hidden_size, RNNOptions options);
  std::string extra_repr() const override;
  void reset_parameters();

  Mode mode;
  int64_t input_size, hidden_size;
  RNNOptions options;
  // weight_ih, weight_hh, bias_ih, bias_hh, weight_hr of each (layer, direction), in torch's
  // order; absent ones (no bias, no projection) undefined.
  std::vector<std::vector<Tensor>> all_weights;

 protected:
  // x as above, h0 and c0 (c0 for LSTM) or undefined (zeros) -> output, h_n, c_n.
  std::tuple<Tensor, Tensor, Tensor> run(const Tensor& x, const Tensor& h0, const Tensor& c0);
  const char* layer_name() const;
};

// Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh). forward -> (output, h_n).
class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  static Ptr<RNN> make(int64_t input_size, int64_t hidden_size, RNNOptions options = {}) {
    return std::make_shared<RNN>(input_size, hidden_size, std::move(options));
  }
  std::tuple<Tensor, Tensor> forward(const Tensor& x, const Tensor& h0 = Tensor());
};

// forward -> (output, (h_n, c_n)); the initial state is (h0, c0) or absent (zeros).
class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  static Ptr<LSTM> make(int64_t input_size, int64_t hidden_size, RNNOptions options = {}) {
    return std::make_shared<LSTM>(input_size, hidden_size, std::move(options));
  }
  std::tuple<Tensor, std::tuple<Tensor, Tensor>> forward(
      const Tensor& x, const std::optional<std::tuple<Tensor, Tensor>>& state = std::nullopt);
};

// forward -> (output, h_n).
class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  static Ptr<GRU> make(int64_t input_size, int64_t hidden_size, RNNOptions options = {}) {
    return std::make_shared<GRU>(input_size, hidden_size, std::move(options));
  }
  std::tuple<Tensor, Tensor> forward(const Tensor& x, const Tensor& h0 = Tensor());
};

// One step of each, on x (B, input_size) or unbatched (input_size); keys weight_ih (G*H,
// in), weight_hh (G*H, H), bias_ih, bias_hh (G*H).
class RNNCellBase : public Module {
 public:
  RNNCellBase(const char* name, int64_t gates, int64_t input_size, int64_t hidden_size, bool bias);
  std::string extra_repr() const override;
  void reset_parameters();

  int64_t input_size, hidden_size;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  // x made (B, in) and a state made (B, H) (zeros when undefined); unbatched says to squeeze.
  Tensor batched_input(const Tensor& x, bool& unbatched) const;
  Tensor batched_state(const Tensor& h, const Tensor& x, bool unbatched, const char* what) const;
  const char* name_;
};

class RNNCell : public RNNCellBase, public Make<RNNCell> {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, bool bias = true,
          std::string nonlinearity = "tanh");
  Tensor forward(const Tensor& x, const Tensor& h = Tensor());
  std::string nonlinearity;
};

class LSTMCell : public RNNCellBase, public Make<LSTMCell> {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true);
  std::tuple<Tensor, Tensor> forward(
      const Tensor& x, const std::optional<std::tuple<Tensor, Tensor>>& state = std::nullopt);
};

class GRUCell : public RNNCellBase, public Make<GRUCell> {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true);
  Tensor forward(const Tensor& x, const Tensor& h = Tensor());
};

}  // namespace ember::nn
