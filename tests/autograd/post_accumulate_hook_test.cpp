// Tensor::register_post_accumulate_grad_hook and autograd::queue_callback: the two engine
// hooks DistributedDataParallel's reducer is built on (torch 2.1's names).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ember/ember.h>

namespace ember {
namespace {

using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

TEST(PostAccumulateGradHook, SeesTheAccumulatedGrad) {
  Tensor w = randn({3}, f64()).requires_grad_();
  const std::vector<double> wv = w.to_vector<double>();
  std::vector<std::vector<double>> seen;
  w.register_post_accumulate_grad_hook([&](const Tensor& p) {
    EXPECT_TRUE(p.is_same(w));
    seen.push_back(p.grad().to_vector<double>());
  });
  (w * w).sum().backward();    // grad 2w
  (w * 3.0).sum().backward();  // grad 2w + 3
  ASSERT_EQ(seen.size(), 2u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(seen[0][i], 2 * wv[i]);
    EXPECT_DOUBLE_EQ(seen[1][i], 2 * wv[i] + 3);
  }
}

TEST(PostAccumulateGradHook, RunsAfterTheGradHooksAndOnlyForAccumulation) {
  Tensor w = randn({2}, f64()).requires_grad_();
  std::vector<std::string> order;
  w.register_hook([&](const Tensor& g) {
    order.push_back("grad");
    return g * 2.0;
  });
  const int64_t h = w.register_post_accumulate_grad_hook([&](const Tensor& p) {
    order.push_back("post");
    EXPECT_DOUBLE_EQ(p.grad().to_vector<double>()[0], 2.0);  // the hook's doubled grad
  });
  w.sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"grad", "post"}));
  // autograd::grad does not accumulate, so the hook does not run.
  autograd::grad({w.sum()}, {w});
  EXPECT_EQ(order.size(), 2u);
  w.remove_hook(h);
  w.sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"grad", "post", "grad"}));
}

TEST(PostAccumulateGradHook, RefusesNonLeavesAndTensorsWithoutGrad) {
  Tensor w = randn({2}, f64()).requires_grad_();
  try {
    (w * 2.0).register_post_accumulate_grad_hook([](const Tensor&) {});
    FAIL() << "a non-leaf took the hook";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("non-leaf"));
  }
  EXPECT_THROW(randn({2}).register_post_accumulate_grad_hook([](const Tensor&) {}), ValueError);
}

TEST(QueueCallback, RunsAfterEveryNodeInOrder) {
  Tensor a = randn({2}, f64()).requires_grad_();
  Tensor b = randn({2}, f64()).requires_grad_();
  std::vector<std::string> order;
  // a's gradient is ready first (b is used earlier in the graph, so its node runs last).
  a.register_post_accumulate_grad_hook([&](const Tensor&) {
    order.push_back("a");
    autograd::queue_callback([&] {
      order.push_back("cb1");
      EXPECT_TRUE(b.grad().defined());  // every gradient is written by then
      autograd::queue_callback([&] { order.push_back("cb2"); });
    });
  });
  b.register_post_accumulate_grad_hook([&](const Tensor&) { order.push_back("b"); });
  Tensor y = (b * 2.0).exp();
  ((y * y) * a).sum().backward();
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[2], "cb1");
  EXPECT_EQ(order[3], "cb2");
  // The callbacks of one pass do not leak into the next.
  order.clear();
  (b * 2.0).sum().backward();
  EXPECT_EQ(order, (std::vector<std::string>{"b"}));
}

TEST(QueueCallback, OutsideABackwardPassThrows) {
  try {
    autograd::queue_callback([] {});
    FAIL() << "queue_callback outside backward returned";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("outside a backward pass"));
  }
}

}  // namespace
}  // namespace ember
