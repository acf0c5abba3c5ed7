// conv2d forward, backward-input and backward-weight as implicit GEMMs.
//
// Math (groups G, Cg = C/G input and Kg = K/G output channels per group; g = k / Kg):
//   out[n, k, p, q] = bias[k] + sum_{c < Cg, r, s} w[k, c, r, s] x[n, g Cg + c, h, v]
//   with h = p sh - ph + r dh, v = q sw - pw + s dw (x is 0 outside its H x W).
// Each primitive is, per group, one GEMM C (M, Ng) = A (M, Kd) @ B (Kd, Ng) whose
// operands are gathered from the tensors while the tiles are loaded (no im2col buffer):
//   forward          M = Kg, Ng = N P Q,  Kd = Cg R S:  A = w_g,   B = im2col(x_g)
//   backward-input   per output phase (ah, aw) = (h % sh, v % sw), whose pixels only the
//                    taps r with (ah + ph - r dh) % sh == 0 (nr of them; likewise ns of
//                    the s) reach: M = Cg, Ng = N ceil((H - ah) / sh) ceil((W - aw) / sw),
//                    Kd = Kg nr ns: A = w_g^T at those taps, B[(k, r, s), (n, h, v)] =
//                    grad_out[n, k, (h + ph - r dh) / sh, (v + pw - s dw) / sw] (in range)
//   backward-weight  M = Kg, Ng = Cg R S, Kd = N P Q:  A = grad_out_g, B = im2col(x_g)^T
// (the bias gradient is the op layer's: a sum of grad_out over N, P, Q). How each
// primitive gathers A and B: kernels/cuda/conv2d_operands.h; the GEMM and its launch: here.
// Shapes: x (N, C, H, W), w (K, Cg, R, S), bias (K) or none, out (N, K, P, Q); all
// contiguous; f32 accumulates in f32 (as cuDNN without TF32), f64 in f64, bf16/f16 in f32.
// Split:  one 64 x 64 tile of C per block of 256 threads; thread (tx, ty) = (tid % 16,
//         tid / 16) owns the 4 x 4 outputs at rows 4 ty + i, columns 4 tx + j, and reads
//         each k's 4 + 4 operands from shared memory as two vector loads (a warp's A
//         load is a broadcast of 2 addresses, its B load 256 contiguous bytes). Kd
//         advances in steps of 16: each thread gathers 4 elements of the A tile and 4 of
//         the B tile into registers, stores them to shared memory, and, while the block
//         multiplies that step, already gathers the next one (register double buffering:
//         one global latency hidden per step, two barriers per step). Coordinates that
//         stay fixed for a thread (its B column in the forward and backward-input, its B
//         columns in the backward-weight) are decoded once; the others use FastDiv
//         (multiply-high), never the GPU's integer division.
//         grid = (ceil(Ng / 64), ceil(M / 64), min(G * parts, 65535)); z loops beyond
//         (parts: backward-weight's splits, backward-input's phases, else 1).
//         backward-weight has a long Kd (N P Q) and few tiles, so it splits Kd into
//         `splits` ranges of at least 8 steps until the grid has ~264 blocks (two per SM
//         of an H100); each split writes its partial dW to a workspace (splits, K, CgRS)
//         and conv2d_sum_splits adds them in split order: deterministic, no atomics.
// Cost:   FLOPs = 2 N K P Q Cg R S per primitive (+ N K P Q for the bias).
//         Bytes (minimum) = sizeof(T) (N C H W + K Cg R S + N K P Q) per primitive; each
//         operand element is re-gathered by ceil(Ng / 64) or ceil(M / 64) blocks, mostly
//         from L2; the split workspace adds 2 splits K Cg R S sizeof(T).
// Pre:    the op layer's checks (tensor/raw_nn.cpp): every size >= 1, C = G Cg, K = G Kg,
//         P, Q >= 1; the launchers check that M, Ng, Kd and the padded extents fit in
//         31 bits (the decoded coordinates are 32-bit; offsets are 64-bit).
// Versions: the FMA path (f32, f64; cuda and sim). On cuda, f32 with backends::cudnn::allow_tf32
//         on sm_80+: the same tiles multiplied by TF32 tensor cores (WMMA m16n16k8, f32
//         accumulation; inputs rounded to 10-bit mantissas, so results differ from f32).
//         bf16/f16 (issue 16): the tensors are read into f32 tiles, accumulated in f32 and
//         rounded once on the store (the backward-weight's split partials stay f32 until
//         summed); on cuda sm_80+ they always take the TF32 tensor cores, selected by the
//         dtype: a bf16 or f16 value is exact in TF32, so the products are those of a
//         16-bit MMA and nothing is lost (no switch to set).
//         Backward-input runs its sh sw phases as the z of the grid (up to 16 a launch),
//         so a stride costs no multiplications by zero. Depthwise convolutions (one
//         input channel per group) take direct kernels instead: conv2d_depthwise.h.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <type_traits>

