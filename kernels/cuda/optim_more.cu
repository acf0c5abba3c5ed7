// Multi-tensor RMSprop, Adagrad, NAdam and RAdam steps: one launch per parameter group
// and dtype, over the chunk table of multi_tensor.h (as Adam's and SGD's in optim.cu).
//
// Math:   torch.optim's formulas, per element in the parameter's precision, exactly as
//         the cpu kernels (kernels/cpu/optim_more.cpp), with g = sign * grad + l2 * p:
//         RMSprop: sq = alpha sq + (1 - alpha) g^2; centered: ga += (1 - alpha)(g - ga),
//           den = sqrt(sq - ga^2) + eps, else sqrt(sq) + eps; momentum: buf = mu buf +
//           g / den, p -= lr buf; else p -= lr g / den.
//         Adagrad: sum += g^2; p -= clr g / (sqrt(sum) + eps).
//         NAdam: p *= decay; m, v as Adam; p -= (cg g + cm m) / (sqrt(v) inv_bc2_sqrt + eps).
//         RAdam: p *= decay; m, v as Adam; p -= step_size m (rectified ? adaptive /
//           (sqrt(v) + eps) : 1).
//         The step-dependent scalars come per tensor from the host (tensor/optim_coeffs.h).
// Shapes: a group of contiguous tensors of one dtype (f32, f64, bf16, f16); states of its
//         shape, f32 for a bf16/f16 parameter, which is read into f32, updated and rounded
//         once per step, element by element (no 16-byte packs: the operands differ in width).
// Split:  kChunk-element chunks walked grid-stride by up to sm_count * 8 blocks of 256
//         threads; 16-byte packs where every pointer of a tensor is aligned.
// Cost:   5-15 FLOPs per element; bytes per f32 element: RMSprop 20 (+8 per momentum
//         buffer and grad_avg), Adagrad 20, NAdam and RAdam 28; plus the table copy.
// Pre:    validated by tensor/raw_optim_more.cpp.
#include <type_traits>
#include <vector>

#include "kernels/cuda/device_utils.h"
#include "kernels/cuda/multi_tensor.h"
#include "kernels/cuda/optim.h"
#include "tensor/error.h"

