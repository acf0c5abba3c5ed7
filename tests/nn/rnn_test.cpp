// RNN (tanh/relu), LSTM, GRU and their cells (issue 15): outputs, final states and every
// gradient against a plain step-by-step loop written with ember's basic ops (matmul,
// sigmoid, tanh, narrow) in f64, for every combination of layers {1, 2}, direction,
// batch_first and initial state; the fused cells under gradcheck; parameter names, shapes
// and initialization as PyTorch's; the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using autograd::TensorList;
using ::testing::HasSubstr;
using Mode = RNNBase::Mode;

TensorOptions f64() { return {.dtype = DType::f64}; }

void expect_close(const Tensor& got, const Tensor& want, const std::string& what,
                  double tol = 1e-10) {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * (1 + std::fabs(w[i]))) << what << " at " << i;
}

// x (B, K) W^T + b with plain matmul.
Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor y = matmul(x, w.transpose(0, 1));
  return b.defined() ? y + b : y;
}
Tensor gate(const Tensor& a, int64_t k, int64_t H) { return a.narrow(1, k * H, H); }

// The reference: every layer and direction one step at a time, on (T, B, K) input.
struct Reference {
  Mode mode;
  int64_t H, L, D;
  std::tuple<Tensor, Tensor, Tensor> run(const std::vector<std::vector<Tensor>>& weights, Tensor x,
                                         const Tensor& h0, const Tensor& c0) const {
    const int64_t T = x.size(0);
    std::vector<Tensor> hn, cn;
    for (int64_t k = 0; k < L; ++k) {
      std::vector<Tensor> outs;
      for (int64_t d = 0; d < D; ++d) {
        const auto& w = weights[static_cast<size_t>(k * D + d)];
        Tensor h = h0.select(0, k * D + d), c = c0.defined() ? c0.select(0, k * D + d) : Tensor();
        std::vector<Tensor> hs(static_cast<size_t>(T));
        for (int64_t s = 0; s < T; ++s) {
          const int64_t t = d == 0 ? s : T - 1 - s;
          Tensor xi = affine(x.select(0, t), w[0], w[2]), hh = affine(h, w[1], w[3]);
          if (mode == Mode::lstm) {
            Tensor a = xi + hh;
            Tensor i = sigmoid(gate(a, 0, H)), f = sigmoid(gate(a, 1, H));
            Tensor g = tanh(gate(a, 2, H)), o = sigmoid(gate(a, 3, H));
            c = f * c + i * g;
            h = o * tanh(c);
            if (w[4].defined()) h = matmul(h, w[4].transpose(0, 1));  // proj_size
          } else if (mode == Mode::gru) {
            Tensor r = sigmoid(gate(xi, 0, H) + gate(hh, 0, H));
            Tensor z = sigmoid(gate(xi, 1, H) + gate(hh, 1, H));
            Tensor n = tanh(gate(xi, 2, H) + r * gate(hh, 2, H));
            h = (1.0 - z) * n + z * h;
          } else {
            h = mode == Mode::rnn_tanh ? tanh(xi + hh) : relu(xi + hh);
          }
          hs[static_cast<size_t>(t)] = h;
        }
        outs.push_back(stack(hs, 0));
        hn.push_back(h);
        if (c.defined()) cn.push_back(c);
      }
      x = cat(outs, 2);
    }
    return {x, stack(hn, 0), cn.empty() ? Tensor() : stack(cn, 0)};
  }
};

struct Combo {
  Mode mode;
  int64_t layers;
  bool bidirectional, batch_first, initial_state, bias;
  int64_t proj_size = 0;
};

std::string tag(const Combo& c) {
  const char* m[] = {"rnn_tanh", "rnn_relu", "lstm", "gru"};
  return std::string(m[static_cast<int>(c.mode)]) + "_L" + std::to_string(c.layers) +
         (c.bidirectional ? "_bi" : "") + (c.batch_first ? "_bf" : "") +
         (c.initial_state ? "_h0" : "") + (c.bias ? "" : "_nobias") +
         (c.proj_size ? "_proj" + std::to_string(c.proj_size) : "");
}

std::shared_ptr<RNNBase> make_layer(const Combo& c, int64_t in, int64_t H) {
  RNNOptions o{.num_layers = c.layers,
               .nonlinearity = c.mode == Mode::rnn_relu ? "relu" : "tanh",
               .bias = c.bias,
               .batch_first = c.batch_first,
               .bidirectional = c.bidirectional,
               .proj_size = c.proj_size};
  if (c.mode == Mode::lstm) return LSTM::make(in, H, o);
  if (c.mode == Mode::gru) return GRU::make(in, H, o);
  return RNN::make(in, H, o);
}

