// The seed's Example 2 attention block keeps its explicit matmul -> softmax -> matmul; on
// the same projections it equals scaled_dot_product_attention (forward and gradients), on
// the cpu and on sim.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include <ember/ember.h>

#include "examples/seed_models.h"

namespace ember {
namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.cpu() - b.cpu()).abs().max().item<double>();
}

TEST(SeedExample2, AttentionBlockEqualsScaledDotProductAttention) {
  for (Device dev : {Device::cpu(), Device::sim()}) {
    if (!backend_available(dev.type)) continue;
    manual_seed(8);
    auto block = std::make_shared<seed::AttentionBlock>(32);
    block->to(dev);
    Tensor x = randn({2, 5, 32}, {.device = dev});  // (N, L, D): two sequences of 5 rows
    Tensor explicit_out = block->forward(x);
    Tensor q = block->query->forward(x), k = block->key->forward(x), v = block->value->forward(x);
    Tensor fused = scaled_dot_product_attention(q, k, v);
    ASSERT_EQ(fused.sizes(), explicit_out.sizes());
    EXPECT_LT(max_abs_diff(fused, explicit_out), 1e-5) << dev;
    // Their gradients for the block's parameters agree too.
    Tensor g = randn(fused.sizes(), {.device = dev});
    auto params = block->parameters();
    std::vector<Tensor> ge = autograd::grad({explicit_out}, params, {g});
    std::vector<Tensor> gf = autograd::grad({fused}, params, {g});
    ASSERT_EQ(ge.size(), gf.size());
    for (size_t i = 0; i < ge.size(); ++i)
      EXPECT_LT(max_abs_diff(ge[i], gf[i]), 1e-4) << dev << " parameter " << i;
  }
}

}  // namespace
}  // namespace ember
