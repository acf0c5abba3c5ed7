// Multi-tensor optimizer kernels: the fused Adam/AdamW and SGD steps over a whole
// parameter group, and the norm of a list of tensors (clip_grad_norm_), one launch each.
//
// Math:   Adam (torch.optim.Adam / AdamW), per element, in the parameter's precision:
//           g = sign * grad + l2 * p;  p *= decay                 (Adam: l2 = wd, decay = 1;
//           m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2        AdamW: l2 = 0, decay =
//           amsgrad: vmax = max(vmax, v), used for v below          1 - lr wd)
//           p -= step_size * m / (sqrt(v) * inv_bc2_sqrt + eps)
//         with step_size = lr / (1 - b1^t) and inv_bc2_sqrt = 1 / sqrt(1 - b2^t) computed
//         once per tensor on the host from its step count t (in f64, then rounded to T),
//         exactly as the cpu backend (kernels/cpu/optim.cpp) does, so the two agree to a
//         few ulps (the only differences are FMA contraction and sqrt rounding).
//         SGD: d = sign * grad + wd p; momentum: buf = first ? d : mu buf + (1 - damp) d,
//           d = nesterov ? d + mu buf : buf;  p -= lr d.
//         Norm: sum over every element of every tensor of |x|^q in f64 (q = 1 and 2 without
//           pow), or max |x| for q = inf (NaN propagates).
// Shapes: a group of contiguous tensors of one dtype (f32, f64, bf16, f16); each tensor's
//         state tensors have its shape. A bf16/f16 parameter (W) and its gradient are read
//         into f32 (T = opmath_t<W>), updated against f32 state and rounded once per step;
//         its elements run one by one (no 16-byte packs: the operands differ in width).
// Split:  each tensor is cut into chunks of kChunk elements; the launcher copies a table
//         of tensor descriptors and (tensor, chunk) pairs to the device once, and one
//         launch of up to sm_count * 8 blocks of 256 threads walks the chunks grid-stride.
//         Inside a chunk a thread handles packs of 16 bytes (4 floats or 2 doubles) with
//         vector loads when every pointer of the tensor is 16-byte aligned (chunks start
//         at multiples of kChunk, so all packs then are), else single elements; the
//         chunk's tail that does not fill a pack runs element by element.
//         The norm writes one f64 partial per block; a second launch of one block folds
//         the partials in a fixed order (deterministic: no atomics).
// Cost:   Adam: ~12 FLOPs and 28 bytes per f32 element (read p, g, m, v; write p, m, v),
//         36 with amsgrad; SGD: 3-6 FLOPs and 12 bytes (20 with momentum); norm: 2 FLOPs
//         and 4 bytes per f32 element. Plus the table copy (32-48 bytes per tensor, 8 per
//         chunk), which synchronizes the stream once per call.
// Pre:    tensors contiguous, of one dtype; Adam step counts >= 1; validated by
// tensor/raw_optim.cpp.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/multi_tensor.h"
#include "kernels/cuda/optim.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

// ---- Adam ---------------------------------------------------------------------------------------

template <typename W, typename T = opmath_t<W>>
struct AdamDesc {
  W* p;
  const W* g;
  T* m;
  T* v;
  T* vmax;  // null unless amsgrad
  int64_t n;
  T step_size;     // lr / (1 - b1^t)
  T inv_bc2_sqrt;  // 1 / sqrt(1 - b2^t)
  int32_t vec;     // every pointer 16-byte aligned
};

template <typename T>
struct AdamConsts {
  T b1, b2, one_minus_b1, one_minus_b2, eps, l2, decay, sign;
};

template <typename T, bool Amsgrad>
EMBER_DEVICE void adam_element(const AdamConsts<T>& c, T step_size, T inv_bc2_sqrt, T& w, T grad,
                               T& m, T& v, T* vmax) {
  const T g = c.sign * grad + c.l2 * w;
  w *= c.decay;
  m = c.b1 * m + c.one_minus_b1 * g;
  v = c.b2 * v + c.one_minus_b2 * g * g;
  T denom_v = v;
  if constexpr (Amsgrad) {
    denom_v = *vmax > v ? *vmax : v;
    *vmax = denom_v;
  }
  w = w - step_size * m / (d_sqrt(denom_v) * inv_bc2_sqrt + c.eps);
}

