// Recurrent layers (issue 15): the multi-layer, bidirectional time loop over the fused
// cells (tensor/ops.h's lstm_cell, gru_cell) and the single-step cells.
#include "nn/rnn.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/recording.h"
#include "nn/functional.h"
#include "tensor/raw.h"

namespace ember::nn {

namespace F = functional;

namespace {

int64_t gates_of(RNNBase::Mode m) {
  return m == RNNBase::Mode::lstm ? 4 : m == RNNBase::Mode::gru ? 3 : 1;
}

// The T steps of x (T, B, K) as T tensors (B, K) under one node, whose backward stacks
// their gradients: slicing step by step would give each step's gradient a (T, B, K)
// buffer of its own (T^2 work over a sequence).
std::vector<Tensor> unbind_steps(const Tensor& x) {
  const int64_t T = x.size(0);
  std::vector<Tensor> out;
  out.reserve(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) out.push_back(raw::select(x, 0, t));
  if (autograd::needs_grad({&x})) {
    const Shape step{x.size(1), x.size(2)};
    const DType dt = x.dtype();
    const Device dev = x.device();
    autograd::record("UnbindBackward", {x}, out, [=](const autograd::TensorList& g) {
      std::vector<Tensor> parts;
      for (const Tensor& gt : g)
        parts.push_back(gt.defined() ? gt : zeros(step, {.dtype = dt, .device = dev}));
      return autograd::TensorList{stack(parts, 0)};
    });
    for (const Tensor& t : out) autograd::mark_view(t);
  }
  return out;
}

// x (B, in) W^T + b, b optional.
Tensor project(const Tensor& x, const Tensor& w, const Tensor& b) { return F::linear(x, w, b); }

}  // namespace

// ---- the layers ---------------------------------------------------------------------------

RNNBase::RNNBase(Mode m, int64_t in, int64_t hidden, RNNOptions o)
    : mode(m), input_size(in), hidden_size(hidden), options(std::move(o)) {
  const char* op = layer_name();
  if (in <= 0 || hidden <= 0)
    fail<ValueError>(op, "input_size and hidden_size must be positive, got ", in, " and ", hidden);
  if (options.num_layers <= 0)
    fail<ValueError>(op, "num_layers must be positive, got ", options.num_layers);
  if (!(options.dropout >= 0.0 && options.dropout <= 1.0))
    fail<ValueError>(op, "dropout should be a number in range [0, 1], got ", options.dropout);
  // proj_size (LSTM only, torch's messages): h is (.., proj_size), c stays (.., hidden).
  const int64_t P = options.proj_size;
  if (P < 0)
    fail<ValueError>(op,
                     "proj_size should be a positive integer or zero to disable "
                     "projections, got ",
                     P);
  if (P != 0 && m != Mode::lstm)
    fail<ValueError>(op,
                     "proj_size argument is only supported for LSTM, not RNN or GRU (got "
                     "proj_size=",
                     P, ")");
  if (P >= hidden)
    fail<ValueError>(op, "proj_size has to be smaller than hidden_size, got proj_size=", P,
                     " and hidden_size=", hidden);
  const int64_t G = gates_of(m), D = options.bidirectional ? 2 : 1;
  const int64_t out_h = P > 0 ? P : hidden;  // the size of h and of each direction's output
  for (int64_t k = 0; k < options.num_layers; ++k)
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = "_l" + std::to_string(k) + (d == 1 ? "_reverse" : "");
      const int64_t layer_in = k == 0 ? in : out_h * D;
      std::vector<Tensor> w;
      w.push_back(register_parameter("weight_ih" + sfx, empty({G * hidden, layer_in})));
      w.push_back(register_parameter("weight_hh" + sfx, empty({G * hidden, out_h})));
      if (options.bias) {
        w.push_back(register_parameter("bias_ih" + sfx, empty({G * hidden})));
        w.push_back(register_parameter("bias_hh" + sfx, empty({G * hidden})));
      } else {
        w.insert(w.end(), {Tensor(), Tensor()});
      }
      // torch registers weight_hr after the biases (its _flat_weights order)
      w.push_back(P > 0 ? register_parameter("weight_hr" + sfx, empty({P, hidden})) : Tensor());
      all_weights.push_back(std::move(w));
    }
  reset_parameters();
}