namespace ember::EMBER_VARIANT {

namespace {

constexpr int kStates = 3;

// W: the parameter's (and gradient's) storage type; T: the state's and the math's.
template <typename W, typename T = opmath_t<W>>
struct StepDesc {
  W* p;
  const W* g;
  T* s[kStates];  // null where absent
  int64_t n;
  T k[3];
  int32_t vec;
};

// The per-element updates: op(k, w, g, s) with s the element's states in slot order.
template <typename T, bool Centered, bool Momentum>
struct RmspropOp {
  T lr, alpha, one_minus_alpha, eps, l2, mu, sign;
  EMBER_DEVICE void operator()(const T*, T& w, T grad, T* s) const {
    const T g = sign * grad + l2 * w;
    s[0] = alpha * s[0] + one_minus_alpha * g * g;
    T den;
    if constexpr (Centered) {
      s[2] = s[2] + one_minus_alpha * (g - s[2]);
      den = d_sqrt(s[0] - s[2] * s[2]) + eps;
    } else {
      den = d_sqrt(s[0]) + eps;
    }
    if constexpr (Momentum) {
      s[1] = mu * s[1] + g / den;
      w = w - lr * s[1];
    } else {
      w = w - lr * g / den;
    }
  }
};

template <typename T>
struct AdagradOp {
  T eps, l2, sign;
  EMBER_DEVICE void operator()(const T* k, T& w, T grad, T* s) const {
    const T g = sign * grad + l2 * w;
    s[0] = s[0] + g * g;
    w = w - k[0] * g / (d_sqrt(s[0]) + eps);
  }
};

template <typename T>
struct MomentConsts {
  T b1, b2, one_minus_b1, one_minus_b2, eps, l2, decay, sign;
};

template <typename T>
struct NadamOp {
  MomentConsts<T> c;
  EMBER_DEVICE void operator()(const T* k, T& w, T grad, T* s) const {
    const T g = c.sign * grad + c.l2 * w;
    w *= c.decay;
    s[0] = c.b1 * s[0] + c.one_minus_b1 * g;
    s[1] = c.b2 * s[1] + c.one_minus_b2 * g * g;
    const T den = d_sqrt(s[1]) * k[0] + c.eps;
    w = w - (k[1] * g + k[2] * s[0]) / den;
  }
};

template <typename T>
struct RadamOp {
  MomentConsts<T> c;
  EMBER_DEVICE void operator()(const T* k, T& w, T grad, T* s) const {
    const T g = c.sign * grad + c.l2 * w;
    w *= c.decay;
    s[0] = c.b1 * s[0] + c.one_minus_b1 * g;
    s[1] = c.b2 * s[1] + c.one_minus_b2 * g * g;
    if (k[2] != T(0)) {
      w = w - k[0] * s[0] * k[1] / (d_sqrt(s[1]) + c.eps);
    } else {
      w = w - k[0] * s[0];
    }
  }
};

template <typename W, typename Op, typename T = opmath_t<W>>
__global__ void step_multi_tensor(const StepDesc<W>* descs, const Chunk* chunks, int64_t n_chunks,
                                  Op op) {
  constexpr int V = kPack<T>;
  using P = Pack<T, V>;
  for (int64_t ci = blockIdx.x; ci < n_chunks; ci += gridDim.x) {
    const Chunk ch = chunks[ci];
    const StepDesc<W> d = descs[ch.tensor];
    for_chunk<V>(
        ch, d.n, d.vec != 0,
        [&](int64_t i) {
          T s[kStates] = {};
          EMBER_UNROLL
          for (int j = 0; j < kStates; ++j)
            if (d.s[j] != nullptr) s[j] = d.s[j][i];
          T w = static_cast<T>(d.p[i]);
          op(d.k, w, static_cast<T>(d.g[i]), s);
          d.p[i] = W(w);
          EMBER_UNROLL
          for (int j = 0; j < kStates; ++j)
            if (d.s[j] != nullptr) d.s[j][i] = s[j];
        },
        [&](int64_t i) {
          if constexpr (std::is_same_v<W, T>) {
            P w = *reinterpret_cast<const P*>(d.p + i), g = *reinterpret_cast<const P*>(d.g + i);
            P st[kStates] = {};
            EMBER_UNROLL
            for (int j = 0; j < kStates; ++j)
              if (d.s[j] != nullptr) st[j] = *reinterpret_cast<const P*>(d.s[j] + i);
            EMBER_UNROLL
            for (int e = 0; e < V; ++e) {
              T s[kStates];
              EMBER_UNROLL
              for (int j = 0; j < kStates; ++j) s[j] = st[j].v[e];
              op(d.k, w.v[e], g.v[e], s);
              EMBER_UNROLL
              for (int j = 0; j < kStates; ++j) st[j].v[e] = s[j];
            }
            *reinterpret_cast<P*>(d.p + i) = w;
            EMBER_UNROLL
            for (int j = 0; j < kStates; ++j)
              if (d.s[j] != nullptr) *reinterpret_cast<P*>(d.s[j] + i) = st[j];
          }
        });
  }
}

template <typename W, typename Op>
void run_step(const char* name, const std::vector<StepSlot>& slots, const Op& op) {
  using T = opmath_t<W>;
  std::vector<StepDesc<W>> descs;
  descs.reserve(slots.size());
  for (const StepSlot& s : slots) {
    if (s.n == 0) continue;
    StepDesc<W> d{
        static_cast<W*>(s.param),
        static_cast<const W*>(s.grad),
        {static_cast<T*>(s.state[0]), static_cast<T*>(s.state[1]), static_cast<T*>(s.state[2])},
        s.n,
        {static_cast<T>(s.k[0]), static_cast<T>(s.k[1]), static_cast<T>(s.k[2])},
        0};
    d.vec = std::is_same_v<W, T> && aligned16(d.p) && aligned16(d.g) && aligned16(d.s[0]) &&
            aligned16(d.s[1]) && aligned16(d.s[2]);
    descs.push_back(d);
  }
  if (descs.empty()) return;
  ChunkTable<StepDesc<W>> table(descs);
  const LaunchConfig cfg{name, dim3(table.grid()), dim3(kThreads)};
  launch(cfg, &step_multi_tensor<W, Op>, table.descs(), table.chunks(), table.n_chunks(), op);
}

template <typename W>
void run_rmsprop(const std::vector<StepSlot>& slots, const RmspropStepParams& p) {
  using T = opmath_t<W>;
  const T lr = static_cast<T>(p.lr), alpha = static_cast<T>(p.alpha),
          one_minus_alpha = static_cast<T>(1.0 - p.alpha), eps = static_cast<T>(p.eps),
          l2 = static_cast<T>(p.weight_decay), mu = static_cast<T>(p.momentum),
          sign = p.maximize ? T(-1) : T(1);
  const char* name = "rmsprop_multi_tensor";
  const bool momentum = p.momentum > 0;
  if (p.centered && momentum) {
    run_step<W>(name, slots,
                RmspropOp<T, true, true>{lr, alpha, one_minus_alpha, eps, l2, mu, sign});
  } else if (p.centered) {
    run_step<W>(name, slots,
                RmspropOp<T, true, false>{lr, alpha, one_minus_alpha, eps, l2, mu, sign});
  } else if (momentum) {
    run_step<W>(name, slots,
                RmspropOp<T, false, true>{lr, alpha, one_minus_alpha, eps, l2, mu, sign});
  } else {
    run_step<W>(name, slots,
                RmspropOp<T, false, false>{lr, alpha, one_minus_alpha, eps, l2, mu, sign});
  }
}

template <typename T, typename P>
MomentConsts<T> moment_consts(const P& p) {
  return {static_cast<T>(p.beta1),
          static_cast<T>(p.beta2),
          static_cast<T>(1.0 - p.beta1),
          static_cast<T>(1.0 - p.beta2),
          static_cast<T>(p.eps),
          p.decoupled_weight_decay ? T(0) : static_cast<T>(p.weight_decay),
          p.decoupled_weight_decay ? static_cast<T>(1.0 - p.lr * p.weight_decay) : T(1),
          p.maximize ? T(-1) : T(1)};
}

// f<T>() for the dtype, else a DTypeError naming the op.
template <typename F>
void by_dtype(const char* op, DType dtype, F f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});  // f32 state and math (issue 16)
    case DType::f16: return f(f16{});
    default: fail<DTypeError>(op, "no kernel for ", dtype);
  }
}

}  // namespace