#if defined(__CUDACC__)
#include <mma.h>
#endif

#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/conv2d_depthwise.h"
#include "kernels/cuda/conv2d_operands.h"
#include "kernels/cuda/device_utils.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

using namespace conv2d_detail;  // NOLINT: the operands of conv2d_operands.h

constexpr int kMaxGridZ = 65535;
// Backward-weight split of Kd: ~2 blocks per SM of a 132-SM GPU, >= 8 steps per split.
// The same rule on sim and cuda, so the simulator runs the GPU's split choices.
constexpr int kTargetBlocks = 264, kMinStepsPerSplit = 8, kMaxSplits = 64;

template <typename T>
struct alignas(32) Tiles {
  T a[kBK][kBM + kPad];
  T b[kBK][kBN + kPad];
};

#if defined(__CUDACC__)
// TF32 tensor cores on one step held in `t`: warp w owns the 16 x 32 strip of C at
// fragment row w / 2, fragment columns 2 (w % 2) and 2 (w % 2) + 1.
using TfA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 8, nvcuda::wmma::precision::tf32,
                                   nvcuda::wmma::col_major>;
using TfB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 8, nvcuda::wmma::precision::tf32,
                                   nvcuda::wmma::row_major>;
using TfC = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float>;

// The block's C tile, for moving the fragments to each thread's 4 x 4 outputs.
struct alignas(32) OutTile {
  float c[kBM][kBN + kPad];
};

EMBER_DEVICE void tf32_step(const Tiles<float>& t, int warp, TfC (&c)[2]) {
#if __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  const int fm = warp / 2, fn = (warp % 2) * 2;
  EMBER_UNROLL
  for (int k8 = 0; k8 < kBK; k8 += 8) {
    TfA a;
    wmma::load_matrix_sync(a, &t.a[k8][fm * 16], kBM + kPad);
    EMBER_UNROLL
    for (int i = 0; i < a.num_elements; ++i) a.x[i] = wmma::__float_to_tf32(a.x[i]);
    EMBER_UNROLL
    for (int f = 0; f < 2; ++f) {
      TfB b;
      wmma::load_matrix_sync(b, &t.b[k8][(fn + f) * 16], kBN + kPad);
      EMBER_UNROLL
      for (int i = 0; i < b.num_elements; ++i) b.x[i] = wmma::__float_to_tf32(b.x[i]);
      wmma::mma_sync(c[f], a, b, c[f]);
    }
  }
#else
  (void)t, (void)warp, (void)c;
  __trap();  // the launcher selects TF32 only on sm_80+
#endif
}
#endif