template <typename W, bool Amsgrad, typename T = opmath_t<W>>
__global__ void adam_multi_tensor(const AdamDesc<W>* descs, const Chunk* chunks, int64_t n_chunks,
                                  AdamConsts<T> c) {
  constexpr int V = kPack<T>;
  using P = Pack<T, V>;
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const AdamDesc<W> d = descs[ch.tensor];
    for_chunk<V>(
        ch, d.n, d.vec != 0,
        [&](int64_t i) {
          T w = static_cast<T>(d.p[i]);
          adam_element<T, Amsgrad>(c, d.step_size, d.inv_bc2_sqrt, w, static_cast<T>(d.g[i]),
                                   d.m[i], d.v[i], Amsgrad ? d.vmax + i : nullptr);
          d.p[i] = W(w);
        },
        [&](int64_t i) {
          if constexpr (std::is_same_v<W, T>) {
            P w = *reinterpret_cast<const P*>(d.p + i), g = *reinterpret_cast<const P*>(d.g + i);
            P m = *reinterpret_cast<const P*>(d.m + i), v = *reinterpret_cast<const P*>(d.v + i);
            P vm{};
            if constexpr (Amsgrad) vm = *reinterpret_cast<const P*>(d.vmax + i);
            EMBER_UNROLL
            for (int k = 0; k < V; ++k)
              adam_element<T, Amsgrad>(c, d.step_size, d.inv_bc2_sqrt, w.v[k], g.v[k], m.v[k],
                                       v.v[k], &vm.v[k]);
            *reinterpret_cast<P*>(d.p + i) = w;
            *reinterpret_cast<P*>(d.m + i) = m;
            *reinterpret_cast<P*>(d.v + i) = v;
            if constexpr (Amsgrad) *reinterpret_cast<P*>(d.vmax + i) = vm;
          }
        });
  }
}

template <typename W>
void run_adam(const std::vector<AdamSlot>& slots, const AdamStepParams& p) {
  using T = opmath_t<W>;
  std::vector<AdamDesc<W>> descs;
  descs.reserve(slots.size());
  for (const AdamSlot& s : slots) {
    if (s.n == 0) continue;
    AdamDesc<W> d{static_cast<W*>(s.param),
                  static_cast<const W*>(s.grad),
                  static_cast<T*>(s.exp_avg),
                  static_cast<T*>(s.exp_avg_sq),
                  static_cast<T*>(s.max_exp_avg_sq),
                  s.n,
                  static_cast<T>(s.step_size),
                  static_cast<T>(s.inv_bc2_sqrt),
                  0};
    d.vec = std::is_same_v<W, T> && aligned16(d.p) && aligned16(d.g) && aligned16(d.m) &&
            aligned16(d.v) && aligned16(d.vmax);
    descs.push_back(d);
  }
  if (descs.empty()) return;
  const AdamConsts<T> c{
      static_cast<T>(p.beta1),
      static_cast<T>(p.beta2),
      static_cast<T>(1.0 - p.beta1),
      static_cast<T>(1.0 - p.beta2),
      static_cast<T>(p.eps),
      p.decoupled_weight_decay ? T(0) : static_cast<T>(p.weight_decay),
      p.decoupled_weight_decay ? static_cast<T>(1.0 - p.lr * p.weight_decay) : T(1),
      p.maximize ? T(-1) : T(1)};
  ChunkTable<AdamDesc<W>> table(descs);
  const LaunchConfig cfg{"adam_multi_tensor", dim3(table.grid()), dim3(kThreads)};
  if (p.amsgrad) {
    launch(cfg, &adam_multi_tensor<W, true>, table.descs(), table.chunks(), table.n_chunks(), c);
  } else {
    launch(cfg, &adam_multi_tensor<W, false>, table.descs(), table.chunks(), table.n_chunks(), c);
  }
}

// ---- SGD ----------------------------------------------------------------------------------------

template <typename W, typename T = opmath_t<W>>
struct SgdDesc {
  W* p;
  const W* g;
  T* buf;  // null without momentum
  int64_t n;
  int32_t first;  // the buffer starts as the first (decayed) gradient
  int32_t vec;
};

template <typename T>
struct SgdConsts {
  T lr, wd, mu, damp, sign;
  int32_t nesterov;
};

