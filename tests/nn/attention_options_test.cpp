// MultiheadAttention's remaining torch arguments (issue 15): kdim/vdim (separate
// q/k/v_proj_weight), add_bias_kv (bias_k, bias_v), add_zero_attn, against attention
// written out in f64 with masks; torch's key order; is_causal against the explicit mask.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }
constexpr double kInf = std::numeric_limits<double>::infinity();

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-10) {
  ASSERT_EQ(got.sizes(), want.sizes());
  std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], tol * (1 + std::fabs(w[i]))) << "at " << i;
}

TEST(MultiheadAttentionOptions, KeysInTorchsOrder) {
  auto same = MultiheadAttention::make(8, 2, {.add_bias_kv = true});
  EXPECT_THAT(same->state_dict().keys(), ElementsAre("in_proj_weight", "in_proj_bias", "bias_k",
                                                     "bias_v", "out_proj.weight", "out_proj.bias"));
  auto sep = MultiheadAttention::make(8, 2, {.kdim = 6, .vdim = 5});
  EXPECT_THAT(sep->state_dict().keys(),
              ElementsAre("q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                          "out_proj.weight", "out_proj.bias"));
  EXPECT_EQ(sep->k_proj_weight.sizes(), (Shape{8, 6}));
  EXPECT_EQ(sep->v_proj_weight.sizes(), (Shape{8, 5}));
  EXPECT_FALSE(sep->in_proj_weight.defined());
  EXPECT_EQ(same->bias_k.sizes(), (Shape{1, 1, 8}));
}

// kdim/vdim, bias_k/bias_v and the zero key together, with a key padding mask and an
// attention mask, both need_weights paths, batch_first both ways.
TEST(MultiheadAttentionOptions, MatchesExplicitAttention) {
  manual_seed(7);
  const int64_t N = 2, L = 3, S0 = 4, E = 8, H = 2, D = 4, KD = 6, VD = 5;
  for (bool batch_first : {false, true}) {
    auto mha = MultiheadAttention::make(E, H,
                                        {.batch_first = batch_first,
                                         .add_bias_kv = true,
                                         .add_zero_attn = true,
                                         .kdim = KD,
                                         .vdim = VD});
    mha->to(DType::f64);
    {
      NoGradGuard ng;
      mha->in_proj_bias.copy_(randn({3 * E}, f64()));
    }
    Tensor q = randn({N, L, E}, f64()), k = randn({N, S0, KD}, f64()),
           v = randn({N, S0, VD}, f64());
    Tensor am = randn({L, S0}, f64());
    Tensor kpm = from_vector<double>({0, 0, 0, 1, 0, 1, 0, 0}, {N, S0}) > 0.5;
    // Reference: keys S0 projected, then bias_k, then zero; masks get zero columns.
    auto proj = [&](const Tensor& x, const Tensor& w, int64_t i) {
      return x.matmul(w.transpose(0, 1)) + mha->in_proj_bias.narrow(0, i * E, E);
    };
    Tensor kp = cat(
        {proj(k, mha->k_proj_weight, 1), mha->bias_k.expand({N, 1, E}), zeros({N, 1, E}, f64())},
        1);  // (N, S0 + 2, E)
    Tensor vp = cat(
        {proj(v, mha->v_proj_weight, 2), mha->bias_v.expand({N, 1, E}), zeros({N, 1, E}, f64())},
        1);
    auto heads = [&](const Tensor& x) { return x.reshape({N, x.size(1), H, D}).transpose(1, 2); };
    Tensor add =
        cat({am, zeros({L, 2}, f64())}, 1).reshape({1, 1, L, S0 + 2}) +
        cat({where(kpm, full({}, -kInf, f64()), zeros({}, f64())), zeros({N, 2}, f64())}, 1)
            .reshape({N, 1, 1, S0 + 2});
    Tensor s = heads(proj(q, mha->q_proj_weight, 0)).matmul(heads(kp).transpose(-2, -1)) /
                   std::sqrt(static_cast<double>(D)) +
               add;
    Tensor w = softmax(s, -1);  // (N, H, L, S0 + 2)
    Tensor o = w.matmul(heads(vp)).transpose(1, 2).reshape({N, L, E});
    o = o.matmul(mha->out_proj->weight.transpose(0, 1)) + mha->out_proj->bias;  // (N, L, E)
    auto layout = [&](const Tensor& t) { return batch_first ? t : t.transpose(0, 1); };
    for (bool need_weights : {false, true}) {
      SCOPED_TRACE(std::string("batch_first=") + (batch_first ? "1" : "0") +
                   " need_weights=" + (need_weights ? "1" : "0"));
      auto [out, weights] =
          mha->forward(layout(q), layout(k), layout(v),
                       {.key_padding_mask = kpm, .need_weights = need_weights, .attn_mask = am});
      expect_close(layout(out), o);
      if (need_weights) expect_close(weights, w.mean({1}));  // averaged over heads
    }
  }
}

// is_causal is the explicit -inf-above-the-diagonal mask.
TEST(MultiheadAttentionOptions, IsCausalIsTheCausalMask) {
  manual_seed(8);
  auto mha = MultiheadAttention::make(8, 2);
  mha->to(DType::f64);
  Tensor x = randn({3, 2, 8}, f64());
  Tensor causal = triu(full({3, 3}, -kInf, f64()), 1);
  for (bool need_weights : {false, true}) {
    auto a = std::get<0>(mha->forward(x, x, x, {.need_weights = need_weights, .is_causal = true}));
    auto b =
        std::get<0>(mha->forward(x, x, x, {.need_weights = need_weights, .attn_mask = causal}));
    expect_close(a, b);
  }
}

TEST(MultiheadAttentionOptions, ErrorsNameTheWidths) {
  auto mha = MultiheadAttention::make(8, 2, {.kdim = 6, .vdim = 5});
  try {
    mha->forward(randn({3, 1, 8}), randn({4, 1, 8}), randn({4, 1, 5}));
    FAIL() << "a key of width 8 for kdim 6";
  } catch (const ShapeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("MultiheadAttention"));
    EXPECT_THAT(e.what(), HasSubstr("E=6"));
  }
  EXPECT_THROW(MultiheadAttention::make(8, 2, {.kdim = -1}), ValueError);
}

}  // namespace
}  // namespace ember::nn