// The layer's (output, h_n, c_n) through its public forward.
std::tuple<Tensor, Tensor, Tensor> call(RNNBase& m, const Tensor& x, const Tensor& h0,
                                        const Tensor& c0) {
  if (auto* l = dynamic_cast<LSTM*>(&m)) {
    auto [out, hc] = h0.defined() ? l->forward(x, std::make_tuple(h0, c0)) : l->forward(x);
    return {out, std::get<0>(hc), std::get<1>(hc)};
  }
  if (auto* g = dynamic_cast<GRU*>(&m)) {
    auto [out, hn] = g->forward(x, h0);
    return {out, hn, Tensor()};
  }
  auto [out, hn] = dynamic_cast<RNN&>(m).forward(x, h0);
  return {out, hn, Tensor()};
}

void check_combo(const Combo& c) {
  SCOPED_TRACE(tag(c));
  const int64_t T = 5, B = 3, K = 4, H = 6, D = c.bidirectional ? 2 : 1;
  const int64_t P = c.proj_size > 0 ? c.proj_size : H;  // h's size
  manual_seed(7);
  auto m = make_layer(c, K, H);
  m->to(DType::f64);
  Tensor x = randn(c.batch_first ? Shape{B, T, K} : Shape{T, B, K}, f64()).requires_grad_(true);
  const bool lstm = c.mode == Mode::lstm;
  Tensor h0 = c.initial_state ? randn({c.layers * D, B, P}, f64()).requires_grad_(true) : Tensor();
  Tensor c0 =
      c.initial_state && lstm ? randn({c.layers * D, B, H}, f64()).requires_grad_(true) : Tensor();
  auto [out, hn, cn] = call(*m, x, h0, c0);

  const Reference ref{c.mode, H, c.layers, D};
  Tensor xr = c.batch_first ? x.transpose(0, 1) : x;
  Tensor zero = zeros({c.layers * D, B, H}, f64()), zero_h = zeros({c.layers * D, B, P}, f64());
  auto [rout, rhn, rcn] = ref.run(m->all_weights, xr, h0.defined() ? h0 : zero_h,
                                  lstm ? (c0.defined() ? c0 : zero) : Tensor());
  EXPECT_EQ(out.size(-1), D * P);
  EXPECT_EQ(hn.sizes(), (Shape{c.layers * D, B, P}));
  if (c.batch_first) rout = rout.transpose(0, 1);
  expect_close(out, rout, "output");
  expect_close(hn, rhn, "h_n");
  if (lstm) expect_close(cn, rcn, "c_n");

  // Every gradient, through a random weighting of all outputs.
  Tensor wo = randn(out.sizes(), f64()), wh = randn(hn.sizes(), f64());
  Tensor wc = lstm ? randn(cn.sizes(), f64()) : Tensor();
  auto loss = [&](const Tensor& o, const Tensor& h, const Tensor& cc) {
    Tensor l = (o * wo).sum() + (h * wh).sum();
    return lstm ? l + (cc * wc).sum() : l;
  };
  TensorList wrt{x};
  for (const Tensor& p : m->parameters()) wrt.push_back(p);
  if (h0.defined()) wrt.push_back(h0);
  if (c0.defined()) wrt.push_back(c0);
  TensorList got = autograd::grad({loss(out, hn, cn)}, wrt);
  TensorList want = autograd::grad({loss(rout, rhn, rcn)}, wrt);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    expect_close(got[i], want[i], "grad " + std::to_string(i));
}

TEST(RecurrentLayers, MatchAPlainLoopInEveryCombination) {
  for (Mode mode : {Mode::lstm, Mode::gru, Mode::rnn_tanh, Mode::rnn_relu})
    for (int64_t layers : {1, 2})
      for (bool bi : {false, true})
        for (bool bf : {false, true})
          for (bool init : {false, true}) check_combo({mode, layers, bi, bf, init, true});
}

TEST(RecurrentLayers, WithoutBiasMatchAPlainLoop) {
  for (Mode mode : {Mode::lstm, Mode::gru, Mode::rnn_tanh})
    check_combo({mode, 2, true, false, true, false});
}

