// The ops users call. Differentiable ones are defined in autograd/ (they record the
// graph); factories and comparisons are defined in tensor/. All broadcast like NumPy,
// promote dtypes like PyTorch (bool < i64 < f32 < f64; a Python-style scalar does not
// widen a tensor's dtype within its category), and throw ember::Error on bad input.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "tensor/backend.h"
#include "tensor/tensor.h"

namespace ember {

// ---- factories -------------------------------------------------------------------------
Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, const Scalar& value, TensorOptions options = {});
Tensor scalar_tensor(const Scalar& value, TensorOptions options = {});  // 0-dim
Tensor arange(const Scalar& end, TensorOptions options = {});
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step = 1,
              TensorOptions options = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
Tensor eye(int64_t n, TensorOptions options = {});
Tensor eye(int64_t n, int64_t m, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, const Scalar& value);

// Copies `values` into a new tensor of the given shape (1-D of values.size() when the
// shape is omitted). The dtype follows T: float->f32, double->f64, int64_t->i64, bool.
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
template <typename T>
Tensor from_vector(const std::vector<T>& values, Device device = Device::cpu()) {
  return from_vector(values, Shape{static_cast<int64_t>(values.size())}, device);
}
// Wraps host memory ember does not own (no copy); `deleter`, if given, runs when the
// last tensor using it dies. Strides default to contiguous.
Tensor from_blob(void* data, const Shape& shape, DType dtype,
                 std::function<void(void*)> deleter = {});
Tensor from_blob(void* data, const Shape& shape, const Strides& strides, DType dtype,
                 std::function<void(void*)> deleter = {});

// ---- random numbers (Philox-4x32-10; same numbers on every device for a seed) ---------
void manual_seed(uint64_t seed);
Tensor rand(const Shape& shape, TensorOptions options = {});   // U[0, 1)
Tensor randn(const Shape& shape, TensorOptions options = {});  // N(0, 1)
Tensor randint(int64_t low, int64_t high, const Shape& shape,
               TensorOptions options = {});  // default dtype i64
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);

// ---- elementwise -----------------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
// approximate: "none" (the erf form) or "tanh", as torch.nn.functional.gelu.
Tensor gelu(const Tensor& x, std::string_view approximate = "none");
Tensor silu(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor pow(const Tensor& x, const Scalar& exponent);
Tensor pow(const Tensor& x, const Tensor& exponent);
// Rounding keeps integer inputs as they are and has zero gradient; round is half to even.
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);
Tensor trunc(const Tensor& x);
Tensor log1p(const Tensor& x);  // log(1 + x), exact for small x
Tensor expm1(const Tensor& x);  // exp(x) - 1, exact for small x

// ---- clamp (issue 14) ---------------------------------------------------------------------
// min(max(x, min), max) as torch.clamp: at least one bound; min > max gives max everywhere;
// NaN propagates (from x and from the bounds). Scalar bounds run one fused pass and keep
// integer dtypes (a floating bound makes integers f32); tensor bounds broadcast with x and
// promote with it, and get gradients where they bind. clip is clamp.
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor clamp(const Tensor& x, const std::optional<Tensor>& min,
             const std::optional<Tensor>& max = std::nullopt);
