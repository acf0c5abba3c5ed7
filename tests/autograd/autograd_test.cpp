// Behaviour of the graph and the engine: accumulation, retain_graph, no_grad, detach,
// hooks, version counters, autograd::grad, in-place rebasing, and graph lifetime.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include <ember/ember.h>

namespace ember {
namespace {

using autograd::TensorList;
using ::testing::HasSubstr;

TensorOptions f64() { return {.dtype = DType::f64}; }

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

TEST(Autograd, LeafAndNonLeaf) {
  Tensor x = randn({3}, f64()).requires_grad_();
  Tensor y = x * 2;
  EXPECT_TRUE(x.is_leaf());
  EXPECT_TRUE(x.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "MulBackward");
  Tensor z = randn({3}, f64()) * 2;  // nothing requires grad: no graph
  EXPECT_TRUE(z.is_leaf());
  EXPECT_FALSE(z.requires_grad());
}

TEST(Autograd, GradientsAccumulateIntoLeaves) {
  Tensor x = from_vector<double>({1, 2, 3}).requires_grad_();
  (x * 3).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{3, 3, 3}));
  (x * x).sum().backward();  // adds 2x
  EXPECT_EQ(values(x.grad()), (std::vector<double>{5, 7, 9}));
}

TEST(Autograd, SharedInputsSumTheirPaths) {
  Tensor x = from_vector<double>({2}).requires_grad_();
  Tensor y = x * x + x * 3 + exp(x * 0);  // dy/dx = 2x + 3
  y.sum().backward();
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 7.0);
}

TEST(Autograd, BackwardNeedsAGradientForNonScalars) {
  Tensor x = randn({2, 2}, f64()).requires_grad_();
  Tensor y = x * 2;
  EXPECT_THAT([&] { y.backward(); }, ::testing::ThrowsMessage<ValueError>(HasSubstr("scalar")));
  y.backward(ones({2, 2}, f64()));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 2, 2, 2}));
  EXPECT_THROW(y.backward(ones({3}, f64())), ShapeError);
}

TEST(Autograd, BackwardTwiceNeedsRetainGraph) {
  Tensor x = randn({3}, f64()).requires_grad_();
  Tensor loss = (exp(x) * x).sum();
  loss.backward({}, /*retain_graph=*/true);
  std::vector<double> first = values(x.grad());
  loss.backward();  // allowed: the graph was retained
  std::vector<double> twice = values(x.grad());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_NEAR(twice[i], 2 * first[i], 1e-12);
  EXPECT_THAT([&] { loss.backward(); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("a second time")));
}

TEST(Autograd, NoGradGuardStopsRecording) {
  Tensor x = randn({3}, f64()).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = x * 2;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    { NoGradGuard nested; }
    EXPECT_FALSE((x + 1).requires_grad());  // still off after the nested guard
  }
  EXPECT_TRUE((x * 2).requires_grad());
}

TEST(Autograd, NoGradIsPerThread) {
  Tensor x = randn({3}, f64()).requires_grad_();
  NoGradGuard guard;
  bool other_thread_records = false;
  std::thread t([&] { other_thread_records = (x * 2).requires_grad(); });
  t.join();
  EXPECT_TRUE(other_thread_records);
  EXPECT_FALSE((x * 2).requires_grad());
}

TEST(Autograd, DetachCutsTheGraphAndSharesStorage) {
  Tensor x = from_vector<double>({1, 2}).requires_grad_();
  Tensor d = (x * 2).detach();
  EXPECT_FALSE(d.requires_grad());
  Tensor y = (x * d).sum();  // d is a constant here
  y.backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{2, 4}));
  Tensor v = x.detach();
  EXPECT_EQ(v.storage(), x.storage());
}

TEST(Autograd, LeafHookSeesAndReplacesTheGradient) {
  Tensor x = from_vector<double>({1, 2}).requires_grad_();
  std::vector<double> seen;
  int64_t h = x.register_hook([&](const Tensor& g) {
    seen = values(g);
    return g * 10;
  });
  (x * 3).sum().backward();
  EXPECT_EQ(seen, (std::vector<double>{3, 3}));
  EXPECT_EQ(values(x.grad()), (std::vector<double>{30, 30}));
  x.remove_hook(h);
  x.grad().zero_();
  (x * 3).sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{3, 3}));
}