void RNNBase::reset_parameters() {
  const double s = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  const autograd::NoGradGuard no_grad;
  for (auto& w : all_weights)
    for (Tensor& t : w)
      if (t.defined()) t.uniform_(-s, s);
}

const char* RNNBase::layer_name() const {
  switch (mode) {
    case Mode::lstm: return "LSTM";
    case Mode::gru: return "GRU";
    default: return "RNN";
  }
}

std::string RNNBase::extra_repr() const {
  std::string r = std::to_string(input_size) + ", " + std::to_string(hidden_size);
  if (options.num_layers != 1) r += ", num_layers=" + std::to_string(options.num_layers);
  if (mode == Mode::rnn_relu) r += ", nonlinearity='relu'";
  if (!options.bias) r += ", bias=False";
  if (options.batch_first) r += ", batch_first=True";
  if (options.dropout != 0.0) r += ", dropout=" + std::to_string(options.dropout);
  if (options.bidirectional) r += ", bidirectional=True";
  if (options.proj_size != 0) r += ", proj_size=" + std::to_string(options.proj_size);
  return r;
}

std::tuple<Tensor, Tensor, Tensor> RNNBase::run(const Tensor& input, const Tensor& h0,
                                                const Tensor& c0) {
  const char* op = layer_name();
  raw::check_defined(op, input);
  if (input.dim() != 2 && input.dim() != 3)
    fail<ShapeError>(op, "Expected input to be 2D or 3D, got ", input.dim(), "D input of shape ",
                     str(input.sizes()));
  if (input.size(-1) != input_size)
    fail<ShapeError>(op, "input.size(-1) must be equal to input_size. Expected ", input_size,
                     ", got ", input.size(-1), " (input ", str(input.sizes()), ")");
  const bool unbatched = input.dim() == 2;
  Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first ? input.transpose(0, 1) : input;
  const int64_t T = x.size(0), B = x.size(1), H = hidden_size, L = options.num_layers;
  const int64_t D = options.bidirectional ? 2 : 1;
  const int64_t P = options.proj_size > 0 ? options.proj_size : H;  // h's size
  const bool lstm = mode == Mode::lstm;
  auto initial = [&](const Tensor& s, int64_t size, const char* what) {
    if (!s.defined()) return zeros({L * D, B, size}, {.dtype = x.dtype(), .device = x.device()});
    const Shape state_shape = unbatched ? Shape{L * D, size} : Shape{L * D, B, size};
    if (s.sizes() != state_shape)
      fail<ShapeError>(op, "Expected ", what, " size ", str(state_shape), ", got ", str(s.sizes()),
                       " (input ", str(input.sizes()), ")");
    return unbatched ? s.unsqueeze(1) : s;
  };
  Tensor h_init = initial(h0, P, lstm ? "hidden[0]" : "hidden");  // (L*D, B, P)
  Tensor c_init = lstm ? initial(c0, H, "hidden[1]") : Tensor();  // (L*D, B, H)
  std::vector<Tensor> h_last, c_last;                             // L*D x (B, P), (B, H)
  Tensor layer_in = x;                                            // (T, B, K)
  for (int64_t k = 0; k < L; ++k) {
    std::vector<Tensor> dir_out;  // D x (T, B, P)
    for (int64_t d = 0; d < D; ++d) {
      const int64_t idx = k * D + d;
      const std::vector<Tensor>& w = all_weights[static_cast<size_t>(idx)];
      const int64_t K = layer_in.size(2);
      // one GEMM for every step's input projection: (T*B, K) -> (T, B, G*H)
      Tensor ig = project(layer_in.reshape({T * B, K}), w[0], w[2]).reshape({T, B, -1});
      std::vector<Tensor> steps = unbind_steps(ig);  // T x (B, G*H)
      Tensor h = h_init.select(0, idx), c = lstm ? c_init.select(0, idx) : Tensor();
      std::vector<Tensor> hs(static_cast<size_t>(T));
      for (int64_t s = 0; s < T; ++s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        Tensor hg = project(h, w[1], w[3]);  // (B, G*H)
        const Tensor& it = steps[static_cast<size_t>(t)];
        switch (mode) {
          case Mode::lstm:
            std::tie(h, c) = lstm_cell(it, hg, c);
            if (w[4].defined()) h = project(h, w[4], Tensor());  // h_t = W_hr (o * tanh(c_t))
            break;
          case Mode::gru: h = gru_cell(it, hg, h); break;
          case Mode::rnn_tanh: h = tanh(it + hg); break;
          case Mode::rnn_relu: h = relu(it + hg); break;
        }
        hs[static_cast<size_t>(t)] = h;
      }
      dir_out.push_back(stack(hs, 0));
      h_last.push_back(h);
      if (lstm) c_last.push_back(c);
    }
    layer_in = D == 1 ? dir_out[0] : cat(dir_out, 2);  // (T, B, D*P)
    if (k + 1 < L && options.dropout > 0.0)
      layer_in = F::dropout(layer_in, options.dropout, is_training());
  }
  Tensor out = layer_in;                                                  // (T, B, D*P)
  Tensor hn = stack(h_last, 0), cn = lstm ? stack(c_last, 0) : Tensor();  // (L*D, B, P|H)
  if (unbatched) {
    out = out.squeeze(1);
    hn = hn.squeeze(1);
    if (lstm) cn = cn.squeeze(1);
  } else if (options.batch_first) {
    out = out.transpose(0, 1);
  }
  return {out, hn, cn};
}