Tensor clip(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor clip(const Tensor& x, const std::optional<Tensor>& min,
            const std::optional<Tensor>& max = std::nullopt);
Tensor clamp_min(const Tensor& x, const Scalar& min);
Tensor clamp_min(const Tensor& x, const Tensor& min);
Tensor clamp_max(const Tensor& x, const Scalar& max);
Tensor clamp_max(const Tensor& x, const Tensor& max);

// ---- activations (issue 14; nn::functional re-exports them) --------------------------------
// Each with torch.nn.functional's defaults; the scalar-parameter ones are one fused pass.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor elu(const Tensor& x, double alpha = 1.0);
// log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor mish(const Tensor& x);         // x tanh(softplus(x))
Tensor hardswish(const Tensor& x);    // x relu6(x + 3) / 6
Tensor hardsigmoid(const Tensor& x);  // relu6(x + 3) / 6
// max(0, x) + weight min(0, x), weight (1) or (C) along dim 1 of x (dim 0 counts as C = 1
// for a 1-D x), as torch.prelu; weight gets a gradient.
Tensor prelu(const Tensor& x, const Tensor& weight);

Tensor add(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, const Scalar& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Scalar& b);
Tensor sub(const Scalar& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Scalar& b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give f32
Tensor div(const Tensor& a, const Scalar& b);
Tensor div(const Scalar& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);

// Comparisons and logic give bool tensors and are not differentiable.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Scalar& b);
Tensor ne(const Tensor& a, const Scalar& b);
Tensor lt(const Tensor& a, const Scalar& b);
Tensor le(const Tensor& a, const Scalar& b);
Tensor gt(const Tensor& a, const Scalar& b);
Tensor ge(const Tensor& a, const Scalar& b);
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

// cond ? a : b, all three broadcast together; cond must be bool.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Scalar& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value);

// ---- reductions (empty dims = all dims) ------------------------------------------------
Tensor sum(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor prod(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor var(const Tensor& x, const DimList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, const DimList& dims = {}, int64_t correction = 1, bool keepdim = false);
Tensor amax(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
std::tuple<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::tuple<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// log(sum(exp(x))) over dims, stable (the max is subtracted first); a row of -inf gives -inf.
// Integer inputs compute in f32, as torch.
Tensor logsumexp(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
// Whether any (all) element is nonzero, over dims; any dtype in, bool out. Not
// differentiable. Over no elements any is false and all is true.
Tensor any(const Tensor& x, const DimList& dims = {}, bool keepdim = false);
Tensor all(const Tensor& x, const DimList& dims = {}, bool keepdim = false);

// ---- scans ---------------------------------------------------------------------------------
// Inclusive running sum (product) along dim; integer and bool inputs give i64, as torch.
Tensor cumsum(const Tensor& x, int64_t dim);
Tensor cumprod(const Tensor& x, int64_t dim);

// ---- sorting and sampling (issue 15, docs/sequence.md) ------------------------------------
// torch.sort: {values, indices (i64)} along dim. Always stable (equal values keep their
// index order; `stable` is accepted for torch's signature); NaN is larger than every number
// (last ascending, first descending). The values' gradient goes back to the indices.
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false,
                                bool stable = false);
// torch.argsort: the indices of sort.
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
// torch.topk: the k largest (smallest) values along dim and their indices, in sorted order
// (also for sorted = false), ties by index, NaN the largest; IndexError for k outside
// [0, size of dim].
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                                bool sorted = true);
// torch.multinomial: probs (C) or (R, C) of non-negative weights (any positive sum) ->
// (S) or (R, S) i64 categories from the default generator (manual_seed), the same on every
// device; without replacement a category is drawn at most once per row. ValueError for a
// negative or non-finite weight, a row summing to 0, num_samples <= 0, or (without
// replacement) more samples than positive weights.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false);

// ---- linear algebra and normalisation ----------------------------------------------
// torch.matmul: 1-D @ 1-D is a dot product, 2-D @ 2-D a matrix product, and leading
// dims of N-D operands broadcast as batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// 2-D convolution as torch.nn.functional.conv2d: x (N, C, H, W), weight (K, C/groups, R, S),
// bias (K) or undefined -> (N, K, P, Q). An unbatched (C, H, W) input gives (K, P, Q).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              const Conv2dParams& params = {});
// Transposed 2-D convolution as torch.nn.functional.conv_transpose2d, the adjoint of conv2d:
// x (N, C, H, W) or (C, H, W), weight (C, K/groups, R, S), bias (K) or undefined ->
// (N, K, P, Q), P = (H - 1) stride_h - 2 pad_h + dilation_h (R - 1) + output_padding_h + 1.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
                        const Conv2dParams& params = {}, int64_t output_padding_h = 0,
                        int64_t output_padding_w = 0);
// 2-D pooling (Pool2dParams), the differentiable op under nn::functional's max_pool2d,
// avg_pool2d and adaptive_{avg,max}_pool2d: x (N, C, H, W) or (C, H, W) floating ->
// {values (..., P, Q), indices (..., P, Q) i64 into each H W plane for max, undefined for
// avg}. P, Q follow from the windows (ceil_mode as torch), or are output_h, output_w for
// adaptive pooling.
std::pair<Tensor, Tensor> pool2d(const Tensor& x, const Pool2dParams& params, int64_t output_h = 0,
                                 int64_t output_w = 0);
// softmax(q k^T * scale + mask) v over the last two dims, as
// torch.nn.functional.scaled_dot_product_attention: q (..., Tq, D), k (..., Tk, D),
// v (..., Tk, Dv). A bool mask marks the pairs that take part (true = attend); a floating
// mask is added to the scores. scale defaults to 1/sqrt(D). Runs the backend's fused
// attention (no (Tq, Tk) matrix kept for the backward), dropout included: it takes one
// Philox state from the default generator (tensor/random.h) and drops the probabilities
// the backend's AttentionParams contract names (the same scores on every device).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);
// The fused nn primitives, differentiable (nn::functional's layer_norm, embedding and
// cross_entropy are built on them; autograd/functions_nn.cpp defines them):
// layer norm over the last dim of x (R, N), weight and bias (N) or undefined -> (R, N).
Tensor layer_norm_rows(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
// RMS norm over the last dim of x (R, N), weight (N) or undefined -> (R, N)
// (nn::functional::rms_norm; autograd/functions_rms_norm.cpp).
Tensor rms_norm_rows(const Tensor& x, const Tensor& weight, double eps);
// weight (V, D) rows at indices (any shape, i64, M elements) -> (M, D); padding_idx, in
// [0, V), gets no gradient.
Tensor embedding_rows(const Tensor& weight, const Tensor& indices,
                      std::optional<int64_t> padding_idx = std::nullopt);
// Per-row cross entropy of logits (R, C) against target (R) i64 (CrossEntropyParams).
Tensor cross_entropy_rows(const Tensor& logits, const Tensor& target, const Tensor& weight,
                          const CrossEntropyParams& p);

// Batch norm and group norm of x (N, C, S) (nn::functional's batch_norm, group_norm and
// instance_norm are built on them; autograd/functions_norm.cpp defines them). batch_norm:
// weight, bias, running_mean, running_var (C) or undefined, num_batches_tracked (0-dim
// i64) or undefined (then momentum weighs the running update, else 1 / its value); the
// running statistics are updated in place, without grad, in training.
Tensor batch_norm_ncs(const Tensor& x, const Tensor& weight, const Tensor& bias,
                      const Tensor& running_mean, const Tensor& running_var,
                      const Tensor& num_batches_tracked, bool training, double momentum,
                      double eps);
// groups divides C; weight, bias (C) or undefined.
Tensor group_norm_ncs(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                      double eps);

// Fused recurrent cells after their two GEMMs (issue 15, rnn; autograd/functions_rnn.cpp,
// tensor/backend_args.h's LstmCellForwardArgs says the math). LSTM: igates, hgates (B, 4H)
// pre-activations in gate order i, f, g, o, c_prev (B, H) -> (h, c) (B, H).
std::tuple<Tensor, Tensor> lstm_cell(const Tensor& igates, const Tensor& hgates,
                                     const Tensor& c_prev);
// GRU: igates = x W_ih^T + b_ih, hgates = h W_hh^T + b_hh (B, 3H) in order r, z, n,
// h_prev (B, H) -> h (B, H).
Tensor gru_cell(const Tensor& igates, const Tensor& hgates, const Tensor& h_prev);

// ---- joining, splitting, indexing --------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& split_sizes,
                          int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// The elements of x where mask (bool) is true, x and mask broadcast together, in row-major
// order: a 1-D tensor (its length is read back to the host, as torch does).
Tensor masked_select(const Tensor& x, const Tensor& mask);
// x[indices] = values (accumulate: +=) with torch's advanced indexing over x's leading dims:
// each index is an i64 tensor (negative counts from the end) or a bool mask over as many
// dims as it has; the index tensors broadcast together to a shape B, and values broadcasts
// to B + x's remaining dims. index_put_ writes x in place; index_put returns a new tensor.
// Without accumulate, an element named twice gets the last of its values.
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate = false);
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);

// ---- torch.linalg ---------------------------------------------------------------------------
namespace linalg {
// torch.linalg.vector_norm: (sum |x|^ord)^(1 / ord) over dims (empty = all) for ord > 0 or
// negative; max |x| for inf, min |x| for -inf, the count of nonzeros for 0 (not
// differentiable). The gradient is torch's; at a zero norm it is 0. x must be floating.
Tensor vector_norm(const Tensor& x, double ord = 2.0, const DimList& dims = {},
                   bool keepdim = false);
}  // namespace linalg

// ---- products and einsum (issue 15; autograd/functions_blas.cpp, functions_einsum.cpp) --------
// beta * input + alpha * (mat1 @ mat2), mat1 (n, m), mat2 (m, p), input expandable to (n, p),
// as torch.addmm; beta = 0 ignores input (its NaN and inf too) and gives it no gradient.
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, const Scalar& beta = 1,
             const Scalar& alpha = 1);
// torch.mm: a (n, m) @ b (m, p) only (no broadcasting, no 1-D); torch.bmm: a (b, n, m) @
// b (b, m, p) with equal batch sizes. Both are matmul after that check (issue 16, autocast).
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
// The batched form: batch1 (b, n, m), batch2 (b, m, p), input expandable to (b, n, p).
Tensor baddbmm(const Tensor& input, const Tensor& batch1, const Tensor& batch2,
               const Scalar& beta = 1, const Scalar& alpha = 1);
// a (n) and b (m) -> (n, m), a_i b_j (dtypes promote).
Tensor outer(const Tensor& a, const Tensor& b);
// torch.einsum: "ij,jk->ik", implicit output ("ij,jk" is "ik": the subscripts seen once,
// alphabetically, after the "..." dims), "..." for broadcast batch dims, size-1 dims
// broadcast. Labels are summed, permuted and contracted pairwise left to right, one
// batched matmul per pair. A subscript repeated within one operand (a diagonal) is a
// ValueError naming it; a rank or size mismatch is a ShapeError naming the shapes.
Tensor einsum(std::string_view equation, const std::vector<Tensor>& operands);

// ---- reordering and repetition (autograd/functions_reorder.cpp) ---------------------------
// Reverses the order of the elements along each of dims (a copy, as torch.flip).
Tensor flip(const Tensor& x, const DimList& dims);
// Rotates the elements along each dims[i] by shifts[i] (positive moves toward higher
// indices); with dims empty, x is rolled as its flattened form and reshaped back.
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const DimList& dims = {});
// Copies x sizes[i] times along each dim (sizes.size() >= x.dim(); leading sizes add dims).
Tensor repeat(const Tensor& x, const std::vector<int64_t>& sizes);
// repeat with dims padded by leading ones when shorter than x.dim() (as torch.tile).
Tensor tile(const Tensor& x, const std::vector<int64_t>& dims);
// Repeats each element (or each slice along dim) `repeats` times in place; without dim,
// x is flattened first. repeats as a tensor: i64, 0-dim or one count per slice.
Tensor repeat_interleave(const Tensor& x, int64_t repeats,
                         std::optional<int64_t> dim = std::nullopt);