TEST(Autograd, NonLeafHookAndRetainGrad) {
  Tensor x = from_vector<double>({1, 2}).requires_grad_();
  Tensor y = x * x;
  y.retain_grad();
  int calls = 0;
  y.register_hook([&](const Tensor& g) {
    ++calls;
    return g * 2;
  });
  (y * 5).sum().backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(values(x.grad()), (std::vector<double>{20, 40}));  // 2 * 5 * 2x
  ASSERT_TRUE(y.grad().defined());
  EXPECT_EQ(values(y.grad()).size(), 2u);
}

TEST(Autograd, GradFunctionDoesNotTouchDotGrad) {
  Tensor x = from_vector<double>({1, 2, 3}).requires_grad_();
  Tensor w = from_vector<double>({4, 5, 6}).requires_grad_();
  Tensor y = (x * w).sum();
  TensorList g = autograd::grad({y}, {x, w});
  EXPECT_EQ(values(g[0]), (std::vector<double>{4, 5, 6}));
  EXPECT_EQ(values(g[1]), (std::vector<double>{1, 2, 3}));
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, GradReportsUnusedInputs) {
  Tensor x = randn({2}, f64()).requires_grad_();
  Tensor unused = randn({2}, f64()).requires_grad_();
  Tensor y = (x * 2).sum();
  EXPECT_THAT([&] { autograd::grad({y}, {unused}, {}, true); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("not used")));
  TensorList g = autograd::grad({y}, {x, unused}, {}, true, false, /*allow_unused=*/true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
  EXPECT_THROW(autograd::grad({y}, {randn({2}, f64())}), ValueError);  // needs requires_grad
}

TEST(Autograd, DoubleBackwardThroughGrad) {
  // y = x^3: dy/dx = 3x^2, d2y/dx2 = 6x.
  Tensor x = from_vector<double>({2.0}).requires_grad_();
  Tensor y = pow(x, 3).sum();
  TensorList g = autograd::grad({y}, {x}, {}, {}, /*create_graph=*/true);
  EXPECT_DOUBLE_EQ(g[0].item<double>(), 12.0);
  EXPECT_TRUE(g[0].requires_grad());
  TensorList gg = autograd::grad({g[0].sum()}, {x});
  EXPECT_DOUBLE_EQ(gg[0].item<double>(), 12.0);
}

TEST(Autograd, DoubleBackwardThroughSavedOutputs) {
  // exp saves its output; create_graph must reconnect it: d2/dx2 exp(x) = exp(x).
  Tensor x = from_vector<double>({0.5}).requires_grad_();
  TensorList g = autograd::grad({exp(x).sum()}, {x}, {}, {}, true);
  TensorList gg = autograd::grad({g[0].sum()}, {x});
  EXPECT_NEAR(gg[0].item<double>(), std::exp(0.5), 1e-12);
}

TEST(Autograd, ModifiedSavedTensorIsAnError) {
  Tensor x = randn({3}, f64()).requires_grad_();
  Tensor a = x * 1;  // non-leaf
  Tensor y = a * a;  // saves a
  a.mul_(2);         // bumps the version of a's storage
  EXPECT_THAT([&] { y.sum().backward(); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("MulBackward")));
}

TEST(Autograd, InPlaceOnViewsBumpsTheSharedVersion) {
  Tensor x = randn({4}, f64());
  Tensor v = x.narrow(0, 1, 2);
  uint32_t before = x.version();
  v.add_(1.0);
  EXPECT_EQ(x.version(), before + 1);
  EXPECT_EQ(v.version(), x.version());
  x.fill_(0);
  x.zero_();
  x.copy_(ones({4}, f64()));
  EXPECT_EQ(x.version(), before + 4);
}

TEST(Autograd, InPlaceOnALeafThatRequiresGradIsRefused) {
  Tensor x = randn({3}, f64()).requires_grad_();
  EXPECT_THAT([&] { x.add_(1.0); }, ::testing::ThrowsMessage<ValueError>(HasSubstr("add_")));
  {
    NoGradGuard guard;  // optimizers update parameters this way
    x.add_(1.0);
  }
}

TEST(Autograd, InPlaceOnANonLeafRebasesItsHistory) {
  Tensor x = from_vector<double>({1, 2}).requires_grad_();
  Tensor y = x * 3;  // dy/dx = 3
  y.mul_(x);         // y = 3x * x: dy/dx = 6x
  y.add_(x);         // + x: 6x + 1
  y.sum().backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{7, 13}));
}