// The implicit GEMM of one primitive (Ops), FMA or (kTf32, cuda only) tensor cores.
template <typename Ops, bool kTf32>
__global__ void __launch_bounds__(kThreads) conv2d_igemm(Ops ops) {
  using T = typename Ops::Scalar;
  __shared__ Tiles<T> t;
  const ConvGeom& g = ops.g;
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % 16, ty = tid / 16;
  const int m0 = static_cast<int>(blockIdx.y) * kBM, n0 = static_cast<int>(blockIdx.x) * kBN;
  // Where this thread stages its gathered elements.
  const int a_k = tid % kBK, a_m = tid / kBK;
  const int b_k = Ops::kBKFastest ? tid % kBK : tid / kBN;
  const int b_n = Ops::kBKFastest ? tid / kBK : tid % kBN;

  for (int z = static_cast<int>(blockIdx.z); z < ops.z_count(); z += static_cast<int>(gridDim.z)) {
    const typename Ops::State st = ops.start(z, m0, n0, tid);
    if (n0 >= st.Ng) continue;  // the same for the whole block: no barrier is skipped by some
    const int s0 = st.s0, s1 = st.s1;  // s0 == s1: no taps (a phase a stride skips): C = 0
    T ra[kLoads], rb[kLoads];
    if (s0 < s1) {
      ops.load_a(st, s0 * kBK, ra);
      ops.load_b(st, s0 * kBK, rb);
    }
    T acc[4][4];
    EMBER_UNROLL
    for (int i = 0; i < 4; ++i) EMBER_UNROLL
    for (int j = 0; j < 4; ++j) acc[i][j] = T(0);
#if defined(__CUDACC__)
    [[maybe_unused]] TfC cf[2];
    if constexpr (kTf32) {
      nvcuda::wmma::fill_fragment(cf[0], 0.0f);
      nvcuda::wmma::fill_fragment(cf[1], 0.0f);
    }
#endif

    for (int step = s0; step < s1; ++step) {
      EMBER_UNROLL
      for (int e = 0; e < kLoads; ++e) {
        t.a[a_k][a_m + e * kRowStep] = ra[e];
        if constexpr (Ops::kBKFastest) {
          t.b[b_k][b_n + e * kRowStep] = rb[e];
        } else {
          t.b[b_k + e * kKStep][b_n] = rb[e];
        }
      }
      __syncthreads();
      if (step + 1 < s1) {  // gather the next step while this one is multiplied
        ops.load_a(st, (step + 1) * kBK, ra);
        ops.load_b(st, (step + 1) * kBK, rb);
      }
#if defined(__CUDACC__)
      if constexpr (kTf32) {
        tf32_step(t, tid / 32, cf);
      } else
#endif
      {
        EMBER_UNROLL
        for (int kk = 0; kk < kBK; ++kk) {
          // one vector load each: rows 4 ty.., columns 4 tx.. (16- or 32-byte aligned)
          const Pack<T, 4> av = *reinterpret_cast<const Pack<T, 4>*>(&t.a[kk][4 * ty]);
          const Pack<T, 4> bv = *reinterpret_cast<const Pack<T, 4>*>(&t.b[kk][4 * tx]);
          EMBER_UNROLL
          for (int i = 0; i < 4; ++i) EMBER_UNROLL
          for (int j = 0; j < 4; ++j) acc[i][j] += av.v[i] * bv.v[j];
        }
      }
      __syncthreads();
    }

#if defined(__CUDACC__)
    if constexpr (kTf32) {  // fragments -> shared memory -> each thread's 4 x 4 outputs
      __shared__ OutTile o;
      const int warp = tid / 32, fm = warp / 2, fn = (warp % 2) * 2;
      nvcuda::wmma::store_matrix_sync(&o.c[fm * 16][fn * 16], cf[0], kBN + kPad,
                                      nvcuda::wmma::mem_row_major);
      nvcuda::wmma::store_matrix_sync(&o.c[fm * 16][fn * 16 + 16], cf[1], kBN + kPad,
                                      nvcuda::wmma::mem_row_major);
      __syncthreads();
      EMBER_UNROLL
      for (int i = 0; i < 4; ++i) EMBER_UNROLL
      for (int j = 0; j < 4; ++j) acc[i][j] = o.c[4 * ty + i][4 * tx + j];
      __syncthreads();
    }
#endif
    EMBER_UNROLL
    for (int i = 0; i < 4; ++i) {
      const int m = m0 + 4 * ty + i;
      EMBER_UNROLL
      for (int j = 0; j < 4; ++j) {
        const int n = n0 + 4 * tx + j;
        if (m < g.M && n < st.Ng) ops.store(st, m, n, acc[i][j]);
      }
    }
  }
}

// grad_w[i] = sum over splits of part[s, i], in split order (part in the math's type T,
// f32 for bf16/f16 grad_w: rounded once here).
template <typename S, typename T>
__global__ void conv2d_sum_splits(S* grad_w, const T* part, int64_t n, int splits) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    T acc = part[i];
    for (int s = 1; s < splits; ++s) acc += part[static_cast<int64_t>(s) * n + i];
    grad_w[i] = S(acc);
  }
}