// proj_size (PyTorch semantics): h projected by weight_hr after every step, so h_0, h_n and
// the output carry proj_size features while c keeps hidden_size.
TEST(RecurrentLayers, LstmWithProjectionMatchesAPlainLoop) {
  for (int64_t layers : {1, 2})
    for (bool bi : {false, true})
      for (bool bf : {false, true})
        for (bool init : {false, true}) check_combo({Mode::lstm, layers, bi, bf, init, true, 4});
  check_combo({Mode::lstm, 2, true, false, true, false, 2});  // no bias
}

TEST(RecurrentLayers, LstmProjectionParametersAndErrorsAsPyTorch) {
  auto lstm = LSTM::make(10, 20, {.num_layers = 2, .bidirectional = true, .proj_size = 5});
  std::vector<std::string> names;
  for (const auto& [name, p] : lstm->named_parameters()) {
    names.push_back(name);
    for (double v : p.template to_vector<double>()) ASSERT_LE(std::fabs(v), 1 / std::sqrt(20.0));
  }
  ASSERT_EQ(names.size(), 20u);
  EXPECT_EQ(names[4], "weight_hr_l0");
  EXPECT_EQ(names[19], "weight_hr_l1_reverse");
  auto sd = lstm->state_dict();
  EXPECT_EQ(sd.at("weight_hr_l0").sizes(), (Shape{5, 20}));
  EXPECT_EQ(sd.at("weight_hh_l0").sizes(), (Shape{80, 5}));
  EXPECT_EQ(sd.at("weight_ih_l1_reverse").sizes(), (Shape{80, 10}));  // D * proj_size inputs
  EXPECT_THAT(lstm->extra_repr(), HasSubstr("proj_size=5"));
  // unbatched: h (L*D, P), c (L*D, H)
  auto [out, hc] = lstm->forward(randn({3, 10}));
  EXPECT_EQ(out.sizes(), (Shape{3, 10}));
  EXPECT_EQ(std::get<0>(hc).sizes(), (Shape{4, 5}));
  EXPECT_EQ(std::get<1>(hc).sizes(), (Shape{4, 20}));
  // h0 must be (L*D, B, proj_size): a hidden_size one is refused, naming both shapes
  try {
    lstm->forward(randn({3, 2, 10}), std::make_tuple(randn({4, 2, 20}), randn({4, 2, 20})));
    FAIL() << "no error";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("LSTM"));
    EXPECT_THAT(e.what(), HasSubstr("Expected hidden[0] size [4, 2, 5], got [4, 2, 20]"));
  }
  for (int64_t bad : {20, 25, -1}) try {
      LSTM::make(10, 20, {.proj_size = bad});
      FAIL() << "no error for " << bad;
    } catch (const ValueError& e) {
      EXPECT_THAT(e.what(), HasSubstr("LSTM"));
      EXPECT_THAT(e.what(), HasSubstr("proj_size"));
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(bad)));
    }
  EXPECT_THROW(GRU::make(10, 20, {.proj_size = 5}), ValueError);
  EXPECT_THROW(RNN::make(10, 20, {.proj_size = 5}), ValueError);
}

TEST(RecurrentLayers, UnbatchedInputIsOneSequence) {
  manual_seed(3);
  auto lstm = LSTM::make(4, 5, {.num_layers = 2, .bidirectional = true});
  Tensor x = randn({6, 4});                                    // (T, in)
  Tensor h0 = randn({4, 5}), c0 = randn({4, 5});               // (L*D, H)
  auto [out, hc] = lstm->forward(x, std::make_tuple(h0, c0));  // (T, 2H), ((L*D, H) x 2)
  auto [bout, bhc] =
      lstm->forward(x.unsqueeze(1), std::make_tuple(h0.unsqueeze(1), c0.unsqueeze(1)));
  EXPECT_EQ(out.sizes(), (Shape{6, 10}));
  EXPECT_EQ(std::get<0>(hc).sizes(), (Shape{4, 5}));
  expect_close(out, bout.squeeze(1), "output", 1e-6);
  expect_close(std::get<1>(hc), std::get<1>(bhc).squeeze(1), "c_n", 1e-6);
  auto gru = GRU::make(4, 3);
  auto [gout, gh] = gru->forward(x);
  EXPECT_EQ(gout.sizes(), (Shape{6, 3}));
  EXPECT_EQ(gh.sizes(), (Shape{1, 3}));
}