TEST(Autograd, BroadcastGradientsReduceToInputShapes) {
  Tensor a = randn({3, 1}, f64()).requires_grad_();
  Tensor b = randn({4}, f64()).requires_grad_();
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().sizes(), (Shape{3, 1}));
  EXPECT_EQ(b.grad().sizes(), (Shape{4}));
  double bsum = b.sum().item<double>();
  for (double v : values(a.grad())) EXPECT_NEAR(v, bsum, 1e-12);
}

// SliceBackward zeroes only the complement of a step-1 slice (issue 19): the gradient is g
// in the slice and exactly 0 elsewhere even where freed memory held NaN before.
TEST(Autograd, SliceGradientIsZeroOutsideTheSlice) {
  struct Case {
    int64_t dim, start, end, step;
  };
  for (const Case& c : {Case{2, 4, 8, 1}, Case{2, 0, 4, 1}, Case{2, 8, 12, 1}, Case{0, 1, 2, 1},
                        Case{1, 1, 5, 2}, Case{2, 5, 5, 1}}) {
    for (int i = 0; i < 4; ++i) (void)full({3, 5, 12}, std::nan(""), f64());  // poison the pool
    Tensor x = randn({3, 5, 12}, f64()).requires_grad_();
    Tensor y = x.slice(c.dim, c.start, c.end, c.step);
    Tensor g = randn(y.sizes(), f64());
    y.backward(g);
    std::vector<double> got = values(x.grad());
    Tensor w = zeros({3, 5, 12}, f64());
    w.slice(c.dim, c.start, c.end, c.step).copy_(g);
    EXPECT_EQ(got, values(w)) << "slice(" << c.dim << ", " << c.start << ", " << c.end << ", "
                              << c.step << ")";
  }
  // The pieces of a split each give their part; together they add up to the full gradient.
  Tensor x = randn({2, 3, 12}, f64()).requires_grad_();
  std::vector<Tensor> qkv = x.split(4, -1);
  Tensor g = randn({2, 3, 12}, f64());
  (qkv[0] * g.slice(2, 0, 4) + qkv[1] * g.slice(2, 4, 8) + qkv[2] * g.slice(2, 8, 12))
      .sum()
      .backward();
  EXPECT_EQ(values(x.grad()), values(g));
}

TEST(Autograd, SplitIsOneNodeWhoseUnusedPiecesGetZeros) {
  Tensor x = randn({3, 10}, f64()).requires_grad_();
  std::vector<Tensor> parts = x.split({4, 0, 3, 3}, 1);
  ASSERT_EQ(parts.size(), 4u);
  for (const Tensor& p : parts) {
    ASSERT_TRUE(p.grad_fn());
    EXPECT_EQ(p.grad_fn().get(), parts[0].grad_fn().get());
    EXPECT_EQ(p.grad_fn()->name(), "SplitWithSizesBackward");
  }
  // Only the third piece is used: the others' places in dx are zeros.
  Tensor g = randn({3, 3}, f64());
  (parts[2] * g).sum().backward();
  Tensor want = zeros({3, 10}, f64());
  want.slice(1, 4, 7).copy_(g);
  EXPECT_EQ(values(x.grad()), values(want));
  // A piece is a view of x: writing into it in place while it needs grad is refused.
  Tensor y = randn({2, 6}, f64()).requires_grad_() * 1.0;
  std::vector<Tensor> halves = y.chunk(2, 1);
  EXPECT_THROW(halves[0].mul_(2.0), Error);
}