namespace {

RNNBase::Mode rnn_mode(const std::string& nonlinearity) {
  if (nonlinearity == "tanh") return RNNBase::Mode::rnn_tanh;
  if (nonlinearity == "relu") return RNNBase::Mode::rnn_relu;
  fail<ValueError>("RNN", "Unknown nonlinearity '", nonlinearity,
                   "'. Select from 'tanh' or 'relu'.");
}

}  // namespace

RNN::RNN(int64_t in, int64_t hidden, RNNOptions o)
    : RNNBase(rnn_mode(o.nonlinearity), in, hidden, o) {}

std::tuple<Tensor, Tensor> RNN::forward(const Tensor& x, const Tensor& h0) {
  auto [out, hn, cn] = run(x, h0, Tensor());
  return {out, hn};
}

LSTM::LSTM(int64_t in, int64_t hidden, RNNOptions o) : RNNBase(Mode::lstm, in, hidden, o) {}

std::tuple<Tensor, std::tuple<Tensor, Tensor>> LSTM::forward(
    const Tensor& x, const std::optional<std::tuple<Tensor, Tensor>>& state) {
  Tensor h0, c0;
  if (state) {
    std::tie(h0, c0) = *state;
    if (!h0.defined() || !c0.defined())
      fail<ValueError>("LSTM", "the initial state (h0, c0) needs both tensors");
  }
  auto [out, hn, cn] = run(x, h0, c0);
  return {out, {hn, cn}};
}

GRU::GRU(int64_t in, int64_t hidden, RNNOptions o) : RNNBase(Mode::gru, in, hidden, o) {}

std::tuple<Tensor, Tensor> GRU::forward(const Tensor& x, const Tensor& h0) {
  auto [out, hn, cn] = run(x, h0, Tensor());
  return {out, hn};
}

// ---- the cells ----------------------------------------------------------------------------

RNNCellBase::RNNCellBase(const char* name, int64_t gates, int64_t in, int64_t hidden, bool bias)
    : input_size(in), hidden_size(hidden), name_(name) {
  if (in <= 0 || hidden <= 0)
    fail<ValueError>(name, "input_size and hidden_size must be positive, got ", in, " and ",
                     hidden);
  weight_ih = register_parameter("weight_ih", empty({gates * hidden, in}));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden, hidden}));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({gates * hidden}));
    bias_hh = register_parameter("bias_hh", empty({gates * hidden}));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  const double s = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  const autograd::NoGradGuard no_grad;
  for (Tensor* t : {&weight_ih, &weight_hh, &bias_ih, &bias_hh})
    if (t->defined()) t->uniform_(-s, s);
}