// ---- host side ------------------------------------------------------------------------------

enum class Primitive { forward, backward_input, backward_weight };

int fit32(const char* op, int64_t v, const char* what) {
  if (v < 0 || v > (int64_t{1} << 31) - 1 - 2 * kBK)
    fail<ValueError>(op, what, " (", v, ") exceeds the 31-bit range of the conv2d kernels");
  return static_cast<int>(v);
}

ConvGeom make_geom(const char* op, const Conv2dShape& s, Primitive prim) {
  ConvGeom g{};
  g.N = fit32(op, s.N, "batch"), g.C = fit32(op, s.C, "channels"), g.H = fit32(op, s.H, "height");
  g.W = fit32(op, s.W, "width"), g.K = fit32(op, s.K, "filters"),
  g.R = fit32(op, s.R, "kernel height");
  g.S = fit32(op, s.S, "kernel width"), g.P = fit32(op, s.P, "output height"),
  g.Q = fit32(op, s.Q, "output width");
  g.G = fit32(op, s.p.groups, "groups");
  g.sh = fit32(op, s.p.stride_h, "stride"), g.sw = fit32(op, s.p.stride_w, "stride");
  g.ph = fit32(op, s.p.pad_h, "padding"), g.pw = fit32(op, s.p.pad_w, "padding");
  g.dh = fit32(op, s.p.dilation_h, "dilation"), g.dw = fit32(op, s.p.dilation_w, "dilation");
  fit32(op, s.H + 2 * s.p.pad_h + s.p.stride_h, "padded height");
  fit32(op, s.W + 2 * s.p.pad_w + s.p.stride_w, "padded width");
  g.Cg = g.C / g.G, g.Kg = g.K / g.G;
  g.HW = fit32(op, s.H * s.W, "H W"), g.PQ = fit32(op, s.P * s.Q, "P Q");
  g.RS = fit32(op, s.R * s.S, "R S"), g.CgRS = fit32(op, s.C / s.p.groups * s.R * s.S, "Cg R S");
  switch (prim) {
    case Primitive::forward:
      g.M = g.Kg, g.Ng = fit32(op, s.N * s.P * s.Q, "N P Q"), g.Kd = g.CgRS;
      break;
    case Primitive::backward_input:
      g.M = g.Cg, g.Ng = fit32(op, s.N * s.H * s.W, "N H W"),
      g.Kd = fit32(op, s.K / s.p.groups * s.R * s.S, "Kg R S");
      break;
    case Primitive::backward_weight:
      g.M = g.Kg, g.Ng = g.CgRS, g.Kd = fit32(op, s.N * s.P * s.Q, "N P Q");
      break;
  }
  const auto u = [](int v) { return FastDiv(static_cast<uint32_t>(v)); };
  g.div_W = u(g.W), g.div_PQ = u(g.PQ), g.div_Q = u(g.Q);
  g.div_RS = u(g.RS), g.div_S = u(g.S), g.div_sh = u(g.sh), g.div_sw = u(g.sw);
  g.splits = 1;
  g.steps_per_split = (g.Kd + kBK - 1) / kBK;
  return g;
}

dim3 grid_of(const ConvGeom& g) {
  const int64_t z = int64_t{g.G} * g.splits;
  const int64_t gy = (g.M + kBM - 1) / kBM;
  if (gy > 65535)
    fail<ValueError>("conv2d", "at most ", 65535 * kBM, " channels per group, got ", g.M);
  return dim3(static_cast<unsigned>((g.Ng + kBN - 1) / kBN), static_cast<unsigned>(gy),
              static_cast<unsigned>(z < kMaxGridZ ? z : kMaxGridZ));
}

// Depthwise kernels: `pixels` grid-strided along x (at most 8 blocks of them), one
// plane per row of the grid, looping beyond 65535.
dim3 plane_grid(int pixels, int64_t planes) {
  const int bx = (pixels + kDwThreads - 1) / kDwThreads;
  return dim3(static_cast<unsigned>(bx < 8 ? bx : 8),
              static_cast<unsigned>(planes < 65535 ? planes : 65535));
}

