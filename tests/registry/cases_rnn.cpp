// lstm_cell and gru_cell (the fused recurrent cells of issue 15) and their gradients on
// each device through autograd::grad, against the cell formulas in double: one row and
// many, one unit and many, a transposed gate input, a threaded size.
// Napkin math per unit (B*H): LSTM ~30 FLOPs forward, ~25 backward; GRU ~25 and ~20.
#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "registry/builders.h"

namespace ember::cases {

namespace {

using ref::filled;
using ref::RefTensor;

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Cost: flops per unit of the (B, H) state (input 2); bytes: inputs read, outputs written.
void set_cell_cost(OpCase& c, double flops_per_unit, double out_units) {
  c.flops = [flops_per_unit](const Inputs& x) { return flops_per_unit * numel_d(x[2]); };
  c.bytes = [out_units](const Inputs& x) {
    double b = out_units * bytes_of(x[2]);
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

// The LSTM cell in double on rows of igates, hgates (B, 4H) and c_prev (B, H), with the
// gradients for grad_h, grad_c (B, H) when given: {h, c} or {d gates (twice), dc_prev}.
Refs lstm_ref(const Refs& x, bool backward) {
  const int64_t B = x[2].shape[0], H = x[2].shape[1];
  RefTensor h = filled({B, H}, 0), c = filled({B, H}, 0);
  RefTensor dg = filled({B, 4 * H}, 0), dcp = filled({B, H}, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < H; ++j) {
      double a[4];
      for (int64_t k = 0; k < 4; ++k)
        a[k] = x[0].data[b * 4 * H + k * H + j] + x[1].data[b * 4 * H + k * H + j];
      const double i = sig(a[0]), f = sig(a[1]), g = std::tanh(a[2]), o = sig(a[3]);
      const double cp = x[2].data[b * H + j], cn = f * cp + i * g, tc = std::tanh(cn);
      h.data[b * H + j] = o * tc;
      c.data[b * H + j] = cn;
      if (!backward) continue;
      const double gh = x[3].data[b * H + j];
      const double dc = x[4].data[b * H + j] + gh * o * (1 - tc * tc);
      double* d = &dg.data[b * 4 * H + j];
      d[0] = dc * g * i * (1 - i);
      d[H] = dc * cp * f * (1 - f);
      d[2 * H] = dc * i * (1 - g * g);
      d[3 * H] = gh * tc * o * (1 - o);
      dcp.data[b * H + j] = dc * f;
    }
  return backward ? Refs{dg, dg, dcp} : Refs{h, c};
}

// The GRU cell in double on igates, hgates (B, 3H), h_prev (B, H), with the gradients for
// grad_h (B, H): {h} or {d igates, d hgates, dh_prev}.
Refs gru_ref(const Refs& x, bool backward) {
  const int64_t B = x[2].shape[0], H = x[2].shape[1];
  RefTensor h = filled({B, H}, 0), di = filled({B, 3 * H}, 0), dh = filled({B, 3 * H}, 0);
  RefTensor dp = filled({B, H}, 0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < H; ++j) {
      const double* xi = &x[0].data[b * 3 * H + j];
      const double* hh = &x[1].data[b * 3 * H + j];
      const double r = sig(xi[0] + hh[0]), z = sig(xi[H] + hh[H]);
      const double n = std::tanh(xi[2 * H] + r * hh[2 * H]), hp = x[2].data[b * H + j];
      h.data[b * H + j] = (1 - z) * n + z * hp;
      if (!backward) continue;
      const double g = x[3].data[b * H + j];
      const double dan = g * (1 - z) * (1 - n * n), dar = dan * hh[2 * H] * r * (1 - r);
      const double daz = g * (hp - n) * z * (1 - z);
      double *a = &di.data[b * 3 * H + j], *e = &dh.data[b * 3 * H + j];
      a[0] = e[0] = dar;
      a[H] = e[H] = daz;
      a[2 * H] = dan;
      e[2 * H] = dan * r;
      dp.data[b * H + j] = g * z;
    }
  return backward ? Refs{di, dh, dp} : Refs{h};
}

// Inputs: igates, hgates (B, G*H), state (B, H) [, grad_h [, grad_c]] for backward.
OpCase cell_case(bool lstm, bool backward, int64_t B, int64_t H, DType dt,
                 Layout layout = Layout::contiguous) {
  const int64_t G = lstm ? 4 : 3;
  std::vector<In> ins = {In{{B, G * H}, Dist::normal, layout}, In{{B, G * H}}, In{{B, H}}};
  if (backward) ins.push_back(In{{B, H}});
  if (backward && lstm) ins.push_back(In{{B, H}});
  const std::string op =
      std::string(lstm ? "lstm_cell" : "gru_cell") + (backward ? "_backward" : "");
  OpCase c;
  c.name = op + "/" + ins_tag(ins) + "/" + dtype_tag(dt);
  c.family = lstm ? "lstm_cell" : "gru_cell";
  c.op = op;
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    if (!backward) {
      if (!lstm) return Outputs{gru_cell(x[0], x[1], x[2])};
      auto [h, cn] = lstm_cell(x[0], x[1], x[2]);
      return Outputs{h, cn};
    }
    const autograd::GradModeGuard grad_on(true);  // ops --perf times under no_grad
    autograd::TensorList leaves;
    for (int k = 0; k < 3; ++k) leaves.push_back(x[k].detach().requires_grad_());
    if (!lstm) return autograd::grad({gru_cell(leaves[0], leaves[1], leaves[2])}, leaves, {x[3]});
    auto [h, cn] = lstm_cell(leaves[0], leaves[1], leaves[2]);
    return autograd::grad({h, cn}, leaves, {x[3], x[4]});
  };
  c.reference = [=](const Refs& x) { return lstm ? lstm_ref(x, backward) : gru_ref(x, backward); };
  c.out_dtypes.assign(backward ? 3 : (lstm ? 2 : 1), dt);
  c.tol = tolerance(dt, TolKind::transcendental);
  set_cell_cost(c, lstm ? (backward ? 25 : 30) : (backward ? 20 : 25),
                backward ? 2 * G + 1 : (lstm ? 2 : 1));
  if (!backward && !is_half(dt)) c.grad_inputs = {0, 1, 2};
  if (backward && is_half(dt)) {
    // The backward reads the gates and c saved in the 16-bit dtype (torch's workspace
    // dtype): each rounded by half an ulp, and differences such as 1 - tanh(c)^2 carry
    // that rounding as an absolute error of a few eps.
    const double eps = dt == DType::bf16 ? 0x1p-7 : 0x1p-10;
    c.tol = {4 * eps, 4 * eps};
  }
  return c;
}

}  // namespace

void add_rnn_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64})
    for (bool lstm : {true, false})
      for (bool backward : {false, true}) {
        out.push_back(cell_case(lstm, backward, 3, 5, dt));
        out.push_back(cell_case(lstm, backward, 1, 1, dt));  // one row, one unit
        out.push_back(cell_case(lstm, backward, 4, 3, dt, Layout::transposed));
      }
  // bf16/f16 (issue 16, halfnn2): 16-bit gates in, f32 math, 16-bit h, c and workspace.
  for (DType dt : {DType::bf16, DType::f16})
    for (bool lstm : {true, false})
      for (bool backward : {false, true}) {
        out.push_back(cell_case(lstm, backward, 3, 5, dt));
        out.push_back(cell_case(lstm, backward, 4, 3, dt, Layout::transposed));
      }
  for (bool lstm : {true, false})  // rows over threads
    for (bool backward : {false, true})
      out.push_back(cell_case(lstm, backward, 64, 256, DType::f32));
}

}  // namespace ember::cases