std::string RNNCellBase::extra_repr() const {
  return std::to_string(input_size) + ", " + std::to_string(hidden_size) +
         (bias_ih.defined() ? "" : ", bias=False");
}

Tensor RNNCellBase::batched_input(const Tensor& x, bool& unbatched) const {
  raw::check_defined(name_, x);
  if (x.dim() != 1 && x.dim() != 2)
    fail<ShapeError>(name_, "Expected input to be 1D or 2D, got ", x.dim(), "D input of shape ",
                     str(x.sizes()));
  if (x.size(-1) != input_size)
    fail<ShapeError>(name_, "input has inconsistent input_size: got ", x.size(-1), " expected ",
                     input_size, " (input ", str(x.sizes()), ")");
  unbatched = x.dim() == 1;
  return unbatched ? x.unsqueeze(0) : x;
}

Tensor RNNCellBase::batched_state(const Tensor& h, const Tensor& x, bool unbatched,
                                  const char* what) const {
  if (!h.defined())
    return zeros({x.size(0), hidden_size}, {.dtype = x.dtype(), .device = x.device()});
  const Shape want = unbatched ? Shape{hidden_size} : Shape{x.size(0), hidden_size};
  if (h.sizes() != want)
    fail<ShapeError>(name_, "Expected ", what, " size ", str(want), ", got ", str(h.sizes()),
                     " (input ", str(x.sizes()), ")");
  return unbatched ? h.unsqueeze(0) : h;
}

RNNCell::RNNCell(int64_t in, int64_t hidden, bool bias, std::string act)
    : RNNCellBase("RNNCell", 1, in, hidden, bias), nonlinearity(std::move(act)) {
  if (nonlinearity != "tanh" && nonlinearity != "relu")
    fail<ValueError>("RNNCell", "Unknown nonlinearity: ", nonlinearity);
}

Tensor RNNCell::forward(const Tensor& input, const Tensor& h0) {
  bool unbatched = false;
  Tensor x = batched_input(input, unbatched);  // (B, in)
  Tensor h = batched_state(h0, x, unbatched, "hx");
  Tensor a = project(x, weight_ih, bias_ih) + project(h, weight_hh, bias_hh);
  Tensor out = nonlinearity == "tanh" ? tanh(a) : relu(a);
  return unbatched ? out.squeeze(0) : out;
}

LSTMCell::LSTMCell(int64_t in, int64_t hidden, bool bias)
    : RNNCellBase("LSTMCell", 4, in, hidden, bias) {}

std::tuple<Tensor, Tensor> LSTMCell::forward(
    const Tensor& input, const std::optional<std::tuple<Tensor, Tensor>>& state) {
  bool unbatched = false;
  Tensor x = batched_input(input, unbatched);  // (B, in)
  Tensor h0, c0;
  if (state) std::tie(h0, c0) = *state;
  Tensor h = batched_state(h0, x, unbatched, "hx[0]"), c = batched_state(c0, x, unbatched, "hx[1]");
  auto [hn, cn] = lstm_cell(project(x, weight_ih, bias_ih), project(h, weight_hh, bias_hh), c);
  if (unbatched) return {hn.squeeze(0), cn.squeeze(0)};
  return {hn, cn};
}

GRUCell::GRUCell(int64_t in, int64_t hidden, bool bias)
    : RNNCellBase("GRUCell", 3, in, hidden, bias) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& h0) {
  bool unbatched = false;
  Tensor x = batched_input(input, unbatched);  // (B, in)
  Tensor h = batched_state(h0, x, unbatched, "hx");
  Tensor out = gru_cell(project(x, weight_ih, bias_ih), project(h, weight_hh, bias_hh), h);
  return unbatched ? out.squeeze(0) : out;
}

}  // namespace ember::nn