template <typename Ops>
void run_igemm(const char* name, const Ops& ops, bool tf32) {
  const LaunchConfig cfg{name, grid_of(ops.g), dim3(kThreads)};
#if defined(__CUDACC__)
  if constexpr (std::is_same_v<typename Ops::Scalar, float>) {
    if (tf32) return launch(cfg, &conv2d_igemm<Ops, true>, ops);
  }
#endif
  (void)tf32;
  launch(cfg, &conv2d_igemm<Ops, false>, ops);
}

template <typename T>
void forward(const Conv2dShape& s, bool tf32, void* out, const void* x, const void* w,
             const void* bias) {
  const ForwardOps<T> ops{make_geom("conv2d", s, Primitive::forward), static_cast<T*>(out),
                          static_cast<const T*>(x), static_cast<const T*>(w),
                          static_cast<const T*>(bias)};
  if (ops.g.Cg == 1) {
    const LaunchConfig cfg{"conv2d_depthwise_forward",
                           plane_grid(ops.g.PQ, int64_t{ops.g.N} * ops.g.K), dim3(kDwThreads)};
    return launch(cfg, &conv2d_depthwise_forward<T>, ops.g, ops.out, ops.x, ops.w, ops.bias);
  }
  run_igemm("conv2d_forward", ops, tf32);
}

// Output phase (ah, aw) of backward-input: its pixels of grad_x and its filter taps.
// The taps r with (ah + ph - r dh) % sh == 0 are an arithmetic progression of step
// sh / gcd(dh, sh); found by scanning r < R once per phase on the host.
Phase make_phase(const ConvGeom& g, int ah, int aw) {
  Phase f{};
  f.ah = ah, f.aw = aw;
  f.Hh = (g.H - ah + g.sh - 1) / g.sh, f.Wh = (g.W - aw + g.sw - 1) / g.sw;
  const auto taps = [](int a, int pad, int stride, int dil, int n, int* first, int* step,
                       int* count) {
    *first = 0, *count = 0;
    for (int r = 0; r < n; ++r) {
      if ((a + pad - r * dil) % stride != 0) continue;
      if ((*count)++ == 0) *first = r;
    }
    *step = stride / std::gcd(dil, stride);
  };
  taps(ah, g.ph, g.sh, g.dh, g.R, &f.r0, &f.rstep, &f.nr);
  taps(aw, g.pw, g.sw, g.dw, g.S, &f.q0, &f.qstep, &f.nq);
  const auto at_least_1 = [](int v) { return FastDiv(static_cast<uint32_t>(v > 1 ? v : 1)); };
  f.div_HhWh = at_least_1(f.Hh * f.Wh), f.div_Wh = at_least_1(f.Wh);
  f.div_taps = at_least_1(f.nr * f.nq), f.div_nq = at_least_1(f.nq);
  return f;
}

// One launch per kMaxPhases output phases (one for strides up to 4 x 4); a phase
// beyond H or W has no pixels and is left out.
template <typename T>
void backward_input(const Conv2dShape& s, bool tf32, void* grad_x, const void* grad_out,
                    const void* w) {
  const char* op = "conv2d_backward_input";
  BackwardInputOps<T> ops{make_geom(op, s, Primitive::backward_input),
                          static_cast<T*>(grad_x),
                          static_cast<const T*>(grad_out),
                          static_cast<const T*>(w),
                          0,
                          {}};
  const ConvGeom& g = ops.g;
  if (g.Cg == 1) {
    const LaunchConfig cfg{"conv2d_depthwise_backward_input", plane_grid(g.HW, int64_t{g.N} * g.C),
                           dim3(kDwThreads)};
    return launch(cfg, &conv2d_depthwise_backward_input<T>, g, ops.grad_x, ops.grad_out, ops.w);
  }
  const int rows = std::min(g.sh, g.H), cols = std::min(g.sw, g.W);
  for (int64_t first = 0; first < int64_t{rows} * cols; first += kMaxPhases) {
    ops.phases = static_cast<int>(std::min<int64_t>(kMaxPhases, int64_t{rows} * cols - first));
    int widest = 0;
    for (int i = 0; i < ops.phases; ++i) {
      const int64_t f = first + i;
      ops.ph[i] = make_phase(g, static_cast<int>(f / cols), static_cast<int>(f % cols));
      widest = std::max(widest, g.N * ops.ph[i].Hh * ops.ph[i].Wh);
    }
    ops.g.Ng = widest,
    ops.g.splits = ops.phases;  // the grid: widest phase, one z per phase and group
    run_igemm(op, ops, tf32);
  }
}