template <typename T, bool Momentum>
EMBER_DEVICE void sgd_element(const SgdConsts<T>& c, bool first, T& w, T grad, T* buf) {
  T d = c.sign * grad + c.wd * w;
  if constexpr (Momentum) {
    const T b = first ? d : c.mu * *buf + c.damp * d;
    *buf = b;
    d = c.nesterov ? d + c.mu * b : b;
  }
  w = w - c.lr * d;
}

template <typename W, bool Momentum, typename T = opmath_t<W>>
__global__ void sgd_multi_tensor(const SgdDesc<W>* descs, const Chunk* chunks, int64_t n_chunks,
                                 SgdConsts<T> c) {
  constexpr int V = kPack<T>;
  using P = Pack<T, V>;
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const SgdDesc<W> d = descs[ch.tensor];
    const bool first = d.first != 0;
    for_chunk<V>(
        ch, d.n, d.vec != 0,
        [&](int64_t i) {
          T w = static_cast<T>(d.p[i]);
          sgd_element<T, Momentum>(c, first, w, static_cast<T>(d.g[i]),
                                   Momentum ? d.buf + i : nullptr);
          d.p[i] = W(w);
        },
        [&](int64_t i) {
          if constexpr (std::is_same_v<W, T>) {
            P w = *reinterpret_cast<const P*>(d.p + i), g = *reinterpret_cast<const P*>(d.g + i);
            P b{};
            if constexpr (Momentum) b = *reinterpret_cast<const P*>(d.buf + i);
            EMBER_UNROLL
            for (int k = 0; k < V; ++k) sgd_element<T, Momentum>(c, first, w.v[k], g.v[k], &b.v[k]);
            *reinterpret_cast<P*>(d.p + i) = w;
            if constexpr (Momentum) *reinterpret_cast<P*>(d.buf + i) = b;
          }
        });
  }
}

template <typename W>
void run_sgd(const std::vector<SgdSlot>& slots, const SgdStepParams& p) {
  using T = opmath_t<W>;
  const bool momentum = p.momentum != 0.0;
  std::vector<SgdDesc<W>> descs;
  descs.reserve(slots.size());
  for (const SgdSlot& s : slots) {
    if (s.n == 0) continue;
    SgdDesc<W> d{static_cast<W*>(s.param),
                 static_cast<const W*>(s.grad),
                 momentum ? static_cast<T*>(s.momentum_buffer) : nullptr,
                 s.n,
                 s.first_step ? 1 : 0,
                 0};
    d.vec = std::is_same_v<W, T> && aligned16(d.p) && aligned16(d.g) && aligned16(d.buf);
    descs.push_back(d);
  }
  if (descs.empty()) return;
  const SgdConsts<T> c{static_cast<T>(p.lr),       static_cast<T>(p.weight_decay),
                       static_cast<T>(p.momentum), static_cast<T>(1.0 - p.dampening),
                       p.maximize ? T(-1) : T(1),  p.nesterov ? 1 : 0};
  ChunkTable<SgdDesc<W>> table(descs);
  const LaunchConfig cfg{"sgd_multi_tensor", dim3(table.grid()), dim3(kThreads)};
  if (momentum) {
    launch(cfg, &sgd_multi_tensor<W, true>, table.descs(), table.chunks(), table.n_chunks(), c);
  } else {
    launch(cfg, &sgd_multi_tensor<W, false>, table.descs(), table.chunks(), table.n_chunks(), c);
  }
}

// ---- norm ---------------------------------------------------------------------------------------

template <typename T>
struct NormDesc {
  const T* x;
  int64_t n;
  int32_t vec;
};

enum class NormKind : int32_t { l1, l2, lq, linf };

EMBER_DEVICE double norm_term(NormKind kind, double a, double q) {
  switch (kind) {
    case NormKind::l1: return a;
    case NormKind::l2: return a * a;
    case NormKind::lq: return d_pow(a, q);
    default: return a;  // linf: the value itself, merged by max
  }
}

EMBER_DEVICE double norm_merge(NormKind kind, double a, double b) {
  return kind == NormKind::linf ? nan_max(a, b) : a + b;
}

