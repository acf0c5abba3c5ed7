// Differentiable fused recurrent cells (issue 15, rnn): the LSTM and GRU state updates
// after the cell's two GEMMs.
//
// Each runs its forward primitive and records one node whose backward is the backward
// primitive; under create_graph (grad mode on inside the backward) the gradient is written
// with differentiable ops from the saved inputs instead, so it can be differentiated again.
//   LSTM, a = igates + hgates split i, f, g, o; i, f, o = sigmoid, g = tanh:
//     c = f c_prev + i g,  h = o tanh(c)
//     dc = gc + gh o (1 - tanh(c)^2),  da_i = dc g i (1 - i),  da_f = dc c_prev f (1 - f),
//     da_g = dc i (1 - g^2),  da_o = gh tanh(c) o (1 - o),  dc_prev = dc f
//     (igates and hgates receive the same da)
//   GRU, r = sigmoid(i_r + h_r), z = sigmoid(i_z + h_z), n = tanh(i_n + r h_n):
//     h = (1 - z) n + z h_prev
//     da_n = gh (1 - z) (1 - n^2),  da_r = da_n h_n r (1 - r),  da_z = gh (h_prev - n) z (1 - z)
//     d igates = (da_r, da_z, da_n),  d hgates = (da_r, da_z, da_n r),  dh_prev = gh z
#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

using autograd::needs_grad;
using autograd::record;
using autograd::SavedTensor;
using autograd::TensorList;

namespace {

// The LSTM cell's gradients with differentiable ops (create_graph): returns
// (d igates = d hgates (B, 4H), dc_prev (B, H)).
std::pair<Tensor, Tensor> lstm_grads_differentiable(const Tensor& gh, const Tensor& gc,
                                                    const Tensor& igates, const Tensor& hgates,
                                                    const Tensor& c_prev) {
  std::vector<Tensor> a = (igates + hgates).chunk(4, 1);  // 4 x (B, H)
  Tensor i = sigmoid(a[0]), f = sigmoid(a[1]), g = tanh(a[2]), o = sigmoid(a[3]);
  Tensor tc = tanh(f * c_prev + i * g);
  Tensor dh = gh.defined() ? gh : zeros_like(tc);
  Tensor dc = dh * o * (1.0 - tc * tc);
  if (gc.defined()) dc = dc + gc;
  Tensor da = cat({dc * g * i * (1.0 - i), dc * c_prev * f * (1.0 - f), dc * i * (1.0 - g * g),
                   dh * tc * o * (1.0 - o)},
                  1);
  return {da, dc * f};
}

// The GRU cell's gradients with differentiable ops: (d igates, d hgates, dh_prev).
TensorList gru_grads_differentiable(const Tensor& gh, const Tensor& igates, const Tensor& hgates,
                                    const Tensor& h_prev) {
  std::vector<Tensor> x = igates.chunk(3, 1), y = hgates.chunk(3, 1);  // 3 x (B, H)
  Tensor r = sigmoid(x[0] + y[0]), z = sigmoid(x[1] + y[1]);
  Tensor n = tanh(x[2] + r * y[2]);
  Tensor dan = gh * (1.0 - z) * (1.0 - n * n);
  Tensor dar = dan * y[2] * r * (1.0 - r);
  Tensor daz = gh * (h_prev - n) * z * (1.0 - z);
  return {cat({dar, daz, dan}, 1), cat({dar, daz, dan * r}, 1), gh * z};
}

}  // namespace

std::tuple<Tensor, Tensor> lstm_cell(const Tensor& igates, const Tensor& hgates,
                                     const Tensor& c_prev) {
  if (autocast_policy::active())  // autocast: lower precision (issue 16, docs/amp.md)
    return autocast_policy::lower_precision(
        [](const Tensor& i, const Tensor& hg, const Tensor& c) { return lstm_cell(i, hg, c); },
        igates, hgates, c_prev);
  auto [h, c, ws] = raw::lstm_cell_forward(igates, hgates, c_prev);
  if (needs_grad({&igates, &hgates, &c_prev})) {
    SavedTensor si(igates, false), sh(hgates, false), sc(c_prev, false);
    Tensor ws_ = ws;  // (B, 4H), never exposed, so never modified in place
    auto c_saved = autograd::saved_output();
    record("LstmCellBackward", {igates, hgates, c_prev}, {h, c}, [=](const TensorList& g) {
      const Tensor &gh = g[0], &gc = g[1];
      if (!gh.defined() && !gc.defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor cp = sc.unpack();
      if (autograd::GradMode::is_enabled()) {
        auto [da, dcp] = lstm_grads_differentiable(gh, gc, si.unpack(), sh.unpack(), cp);
        return TensorList{da, da, dcp};
      }
      auto [da, dcp] = raw::lstm_cell_backward(gh, gc, cp, c_saved->unpack(), ws_);
      return TensorList{da, da, dcp};
    });
    autograd::fill(c_saved, c);
  }
  return {h, c};
}

Tensor gru_cell(const Tensor& igates, const Tensor& hgates, const Tensor& h_prev) {
  if (autocast_policy::active())  // autocast: lower precision (issue 16, docs/amp.md)
    return autocast_policy::lower_precision(
        [](const Tensor& i, const Tensor& hg, const Tensor& hp) { return gru_cell(i, hg, hp); },
        igates, hgates, h_prev);
  auto [h, ws] = raw::gru_cell_forward(igates, hgates, h_prev);
  if (needs_grad({&igates, &hgates, &h_prev})) {
    SavedTensor si(igates, false), sh(hgates, false), sp(h_prev, false);
    Tensor ws_ = ws;  // (B, 4H), never exposed, so never modified in place
    record("GruCellBackward", {igates, hgates, h_prev}, h, [=](const TensorList& g) {
      if (!g[0].defined()) return TensorList{Tensor(), Tensor(), Tensor()};
      Tensor hp = sp.unpack();
      if (autograd::GradMode::is_enabled())
        return gru_grads_differentiable(g[0], si.unpack(), sh.unpack(), hp);
      auto [di, dh, dp] = raw::gru_cell_backward(g[0], hp, ws_);
      return TensorList{di, dh, dp};
    });
  }
  return h;
}

}  // namespace ember