template <typename T>
void backward_weight(const Conv2dShape& s, bool tf32, void* grad_w, const void* grad_out,
                     const void* x) {
  ConvGeom g = make_geom("conv2d_backward_weight", s, Primitive::backward_weight);
  if (g.Cg == 1) {
    const LaunchConfig cfg{
        "conv2d_depthwise_backward_weight",
        dim3(static_cast<unsigned>(g.RS), static_cast<unsigned>(std::min(g.K, 65535))),
        dim3(kDwThreads)};
    return launch(cfg, &conv2d_depthwise_backward_weight<T>, g, static_cast<T*>(grad_w),
                  static_cast<const T*>(grad_out), static_cast<const T*>(x));
  }
  const int steps = (g.Kd + kBK - 1) / kBK;
  const int64_t blocks = int64_t{(g.Ng + kBN - 1) / kBN} * ((g.M + kBM - 1) / kBM) * g.G;
  int64_t splits = 1;
  if (blocks < kTargetBlocks) {
    splits = (kTargetBlocks + blocks - 1) / blocks;
    splits = std::min<int64_t>(
        {splits, (steps + kMinStepsPerSplit - 1) / kMinStepsPerSplit, kMaxSplits});
  }
  g.steps_per_split = static_cast<int>((steps + splits - 1) / splits);
  g.splits = (steps + g.steps_per_split - 1) / g.steps_per_split;  // no split left empty
  const int64_t n = int64_t{g.K} * g.CgRS;                         // elements of grad_w
  using A = opmath_t<T>;  // the partial sums' type: f32 for bf16/f16
  const auto* go = static_cast<const T*>(grad_out);
  const auto* xs = static_cast<const T*>(x);
  if (g.splits == 1) {
    run_igemm("conv2d_backward_weight", BackwardWeightOps<T>{g, static_cast<T*>(grad_w), go, xs},
              tf32);
    return;
  }
  const rt::Scratch part(static_cast<size_t>(n * g.splits) * sizeof(A));  // (splits, K, Cg, R, S)
  run_igemm("conv2d_backward_weight",
            BackwardWeightOps<T, A>{g, static_cast<A*>(part.get()), go, xs}, tf32);
  const LaunchConfig cfg{"conv2d_sum_splits", dim3(grid_for(n, kThreads)), dim3(kThreads)};
  launch(cfg, &conv2d_sum_splits<T, A>, static_cast<T*>(grad_w), static_cast<const A*>(part.get()),
         n, g.splits);
}

// f(T{}) for T = float, double, bf16 or f16 (tf32 applies to f32 math only, so to f32 and
// the halves: run_igemm ignores it for f64).
template <typename F>
void by_dtype(const char* op, DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});  // issue 16
    case DType::f16: return f(f16{});
    default: fail<InternalError>(op, "no kernel for ", dtype);
  }
}

}  // namespace

void launch_conv2d_forward(DType dtype, const Conv2dShape& s, bool tf32, void* out, const void* x,
                           const void* w, const void* bias) {
  by_dtype("conv2d", dtype, [&](auto t) { forward<decltype(t)>(s, tf32, out, x, w, bias); });
}

void launch_conv2d_backward_input(DType dtype, const Conv2dShape& s, bool tf32, void* grad_x,
                                  const void* grad_out, const void* w) {
  by_dtype("conv2d_backward_input", dtype,
           [&](auto t) { backward_input<decltype(t)>(s, tf32, grad_x, grad_out, w); });
}

void launch_conv2d_backward_weight(DType dtype, const Conv2dShape& s, bool tf32, void* grad_w,
                                   const void* grad_out, const void* x) {
  by_dtype("conv2d_backward_weight", dtype,
           [&](auto t) { backward_weight<decltype(t)>(s, tf32, grad_w, grad_out, x); });
}

}  // namespace ember::EMBER_VARIANT