TEST(RecurrentLayers, ParameterNamesShapesAndInitAsPyTorch) {
  auto lstm = LSTM::make(10, 20, {.num_layers = 2, .bidirectional = true});
  std::vector<std::string> names;
  for (const auto& [name, p] : lstm->named_parameters()) {
    names.push_back(name);
    const double bound = 1.0 / std::sqrt(20.0);
    std::vector<double> values = p.template to_vector<double>();
    for (double v : values) ASSERT_LE(std::fabs(v), bound) << name;
  }
  EXPECT_THAT(
      names, ::testing::ElementsAre(
                 "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
                 "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1",
                 "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse",
                 "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"));
  auto sd = lstm->state_dict();
  EXPECT_EQ(sd.at("weight_ih_l0").sizes(), (Shape{80, 10}));
  EXPECT_EQ(sd.at("weight_ih_l1_reverse").sizes(), (Shape{80, 40}));  // 2H inputs
  EXPECT_EQ(sd.at("weight_hh_l1").sizes(), (Shape{80, 20}));
  EXPECT_EQ(GRU::make(3, 4)->state_dict().at("bias_hh_l0").sizes(), (Shape{12}));
  EXPECT_EQ(RNN::make(3, 4, {.bias = false})->named_parameters().size(), 2u);
  auto cell = LSTMCell::make(3, 4);
  EXPECT_EQ(cell->state_dict().at("weight_ih").sizes(), (Shape{16, 3}));
  EXPECT_EQ(cell->state_dict().at("bias_hh").sizes(), (Shape{16}));
  EXPECT_EQ(GRUCell::make(3, 4)->state_dict().at("weight_hh").sizes(), (Shape{12, 4}));
}

TEST(RecurrentLayers, DropoutActsBetweenLayersInTrainingOnly) {
  manual_seed(1);
  auto gru = GRU::make(3, 4, {.num_layers = 2, .dropout = 0.5});
  Tensor x = randn({5, 2, 3});
  gru->eval();
  auto [e1, h1] = gru->forward(x);
  auto [e2, h2] = gru->forward(x);
  expect_close(e1, e2, "eval is deterministic", 0);
  gru->train();
  auto [t1, th1] = gru->forward(x);
  EXPECT_GT((t1 - e1).abs().max().item<double>(), 1e-4);  // dropout changed layer 2's input
  // one layer: no dropout at all (never after the last layer)
  auto one = GRU::make(3, 4, {.dropout = 0.5});
  auto [o1, oh1] = one->forward(x);
  one->eval();
  auto [o2, oh2] = one->forward(x);
  expect_close(o1, o2, "single layer", 0);
}

// The cells against the same formulas, and the fused cells under gradcheck in f64.
TEST(RecurrentCells, MatchTheirFormulas) {
  manual_seed(5);
  auto lc = LSTMCell::make(3, 4);
  auto gc = GRUCell::make(3, 4);
  auto rc = RNNCell::make(3, 4, true, "relu");
  Tensor x = randn({2, 3}), h = randn({2, 4}), c = randn({2, 4});
  auto [h1, c1] = lc->forward(x, std::make_tuple(h, c));
  Tensor a = affine(x, lc->weight_ih, lc->bias_ih) + affine(h, lc->weight_hh, lc->bias_hh);
  Tensor cw = sigmoid(gate(a, 1, 4)) * c + sigmoid(gate(a, 0, 4)) * tanh(gate(a, 2, 4));
  expect_close(c1, cw, "LSTMCell c", 1e-5);
  expect_close(h1, sigmoid(gate(a, 3, 4)) * tanh(cw), "LSTMCell h", 1e-5);
  Tensor xi = affine(x, gc->weight_ih, gc->bias_ih), hh = affine(h, gc->weight_hh, gc->bias_hh);
  Tensor r = sigmoid(gate(xi, 0, 4) + gate(hh, 0, 4)), z = sigmoid(gate(xi, 1, 4) + gate(hh, 1, 4));
  Tensor n = tanh(gate(xi, 2, 4) + r * gate(hh, 2, 4));
  expect_close(gc->forward(x, h), (1.0 - z) * n + z * h, "GRUCell", 1e-5);
  expect_close(rc->forward(x, h),
               relu(affine(x, rc->weight_ih, rc->bias_ih) + affine(h, rc->weight_hh, rc->bias_hh)),
               "RNNCell", 1e-5);
  // zeros when the state is absent; unbatched input
  expect_close(gc->forward(x), gc->forward(x, zeros({2, 4})), "GRUCell zero state", 0);
  EXPECT_EQ(std::get<1>(lc->forward(randn({3}))).sizes(), (Shape{4}));
}