Tensor repeat_interleave(const Tensor& x, const Tensor& repeats,
                         std::optional<int64_t> dim = std::nullopt);

// ---- operators -------------------------------------------------------------------------
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator+(const Tensor& a, const Scalar& b) { return add(a, b); }
inline Tensor operator+(const Scalar& a, const Tensor& b) { return add(b, a); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator-(const Tensor& a, const Scalar& b) { return sub(a, b); }
inline Tensor operator-(const Scalar& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator*(const Tensor& a, const Scalar& b) { return mul(a, b); }
inline Tensor operator*(const Scalar& a, const Tensor& b) { return mul(b, a); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator/(const Tensor& a, const Scalar& b) { return div(a, b); }
inline Tensor operator/(const Scalar& a, const Tensor& b) { return div(a, b); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return lt(a, b); }
inline Tensor operator<(const Tensor& a, const Scalar& b) { return lt(a, b); }
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return le(a, b); }
inline Tensor operator<=(const Tensor& a, const Scalar& b) { return le(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return gt(a, b); }
inline Tensor operator>(const Tensor& a, const Scalar& b) { return gt(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return ge(a, b); }
inline Tensor operator>=(const Tensor& a, const Scalar& b) { return ge(a, b); }
inline Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
inline Tensor& operator+=(Tensor& a, const Scalar& b) { return a.add_(b); }
inline Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
inline Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
inline Tensor& operator*=(Tensor& a, const Scalar& b) { return a.mul_(b); }
inline Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }

// True when both have the same shape and every |a - b| <= atol + rtol * |b| (NaNs unequal).
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
// True when both have the same shape, dtype and elements.
bool equal(const Tensor& a, const Tensor& b);

}  // namespace ember