template <typename T>
__global__ void norm_partials(const NormDesc<T>* descs, const Chunk* chunks, int64_t n_chunks,
                              NormKind kind, double q, double* partials) {
  constexpr int V = kPack<T>;
  using P = Pack<T, V>;
  double acc = 0;  // also the identity of max |x|
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const NormDesc<T> d = descs[ch.tensor];
    for_chunk<V>(
        ch, d.n, d.vec != 0,
        [&](int64_t i) {
          acc = norm_merge(kind, acc, norm_term(kind, d_abs(static_cast<double>(d.x[i])), q));
        },
        [&](int64_t i) {
          const P x = *reinterpret_cast<const P*>(d.x + i);
          EMBER_UNROLL
          for (int k = 0; k < V; ++k)
            acc = norm_merge(kind, acc, norm_term(kind, d_abs(static_cast<double>(x.v[k])), q));
        });
  }
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  acc = grp.allreduce(acc, [kind](double a, double b) { return norm_merge(kind, a, b); });
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void norm_fold(const double* partials, int64_t n, NormKind kind, double* out) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc = norm_merge(kind, acc, partials[i]);
  const BlockGroup grp{static_cast<int>(threadIdx.x), static_cast<int>(blockDim.x)};
  acc = grp.allreduce(acc, [kind](double a, double b) { return norm_merge(kind, a, b); });
  if (threadIdx.x == 0) *out = acc;
}

template <typename T>
void run_norm(const std::vector<NormSlot>& slots, double q, double* out) {
  std::vector<NormDesc<T>> descs;
  descs.reserve(slots.size());
  for (const NormSlot& s : slots)
    if (s.n > 0) descs.push_back({static_cast<const T*>(s.data), s.n, aligned16(s.data) ? 1 : 0});
  const NormKind kind = q == 1.0        ? NormKind::l1
                        : q == 2.0      ? NormKind::l2
                        : std::isinf(q) ? NormKind::linf
                                        : NormKind::lq;
  if (descs.empty()) {
    rt::memset(out, 0, sizeof(double));  // +0.0: the sum (and the max) of nothing
    return;
  }
  ChunkTable<NormDesc<T>> table(descs);
  const unsigned grid = table.grid();
  auto* partials = static_cast<double*>(rt::allocate(grid * sizeof(double)));
  launch({"norm_partials", dim3(grid), dim3(kThreads)}, &norm_partials<T>, table.descs(),
         table.chunks(), table.n_chunks(), kind, q, partials);
  launch({"norm_fold", dim3(1), dim3(kThreads)}, &norm_fold, static_cast<const double*>(partials),
         static_cast<int64_t>(grid), kind, out);
  rt::deallocate(partials);
}

}  // namespace

void launch_adam_multi_tensor(DType dtype, const std::vector<AdamSlot>& slots,
                              const AdamStepParams& p) {
  switch (dtype) {
    case DType::f32: return run_adam<float>(slots, p);
    case DType::f64: return run_adam<double>(slots, p);
    case DType::bf16: return run_adam<bf16>(slots, p);  // f32 state (issue 16)
    case DType::f16: return run_adam<f16>(slots, p);
    default: fail<DTypeError>("adam_step", "no kernel for ", dtype);
  }
}

void launch_sgd_multi_tensor(DType dtype, const std::vector<SgdSlot>& slots,
                             const SgdStepParams& p) {
  switch (dtype) {
    case DType::f32: return run_sgd<float>(slots, p);
    case DType::f64: return run_sgd<double>(slots, p);
    case DType::bf16: return run_sgd<bf16>(slots, p);  // f32 state (issue 16)
    case DType::f16: return run_sgd<f16>(slots, p);
    default: fail<DTypeError>("sgd_step", "no kernel for ", dtype);
  }
}

void launch_norm_multi_tensor(DType dtype, const std::vector<NormSlot>& slots, double norm_type,
                              double* out) {
  switch (dtype) {
    case DType::f32: return run_norm<float>(slots, norm_type, out);
    case DType::f64: return run_norm<double>(slots, norm_type, out);
    case DType::bf16: return run_norm<bf16>(slots, norm_type, out);  // issue 16
    case DType::f16: return run_norm<f16>(slots, norm_type, out);
    default: fail<DTypeError>("multi_tensor_norm", "no kernel for ", dtype);
  }
}

}  // namespace ember::EMBER_VARIANT
