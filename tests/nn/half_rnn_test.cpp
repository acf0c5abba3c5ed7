// nn::LSTM, nn::GRU and nn::RNN converted to bf16/f16 (issue 16, halfnn2): the fused cells
// (lstm_cell, gru_cell) take 16-bit gates, compute in f32 and return 16-bit h and c, so a
// 16-bit module runs forward and backward and its outputs, states and parameter gradients
// keep the dtype. They are compared with an f32 twin holding the same (rounded) weights
// and inputs: each step rounds its states once, so the difference grows with the steps and
// layers, and the tolerance is a few dozen eps. The cells' numbers against f64 are the
// registry's (cases_rnn.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <ember/ember.h>

#include "half_compare.h"

namespace ember {
namespace {

using nn::GRU;
using nn::LSTM;
using nn::RNN;
using nn::RNNBase;
using nn::RNNOptions;

using testing_half::eps_of;
using testing_half::expect_close;

enum class Kind { lstm, gru, rnn };

std::shared_ptr<RNNBase> make(Kind k) {
  const RNNOptions o{.num_layers = 2, .bidirectional = true};
  if (k == Kind::lstm) return LSTM::make(4, 6, o);
  if (k == Kind::gru) return GRU::make(4, 6, o);
  return RNN::make(4, 6, o);
}

// (output, h_n) of the layer on x with zero initial states.
std::tuple<Tensor, Tensor> run(RNNBase& m, const Tensor& x) {
  if (auto* l = dynamic_cast<LSTM*>(&m)) {
    auto [out, hc] = l->forward(x);
    return {out, std::get<0>(hc)};
  }
  if (auto* g = dynamic_cast<GRU*>(&m)) return g->forward(x);
  return dynamic_cast<RNN&>(m).forward(x);
}

class HalfRecurrent : public ::testing::TestWithParam<std::tuple<DType, Device, Kind>> {};

TEST_P(HalfRecurrent, ModuleInTheDtypeMatchesItsF32Twin) {
  const auto [dt, dev, kind] = GetParam();
  manual_seed(3);
  auto half = make(kind);
  manual_seed(3);
  auto wide = make(kind);  // the same init
  half->to(dt);
  half->to(dev);
  wide->to(dt);  // the f32 twin holds the rounded weights
  wide->to(DType::f32);
  const Tensor x16 = randn({5, 3, 4}, {.dtype = dt});  // (T, B, K)
  const Tensor g16 = randn({5, 3, 12}, {.dtype = dt});
  auto [yh, hh] = run(*half, x16.to(dev));
  auto [yw, hw] = run(*wide, x16.to(DType::f32));
  EXPECT_EQ(yh.dtype(), dt);
  EXPECT_EQ(hh.dtype(), dt);
  EXPECT_EQ(yh.device(), dev);
  const double eps = eps_of(dt);
  expect_close(yh, yw, 8 * eps, "output");
  expect_close(hh, hw, 8 * eps, "h_n");
  (yh * g16.to(dev)).sum().backward();
  (yw * g16.to(DType::f32)).sum().backward();
  const auto ph = half->named_parameters(), pw = wide->named_parameters();
  ASSERT_EQ(ph.size(), pw.size());
  for (size_t i = 0; i < ph.size(); ++i) {
    const Tensor& gh = ph[i].second.grad();
    ASSERT_TRUE(gh.defined()) << ph[i].first;
    EXPECT_EQ(gh.dtype(), dt) << ph[i].first;
    // gradients sum over 5 steps, 3 rows and both directions, rounding per step
    expect_close(gh, pw[i].second.grad(), 32 * eps, ph[i].first);
  }
}

INSTANTIATE_TEST_SUITE_P(DTypesDevicesKinds, HalfRecurrent,
                         ::testing::Combine(::testing::Values(DType::bf16, DType::f16),
                                            ::testing::Values(Device::cpu(), Device::sim()),
                                            ::testing::Values(Kind::lstm, Kind::gru, Kind::rnn)),
                         [](const auto& param_info) {
                           const auto& pr = param_info.param;
                           const Kind k = std::get<2>(pr);
                           return std::string(to_string(std::get<0>(pr))) + "_" +
                                  (std::get<1>(pr) == Device::cpu() ? "cpu" : "sim") + "_" +
                                  (k == Kind::lstm  ? "lstm"
                                   : k == Kind::gru ? "gru"
                                                    : "rnn");
                         });

}  // namespace
}  // namespace ember