TEST(Autograd, MixedDtypesGiveGradientsInEachInputsDtype) {
  Tensor a = randn({2}).requires_grad_();         // f32
  Tensor b = randn({2}, f64()).requires_grad_();  // f64
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().dtype(), DType::f32);
  EXPECT_EQ(b.grad().dtype(), DType::f64);
}

TEST(Autograd, GraphIsFreedAfterBackward) {
  int64_t storages = Storage::live_count();
  int64_t bytes = Storage::live_bytes();
  for (int i = 0; i < 1000; ++i) {
    Tensor w = randn({8, 8}, f64()).requires_grad_();
    Tensor x = randn({4, 8}, f64());
    Tensor loss = (x.matmul(w).tanh().softmax(1) * 3).sum();
    loss.backward();
  }
  EXPECT_EQ(Storage::live_count(), storages);
  EXPECT_EQ(Storage::live_bytes(), bytes);
}

TEST(Autograd, HeldLossKeepsNoSavedTensorsAfterBackward) {
  Tensor w = randn({64, 64}, f64()).requires_grad_();
  int64_t before = Storage::live_bytes();
  Tensor loss = w.matmul(w).exp().sum();
  loss.backward();
  w.set_grad(Tensor());
  // loss itself (8 bytes) may stay alive; the matmul and exp results must not.
  EXPECT_LE(Storage::live_bytes() - before, 64);
}

TEST(Autograd, RequiresGradOnlyForFloatingTensors) {
  EXPECT_THROW(arange(3).requires_grad_(), DTypeError);
  Tensor x = randn({2}, f64()).requires_grad_();
  EXPECT_THROW((x * 2).requires_grad_(), ValueError);
}

TEST(Autograd, PrintShowsGradFn) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_THAT(x.to_string(), HasSubstr("requires_grad=True"));
  EXPECT_THAT((x * 2).to_string(), HasSubstr("grad_fn=<MulBackward>"));
}

// AccumulateGrad keeps a gradient nothing else holds instead of copying it, and copies
// one that is shared (the same tensor flowing to two leaves, one a hook's caller keeps).
TEST(Autograd, AnUnsharedLeafGradientIsTakenNotCopied) {
  Tensor x = randn({256, 64}).requires_grad_();
  const void* seen = nullptr;
  x.register_hook([&](const Tensor& g) {
    seen = g.raw_data();
    return Tensor();
  });
  (x * 3.0f).sum().backward();
  EXPECT_EQ(x.grad().raw_data(), seen);
  EXPECT_TRUE(allclose(x.grad(), full({256, 64}, 3.0f)));
}

TEST(Autograd, ASharedGradientIsCopiedForEachLeaf) {
  Tensor a = randn({5}).requires_grad_(), b = randn({5}).requires_grad_();
  (a + b).sum().backward();  // AddBackward hands the same tensor to both leaves
  EXPECT_NE(a.grad().raw_data(), b.grad().raw_data());
  a.grad().mul_(10.0f);
  EXPECT_TRUE(allclose(b.grad(), ones({5})));
  Tensor kept;
  Tensor c = randn({5}).requires_grad_();
  c.register_hook([&](const Tensor& g) {
    kept = g * 1.0f;
    return kept;  // the caller keeps it: the leaf's gradient must be another tensor
  });
  (c * 2.0f).sum().backward();
  EXPECT_NE(c.grad().raw_data(), kept.raw_data());
  kept.fill_(0.0f);
  EXPECT_TRUE(allclose(c.grad(), full({5}, 2.0f)));
}

TEST(Autograd, LinearWeightGradientComesOutContiguousWithoutACopy) {
  Tensor x = randn({8, 300}), w = randn({40, 300}).requires_grad_();
  Tensor y = x.matmul(w.t());
  const void* seen = nullptr;
  w.register_hook([&](const Tensor& g) {
    seen = g.raw_data();
    return Tensor();
  });
  y.sum().backward();
  EXPECT_TRUE(w.grad().is_contiguous());
  EXPECT_EQ(w.grad().raw_data(), seen);
  EXPECT_TRUE(allclose(w.grad(), ones({8, 40}).t().matmul(x), 1e-4, 1e-4));
}

}  // namespace
}  // namespace ember
