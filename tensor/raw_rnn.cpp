// The fused recurrent cells (LSTM, GRU) after their two GEMMs: validate, make operands
// contiguous, dispatch. Issue 15 (rnn).
#include "tensor/backend.h"
#include "tensor/dispatch.h"
#include "tensor/profiler.h"
#include "tensor/raw.h"

namespace ember::raw {

namespace {

// Every operand floating, of one dtype and device, 2-D with B rows; `widths` each one's width in
// units of H (gates 4 or 3, states 1).
void check_cell(const char* op, int64_t gates, const std::vector<const Tensor*>& ts,
                const std::vector<int64_t>& widths, const std::vector<const char*>& names) {
  const Tensor& first = *ts[0];
  check_defined(op, first);
  if (!is_floating(first.dtype()) || first.dim() != 2 || first.size(1) % gates != 0)
    fail<ShapeError>(op, "expected floating ", names[0], " of shape (B, ", gates, "H), got ",
                     first.dtype(), " ", str(first.sizes()));
  const int64_t B = first.size(0), H = first.size(1) / gates;
  for (size_t i = 1; i < ts.size(); ++i) {
    const Tensor& t = *ts[i];
    if (!t.defined()) continue;  // an undefined gradient stands for zeros
    check_same_device(op, first, t);
    if (t.dtype() != first.dtype() || t.sizes() != Shape{B, widths[i] * H})
      fail<ShapeError>(op, names[i], " of ", t.dtype(), " ", str(t.sizes()), " must be ",
                       first.dtype(), " [", B, ", ", widths[i] * H, "] (", names[0], " ",
                       str(first.sizes()), ")");
  }
}

Tensor operand_or_undefined(const Dispatch& run, const Tensor& t) {
  return t.defined() ? run.operand(contiguous(t)) : t;
}

}  // namespace

std::tuple<Tensor, Tensor, Tensor> lstm_cell_forward(const Tensor& igates, const Tensor& hgates,
                                                     const Tensor& c_prev) {
  constexpr const char* kOp = "lstm_cell";
  const profiler::OpScope profile(kOp);
  check_defined(kOp, hgates);
  check_defined(kOp, c_prev);
  check_cell(kOp, 4, {&igates, &hgates, &c_prev}, {4, 4, 1}, {"igates", "hgates", "c_prev"});
  const int64_t B = igates.size(0), H = igates.size(1) / 4;
  const Dispatch run(Primitive::lstm_cell, igates.device(), igates.dtype());
  Tensor h = empty({B, H}, igates.dtype(), run.device());       // (B, H)
  Tensor c = empty({B, H}, igates.dtype(), run.device());       // (B, H)
  Tensor ws = empty({B, 4 * H}, igates.dtype(), run.device());  // (B, 4H)
  if (h.numel() > 0)
    run.backend().lstm_cell_forward({.h = h,
                                     .c = c,
                                     .workspace = ws,
                                     .igates = run.operand(contiguous(igates)),
                                     .hgates = run.operand(contiguous(hgates)),
                                     .c_prev = run.operand(contiguous(c_prev))});
  return {run.result(h), run.result(c), run.result(ws)};
}

std::tuple<Tensor, Tensor> lstm_cell_backward(const Tensor& grad_h, const Tensor& grad_c,
                                              const Tensor& c_prev, const Tensor& c,
                                              const Tensor& workspace) {
  constexpr const char* kOp = "lstm_cell_backward";
  const profiler::OpScope profile(kOp);
  check_defined(kOp, c_prev);
  check_defined(kOp, c);
  check_cell(kOp, 4, {&workspace, &c_prev, &c, &grad_h, &grad_c}, {4, 1, 1, 1, 1},
             {"workspace", "c_prev", "c", "grad_h", "grad_c"});
  const int64_t B = workspace.size(0), H = workspace.size(1) / 4;
  const DType dt = workspace.dtype();
  const Dispatch run(Primitive::lstm_cell, workspace.device(), dt);
  Tensor dg = empty({B, 4 * H}, dt, run.device());  // (B, 4H)
  Tensor dc = empty({B, H}, dt, run.device());      // (B, H)
  if (dc.numel() > 0)
    run.backend().lstm_cell_backward({.grad_gates = dg,
                                      .grad_c_prev = dc,
                                      .grad_h = operand_or_undefined(run, grad_h),
                                      .grad_c = operand_or_undefined(run, grad_c),
                                      .c_prev = run.operand(contiguous(c_prev)),
                                      .c = run.operand(contiguous(c)),
                                      .workspace = run.operand(contiguous(workspace))});
  return {run.result(dg), run.result(dc)};
}

std::tuple<Tensor, Tensor> gru_cell_forward(const Tensor& igates, const Tensor& hgates,
                                            const Tensor& h_prev) {
  constexpr const char* kOp = "gru_cell";
  const profiler::OpScope profile(kOp);
  check_defined(kOp, hgates);
  check_defined(kOp, h_prev);
  check_cell(kOp, 3, {&igates, &hgates, &h_prev}, {3, 3, 1}, {"igates", "hgates", "h_prev"});
  const int64_t B = igates.size(0), H = igates.size(1) / 3;
  const Dispatch run(Primitive::gru_cell, igates.device(), igates.dtype());
  Tensor h = empty({B, H}, igates.dtype(), run.device());       // (B, H)
  Tensor ws = empty({B, 4 * H}, igates.dtype(), run.device());  // (B, 4H)
  if (h.numel() > 0)
    run.backend().gru_cell_forward({.h = h,
                                    .workspace = ws,
                                    .igates = run.operand(contiguous(igates)),
                                    .hgates = run.operand(contiguous(hgates)),
                                    .h_prev = run.operand(contiguous(h_prev))});
  return {run.result(h), run.result(ws)};
}

std::tuple<Tensor, Tensor, Tensor> gru_cell_backward(const Tensor& grad_h, const Tensor& h_prev,
                                                     const Tensor& workspace) {
  constexpr const char* kOp = "gru_cell_backward";
  const profiler::OpScope profile(kOp);
  check_defined(kOp, grad_h);
  check_defined(kOp, h_prev);
  check_cell(kOp, 4, {&workspace, &h_prev, &grad_h}, {4, 1, 1}, {"workspace", "h_prev", "grad_h"});
  const int64_t B = workspace.size(0), H = workspace.size(1) / 4;
  const DType dt = workspace.dtype();
  const Dispatch run(Primitive::gru_cell, workspace.device(), dt);
  Tensor di = empty({B, 3 * H}, dt, run.device());  // (B, 3H)
  Tensor dh = empty({B, 3 * H}, dt, run.device());  // (B, 3H)
  Tensor dp = empty({B, H}, dt, run.device());      // (B, H)
  if (dp.numel() > 0)
    run.backend().gru_cell_backward({.grad_igates = di,
                                     .grad_hgates = dh,
                                     .grad_h_prev = dp,
                                     .grad_h = run.operand(contiguous(cast(grad_h, dt))),
                                     .h_prev = run.operand(contiguous(h_prev)),
                                     .workspace = run.operand(contiguous(workspace))});
  return {run.result(di), run.result(dh), run.result(dp)};
}

}  // namespace ember::raw
