// Internal helpers the case files share: input specs, random input generation, names,
// tolerances and cost formulas.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "registry/op_cases.h"

namespace ember::cases {

// How an input's values are drawn.
enum class Dist {
  normal,     // randn; i64: integers in [-9, 9]; bool: fair coin
  positive,   // floats in [0.25, 2.25); i64: [1, 9]  (log, sqrt, rsqrt, pow bases)
  nonzero,    // |x| in [0.5, 1.5) with a random sign; i64: +-[1, 9]  (divisors)
  small_int,  // integers in [-3, 3] (in the input dtype): ties for comparisons, max, ...
  wide,       // randn * 5; i64: [-100, 99]  (casts: truncation of fractions)
  large,      // randn * 40: softmax must subtract the max
  with_nan,   // randn with about a quarter NaN (floats only): NaN propagation
  with_ninf,  // randn with about a quarter -inf (floats only): masked softmax
  boolean,    // fair coin, always bool
  index,      // i64 in [0, index_high)
};

// How an input is laid out in memory (its logical shape is always `shape`).
enum class Layout {
  contiguous,
  transposed,  // made with the dims reversed, then permuted back (rank >= 2)
  strided,     // every other element of a wider last dim, at offset 1 (rank >= 1)
  expanded,    // dim 0 made of size 1 and expanded (stride 0) to shape[0] (rank >= 1)
};

struct In {
  Shape shape;
  Dist dist = Dist::normal;
  Layout layout = Layout::contiguous;
  std::optional<DType> dtype = std::nullopt;  // default: the case dtype
  int64_t index_high = 0;                     // Dist::index only
};

Tensor make_input(const In& in, Device device, DType case_dtype);
std::function<Inputs(Device, DType)> input_maker(std::vector<In> ins);

// Name pieces: "3x4", "0d" (0-dim), "4x5T", "6s", "3x4e"; "f32".
std::string shape_tag(const Shape& s);
std::string in_tag(const In& in);
std::string ins_tag(const std::vector<In>& ins);  // tags joined by '_'
std::string dtype_tag(DType d);

// Tolerances by output dtype and op kind.
enum class TolKind { exact, elementwise, transcendental, reduction, matmul, softmax };
Tolerance tolerance(DType out_dtype, TolKind kind);

// Cost formulas.
double numel_d(const Tensor& t);
double bytes_of(const Tensor& t);  // numel * element size (the logical bytes)
Shape broadcast_all(const Inputs& in);
// Elementwise: flops_per_elem per output element; bytes = inputs + output of out_dtype.
void set_elementwise_cost(OpCase& c, double flops_per_elem, DType out_dtype);

void add_elementwise_cases(std::vector<OpCase>& out);
void add_compare_cases(std::vector<OpCase>& out);
void add_reduce_cases(std::vector<OpCase>& out);
void add_linalg_cases(std::vector<OpCase>& out);
void add_shape_cases(std::vector<OpCase>& out);
void add_index_cases(std::vector<OpCase>& out);
// nn and optimizer families (reference_nn.h holds their references).
void add_conv2d_cases(std::vector<OpCase>& out);
void add_attention_cases(std::vector<OpCase>& out);
void add_loss_cases(std::vector<OpCase>& out);
void add_norm_cases(std::vector<OpCase>& out);
void add_embedding_cases(std::vector<OpCase>& out);
void add_optim_cases(std::vector<OpCase>& out);
void add_optim_more_cases(std::vector<OpCase>& out);  // RMSprop, Adagrad, NAdam, RAdam
void add_fill_cases(std::vector<OpCase>& out);
void add_linear_loss_cases(std::vector<OpCase>& out);
// scans, logical and norm reductions, mask and index assignment (issue 14)
void add_scan_cases(std::vector<OpCase>& out);
// sort, argsort, topk, multinomial (issue 15)
void add_sort_cases(std::vector<OpCase>& out);
void add_amp_cases(std::vector<OpCase>& out);  // issue 16, scaler
void add_select_cases(std::vector<OpCase>& out);
void add_pool_cases(std::vector<OpCase>& out);            // cases_pool.cpp
void add_conv_transpose_cases(std::vector<OpCase>& out);  // cases_conv_transpose.cpp
// padding, flipping, reordering and resampling (shape engineer's files)
void add_pad_cases(std::vector<OpCase>& out);
void add_reorder_cases(std::vector<OpCase>& out);
void add_resample_cases(std::vector<OpCase>& out);
void add_smooth_loss_cases(std::vector<OpCase>& out);  // smooth_l1, huber, bce, kl_div
void add_activation_cases(std::vector<OpCase>& out);   // clamp, activations (issue 14)
// batch norm and instance norm, group norm (reference_norm.h holds their references).
void add_batch_norm_cases(std::vector<OpCase>& out);
void add_group_norm_cases(std::vector<OpCase>& out);
void add_lin_cases(std::vector<OpCase>& out);       // cases_lin.cpp: einsum, addmm, ... (issue 15)
void add_rms_norm_cases(std::vector<OpCase>& out);  // cases_rms_norm.cpp (issue 15)
void add_rnn_cases(std::vector<OpCase>& out);       // lstm_cell, gru_cell (issue 15)
// cases_matmul_half.cpp: the matmul family in bf16/f16 (issue 16, autocast)
void add_matmul_half_cases(std::vector<OpCase>& out);

}  // namespace ember::cases
