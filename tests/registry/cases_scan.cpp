// Scans: cumsum and cumprod along each dim, every layout, integer and bool inputs (i64
// out), lines long enough for the block kernel's tiles (I = 1, K >= 64) and many lines for
// the line kernel; cumprod over exact zeros for its gradient. Napkin math: one op per
// element; bytes are the input read once and the output written once.
#include "registry/builders.h"
#include "tensor/raw.h"

namespace ember::cases {

namespace {

// The inclusive scan of x along dim (reverse: the suffix scan), in double.
ref::RefTensor scan_ref(const ref::RefTensor& x, int64_t dim, bool prod, bool reverse = false) {
  ref::RefTensor out = x;
  if (x.numel() == 0 || x.dim() == 0) return out;
  const int64_t d = ref::wrap(dim, x.dim()), K = x.shape[static_cast<size_t>(d)];
  for (int64_t n = 0; n < x.numel(); ++n) {
    // Row-major order (reversed for the suffix scan) visits prev before idx.
    const int64_t flat = reverse ? x.numel() - 1 - n : n;
    ref::Index idx = ref::unravel(flat, x.shape);
    const int64_t k = idx[static_cast<size_t>(d)];
    if (k == (reverse ? K - 1 : 0)) continue;
    ref::Index prev = idx;
    prev[static_cast<size_t>(d)] += reverse ? 1 : -1;
    out[idx] = prod ? out[prev] * x[idx] : out[prev] + x[idx];
  }
  return out;
}

OpCase scan_case(const std::string& op, const std::string& tag, DType dt, int64_t dim,
                 bool method) {
  OpCase c;
  c.name =
      op + (method ? "_method" : "") + "/" + tag + "_d" + std::to_string(dim) + "/" + dtype_tag(dt);
  c.family = "scan";
  c.op = op;
  c.dtype = dt;
  const bool prod = op == "cumprod";
  c.run = [prod, dim, method](const Inputs& x) {
    if (method) return Outputs{prod ? x[0].cumprod(dim) : x[0].cumsum(dim)};
    return Outputs{prod ? cumprod(x[0], dim) : cumsum(x[0], dim)};
  };
  c.reference = [prod, dim](const Refs& x) { return Refs{scan_ref(x[0], dim, prod)}; };
  const DType out_dt = is_floating(dt) ? dt : DType::i64;
  c.out_dtypes = {out_dt};
  // Long lines accumulate rounding along the line (and cumsum can cross zero).
  c.tol = dt == DType::f32 ? Tolerance{1e-4, 1e-4} : tolerance(out_dt, TolKind::reduction);
  c.flops = [](const Inputs& x) { return numel_d(x[0]); };
  c.bytes = [out_dt](const Inputs& x) {
    return bytes_of(x[0]) + numel_d(x[0]) * static_cast<double>(element_size(out_dt));
  };
  if (is_floating(dt) && !is_half(dt)) c.grad_inputs = {0};
  return c;
}

void add_scan(std::vector<OpCase>& out, const std::string& op, In in, int64_t dim, DType dt,
              bool method = false) {
  if (op == "cumprod" && in.dist == Dist::normal) in.dist = Dist::nonzero;
  OpCase c = scan_case(op, in_tag(in), dt, dim, method);
  c.make_inputs = input_maker({in});
  const int64_t n = ref::numel_of(in.shape);
  if (n == 0 || n > 400) c.grad_inputs.clear();  // nothing to check, or too big a Jacobian
  out.push_back(std::move(c));
}

// x (rows, 6) with one exact zero per row at a different place (first, middle, last; the
// last row has none): cumprod's gradient must not divide by it.
void add_cumprod_zeros(std::vector<OpCase>& out, DType dt) {
  OpCase c = scan_case("cumprod", "4x6_zeros", dt, 1, false);
  c.make_inputs = [](Device device, DType dtype) {
    std::vector<double> keep(24, 1.0);
    keep[0] = 0.0;       // row 0: first
    keep[6 + 3] = 0.0;   // row 1: middle
    keep[12 + 5] = 0.0;  // row 2: last
    Tensor mask = from_vector(keep, {4, 6}, device).to(dtype);
    return Inputs{randn({4, 6}, {.dtype = dtype, .device = device}) * mask};
  };
  out.push_back(std::move(c));
}

// The suffix scans the backward runs, straight through the primitive (gradcheck runs on
// the cpu only, so these are what test them on sim).
void add_reverse(std::vector<OpCase>& out, const std::string& op, In in, int64_t dim, DType dt) {
  const bool prod = op == "cumprod";
  if (prod && in.dist == Dist::normal) in.dist = Dist::nonzero;
  OpCase c = scan_case(op, in_tag(in), dt, dim, false);
  c.name = op + "_reverse/" + in_tag(in) + "_d" + std::to_string(dim) + "/" + dtype_tag(dt);
  c.op = op + "_reverse";
  c.make_inputs = input_maker({in});
  c.run = [prod, dim](const Inputs& x) {
    return Outputs{raw::scan(prod ? ScanOp::prod : ScanOp::sum, x[0], dim, true)};
  };
  c.reference = [prod, dim](const Refs& x) { return Refs{scan_ref(x[0], dim, prod, true)}; };
  c.grad_inputs.clear();
  out.push_back(std::move(c));
}

}  // namespace

void add_scan_cases(std::vector<OpCase>& out) {
  const Dist N = Dist::normal;
  for (const std::string op : {"cumsum", "cumprod"}) {
    for (DType dt : {DType::f32, DType::f64}) {
      add_scan(out, op, In{{2, 3, 4}}, 0, dt);
      add_scan(out, op, In{{2, 3, 4}}, 1, dt);
      add_scan(out, op, In{{2, 3, 4}}, -1, dt);
      add_scan(out, op, In{{4, 5}, N, Layout::transposed}, 1, dt);
      add_scan(out, op, In{{3, 5}, N, Layout::strided}, 1, dt);
      add_scan(out, op, In{{3, 4}, N, Layout::expanded}, 0, dt);
      add_scan(out, op, In{{}}, 0, dt);
      add_scan(out, op, In{{0, 3}}, 1, dt);
      add_scan(out, op, In{{5}}, 0, dt, true);
    }
    // Long lines: the block kernel (I = 1) over several tiles, a partial last tile.
    add_scan(out, op, In{{3, 600}}, 1, DType::f32);
    add_scan(out, op, In{{3, 600}}, 1, DType::f64);
    add_scan(out, op, In{{70}}, 0, DType::f64);
    add_scan(out, op, In{{2, 300, 3}}, 1, DType::f32);  // blocks on lines of stride 3
    // Many lines: the line kernel, and the cpu's threads.
    add_scan(out, op, In{{40, 20, 50}}, 1, DType::f32);
    add_scan(out, op, In{{300, 130}}, 0, DType::f32);
    add_scan(out, op, In{{50, 1000}}, 0, DType::f32);  // one o, column blocks on threads
    // Integers and bool scan in i64.
    add_scan(out, op, In{{3, 5}, Dist::small_int}, 1, DType::i64);
    // (i64 products of 200 factors would overflow.)
    if (op == "cumsum") add_scan(out, op, In{{2, 200}, Dist::small_int}, 1, DType::i64);
    add_scan(out, op, In{{4, 6}, Dist::boolean}, 0, DType::b8);
    // bf16/f16 (issue 16): the running value is f32, each output rounded once (torch's
    // opmath), so a long line is as close as a short one.
    for (DType h : {DType::bf16, DType::f16}) {
      add_scan(out, op, In{{2, 3, 4}}, 0, h);
      add_scan(out, op, In{{2, 3, 4}}, -1, h);
      add_scan(out, op, In{{4, 5}, N, Layout::transposed}, 1, h);
      add_scan(out, op, In{{5}}, 0, h, true);
      add_scan(out, op, In{{3, 600}}, 1, h);  // the block kernel
      add_scan(out, op, In{{40, 20, 50}}, 1, h);
      add_reverse(out, op, In{{2, 3, 4}}, 1, h);
      add_reverse(out, op, In{{3, 600}}, 1, h);
    }
  }
  for (const std::string op : {"cumsum", "cumprod"}) {
    add_reverse(out, op, In{{2, 3, 4}}, 1, DType::f64);
    add_reverse(out, op, In{{3, 600}}, 1, DType::f32);  // the block kernel
    add_reverse(out, op, In{{2, 300, 3}}, 1, DType::f64);
    add_reverse(out, op, In{{40, 20, 50}}, 1, DType::f32);
    add_reverse(out, op, In{{3, 5}, Dist::small_int}, 1, DType::i64);
  }
  add_cumprod_zeros(out, DType::f64);
  add_cumprod_zeros(out, DType::f32);
}

}  // namespace ember::cases