TEST(RecurrentCells, FusedCellsPassGradcheck) {
  manual_seed(11);
  const int64_t B = 3, H = 4;
  auto leaf = [](Shape s) { return randn(s, f64()).requires_grad_(true); };
  TensorList lin{leaf({B, 4 * H}), leaf({B, 4 * H}), leaf({B, H})};
  auto lstm = [](const TensorList& in) {
    auto [h, c] = lstm_cell(in[0], in[1], in[2]);
    return TensorList{h, c};
  };
  EXPECT_TRUE(autograd::gradcheck(lstm, lin));
  EXPECT_TRUE(autograd::gradgradcheck(lstm, lin));
  // only h used downstream: c's gradient is absent (undefined) in the backward
  auto lstm_h = [](const TensorList& in) {
    return TensorList{std::get<0>(lstm_cell(in[0], in[1], in[2]))};
  };
  EXPECT_TRUE(autograd::gradcheck(lstm_h, lin));
  TensorList gin{leaf({B, 3 * H}), leaf({B, 3 * H}), leaf({B, H})};
  auto gru = [](const TensorList& in) { return TensorList{gru_cell(in[0], in[1], in[2])}; };
  EXPECT_TRUE(autograd::gradcheck(gru, gin));
  EXPECT_TRUE(autograd::gradgradcheck(gru, gin));
}

// The layers on sim (kernels/cuda/rnn_cell.cu run by the simulator) match the cpu's.
TEST(RecurrentLayers, SimMatchesCpu) {
  for (bool lstm : {true, false}) {
    manual_seed(9);
    std::shared_ptr<RNNBase> m =
        lstm ? std::shared_ptr<RNNBase>(LSTM::make(3, 5, {.num_layers = 2}))
             : std::shared_ptr<RNNBase>(GRU::make(3, 5, {.bidirectional = true}));
    Tensor x = randn({4, 2, 3});
    auto [out, hn, cn] = call(*m, x.requires_grad_(true), Tensor(), Tensor());
    Tensor gx = autograd::grad({out.sum() + hn.sum()}, {x})[0];
    m->to(Device::sim());
    Tensor xs = x.detach().to(Device::sim()).requires_grad_(true);
    auto [sout, shn, scn] = call(*m, xs, Tensor(), Tensor());
    Tensor sgx = autograd::grad({sout.sum() + shn.sum()}, {xs})[0];
    expect_close(sout.to(Device::cpu()), out, "output", 1e-5);
    expect_close(shn.to(Device::cpu()), hn, "h_n", 1e-5);
    expect_close(sgx.to(Device::cpu()), gx, "grad x", 1e-5);
  }
}

TEST(RecurrentLayers, ErrorsNameTheLayerAndShapes) {
  auto lstm = LSTM::make(4, 5, {.num_layers = 2});
  try {
    lstm->forward(randn({3, 2, 7}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("LSTM"));
    EXPECT_THAT(e.what(), HasSubstr("Expected 4, got 7"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 2, 7]"));
  }
  try {
    lstm->forward(randn({3, 2, 4}), std::make_tuple(randn({1, 2, 5}), randn({2, 2, 5})));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("LSTM"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 2, 5]"));
    EXPECT_THAT(e.what(), HasSubstr("[1, 2, 5]"));
  }
  auto gru = GRU::make(4, 5, {.batch_first = true});
  EXPECT_THROW(gru->forward(randn({2, 3, 4}), randn({1, 3, 5})), ShapeError);  // B is 2
  EXPECT_THROW(gru->forward(randn({2, 3, 4, 1})), ShapeError);
  EXPECT_THROW(RNN::make(4, 5, {.nonlinearity = "gelu"}), ValueError);
  EXPECT_THROW(LSTM::make(4, 5, {.proj_size = 5}), ValueError);
  EXPECT_THROW(GRUCell::make(4, 5)->forward(randn({2, 3})), ShapeError);
  EXPECT_THROW(
      LSTMCell::make(4, 5)->forward(randn({2, 4}), std::make_tuple(randn({3, 5}), randn({2, 5}))),
      ShapeError);
  EXPECT_THROW(lstm_cell(randn({2, 8}), randn({2, 8}), randn({2, 3})), ShapeError);
}

}  // namespace
}  // namespace ember::nn