void launch_rmsprop_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                                 const RmspropStepParams& p) {
  by_dtype("rmsprop_step", dtype, [&]<typename W>(W) { run_rmsprop<W>(slots, p); });
}

void launch_adagrad_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                                 const AdagradStepParams& p) {
  by_dtype("adagrad_step", dtype, [&]<typename W>(W) {
    using T = opmath_t<W>;
    run_step<W>("adagrad_multi_tensor", slots,
                AdagradOp<T>{static_cast<T>(p.eps), static_cast<T>(p.weight_decay),
                             p.maximize ? T(-1) : T(1)});
  });
}

void launch_nadam_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                               const NadamStepParams& p) {
  by_dtype("nadam_step", dtype, [&]<typename W>(W) {
    using T = opmath_t<W>;
    run_step<W>("nadam_multi_tensor", slots, NadamOp<T>{moment_consts<T>(p)});
  });
}

void launch_radam_multi_tensor(DType dtype, const std::vector<StepSlot>& slots,
                               const RadamStepParams& p) {
  by_dtype("radam_step", dtype, [&]<typename W>(W) {
    using T = opmath_t<W>;
    run_step<W>("radam_multi_tensor", slots, RadamOp<T>{moment_consts<T>(p)});
  });
}

}  // namespace ember::EMBER_VARIANT
