// Layers and losses against plain-loop f64 references and hand-computed values, and
// through gradcheck.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using autograd::gradcheck;
using autograd::TensorList;

TensorOptions f64() { return {.dtype = DType::f64}; }

void expect_close(const Tensor& got, const std::vector<double>& want, double tol = 1e-9) {
  std::vector<double> g = got.to_vector<double>();
  ASSERT_EQ(g.size(), want.size());
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], want[i], tol * (1 + std::fabs(want[i]))) << "at " << i;
}

TEST(Linear, MatchesPlainLoops) {
  manual_seed(1);
  auto lin = Linear::make(5, 3);
  lin->to(DType::f64);
  Tensor x = randn({4, 5}, f64());
  std::vector<double> xv = x.to_vector<double>(), w = lin->weight.to_vector<double>(),
                      b = lin->bias.to_vector<double>();
  std::vector<double> want(12);
  for (int n = 0; n < 4; ++n)
    for (int o = 0; o < 3; ++o) {
      double s = b[o];
      for (int i = 0; i < 5; ++i) s += xv[n * 5 + i] * w[o * 5 + i];
      want[n * 3 + o] = s;
    }
  expect_close(lin->forward(x), want);
  EXPECT_EQ(lin->forward(randn({2, 7, 5}, f64())).sizes(), (Shape{2, 7, 3}));
  EXPECT_THROW(lin->forward(randn({4, 6}, f64())), ShapeError);
}

TEST(Linear, DefaultInitIsUniformWithinOneOverSqrtFanIn) {
  manual_seed(2);
  auto lin = Linear::make(100, 50);
  double bound = 1.0 / std::sqrt(100.0);
  for (double v : lin->weight.to_vector<double>()) EXPECT_LE(std::fabs(v), bound);
  for (double v : lin->bias.to_vector<double>()) EXPECT_LE(std::fabs(v), bound);
  // U(-b, b) has variance b^2 / 3.
  double var = lin->weight.to(DType::f64).var().item<double>();
  EXPECT_NEAR(var, bound * bound / 3.0, 0.1 * bound * bound / 3.0);
}

TEST(Linear, Gradcheck) {
  Tensor x = randn({3, 4}, f64()).requires_grad_();
  Tensor w = randn({2, 4}, f64()).requires_grad_();
  Tensor b = randn({2}, f64()).requires_grad_();
  auto r = gradcheck([](const TensorList& t) { return TensorList{F::linear(t[0], t[1], t[2])}; },
                     {x, w, b});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(Embedding, PicksRowsAndSkipsThePaddingRowsGradient) {
  auto emb = Embedding::make(6, 3, /*padding_idx=*/1);
  for (double v : emb->weight.narrow(0, 1, 1).to_vector<double>()) EXPECT_EQ(v, 0.0);
  Tensor idx = from_vector<int64_t>({4, 1, 4, 0}, {2, 2});
  Tensor out = emb->forward(idx);
  EXPECT_EQ(out.sizes(), (Shape{2, 2, 3}));
  EXPECT_TRUE(equal(out.select(0, 0).select(0, 0), emb->weight.select(0, 4)));
  (out * 2).sum().backward();
  std::vector<double> g = emb->weight.grad().to_vector<double>();
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(g[0 * 3 + d], 2.0);  // row 0 used once
    EXPECT_EQ(g[1 * 3 + d], 0.0);  // the padding row gets nothing
    EXPECT_EQ(g[4 * 3 + d], 4.0);  // row 4 used twice
    EXPECT_EQ(g[5 * 3 + d], 0.0);
  }
  EXPECT_THROW(emb->forward(from_vector<int64_t>({6})), IndexError);
  EXPECT_THROW(emb->forward(from_vector<float>({1})), DTypeError);
}

TEST(Embedding, Gradcheck) {
  Tensor w = randn({5, 3}, f64()).requires_grad_();
  Tensor idx = from_vector<int64_t>({0, 3, 3, 4});
  auto r =
      gradcheck([idx](const TensorList& t) { return TensorList{F::embedding(idx, t[0], 2)}; }, {w});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(LayerNorm, MatchesPlainLoopsAndGradcheck) {
  Tensor x = randn({2, 3, 4}, f64());
  Tensor w = randn({4}, f64()), b = randn({4}, f64());
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(),
                      bv = b.to_vector<double>(), want(24);
  for (int r = 0; r < 6; ++r) {
    double mu = 0, var = 0;
    for (int i = 0; i < 4; ++i) mu += xv[r * 4 + i] / 4;
    for (int i = 0; i < 4; ++i) var += (xv[r * 4 + i] - mu) * (xv[r * 4 + i] - mu) / 4;
    for (int i = 0; i < 4; ++i)
      want[r * 4 + i] = (xv[r * 4 + i] - mu) / std::sqrt(var + 1e-5) * wv[i] + bv[i];
  }
  expect_close(F::layer_norm(x, {4}, w, b), want);
  auto ln = LayerNorm::make({3, 4});
  EXPECT_EQ(ln->weight.sizes(), (Shape{3, 4}));
  EXPECT_THROW(ln->forward(randn({2, 4, 3})), ShapeError);
  auto r = gradcheck(
      [](const TensorList& t) { return TensorList{F::layer_norm(t[0], {3}, t[1], t[2])}; },
      {randn({2, 3}, f64()).requires_grad_(), randn({3}, f64()).requires_grad_(),
       randn({3}, f64()).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

// The fused layer norm, embedding and cross entropy primitives: double backward through
// their create_graph rules, and the sim kernels' gradients against the cpu's.
TEST(FusedNnPrimitives, DoubleBackward) {
  manual_seed(21);
  auto ln = [](const TensorList& t) { return TensorList{F::layer_norm(t[0], {2, 3}, t[1], t[2])}; };
  auto r = autograd::gradgradcheck(
      ln, {randn({4, 2, 3}, f64()).requires_grad_(), randn({2, 3}, f64()).requires_grad_(),
           randn({2, 3}, f64()).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
  Tensor idx = from_vector<int64_t>({0, 3, 3, 4, 2});
  auto emb = [idx](const TensorList& t) {
    return TensorList{F::embedding(idx, t[0], 1) * t[0].sum()};
  };
  r = autograd::gradgradcheck(emb, {randn({5, 3}, f64()).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
  Tensor target = from_vector<int64_t>({1, -100, 4, 0});
  Tensor cw = rand({5}, f64()) + 0.5;
  auto ce = [target, cw](const TensorList& t) {
    return TensorList{F::cross_entropy(t[0], target, {.weight = cw, .label_smoothing = 0.2})};
  };
  r = autograd::gradgradcheck(ce, {randn({4, 5}, f64()).requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(FusedNnPrimitives, SimGradientsMatchCpu) {
  if (!backend_available(DeviceType::sim)) GTEST_SKIP() << "no sim device";
  manual_seed(22);
  const Device sim = Device::sim();
  Tensor x = randn({3, 5, 6}, f64()), w = randn({6}, f64()), b = randn({6}, f64());
  Tensor table = randn({9, 6}, f64()), idx = randint(0, 9, {3, 5});
  Tensor target = randint(0, 6, {3, 5});
  auto run = [&](Device d) {
    auto leaf = [d](const Tensor& t) { return t.to(d).detach().requires_grad_(); };
    Tensor xd = leaf(x), wd = leaf(w), bd = leaf(b), td = leaf(table);
    Tensor h = F::layer_norm(xd, {6}, wd, bd) + F::embedding(idx.to(d), td, 2);  // (3, 5, 6)
    Tensor loss = F::cross_entropy(h.transpose(1, 2), target.to(d), {.label_smoothing = 0.1});
    loss.backward();
    return TensorList{loss, xd.grad(), wd.grad(), bd.grad(), td.grad()};
  };
  TensorList want = run(Device::cpu()), got = run(sim);
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].device(), sim);
    EXPECT_TRUE(allclose(got[i].cpu(), want[i], 1e-12, 1e-12)) << "output " << i;
  }
}

TEST(Dropout, TrainsAndEvaluates) {
  manual_seed(3);
  auto d = Dropout::make(0.25);
  Tensor x = ones({100000});
  Tensor y = d->forward(x);
  std::vector<double> v = y.to_vector<double>();
  int64_t zeros_count = 0;
  for (double e : v) {
    if (e == 0.0) {
      ++zeros_count;
    } else {
      EXPECT_NEAR(e, 1.0 / 0.75, 1e-6);
    }
  }
  EXPECT_NEAR(static_cast<double>(zeros_count) / 100000.0, 0.25, 0.01);
  d->eval();
  EXPECT_TRUE(d->forward(x).is_same(x));
  EXPECT_THROW(Dropout::make(1.5), ValueError);
}

TEST(Activations, MatchTheirFormulas) {
  Tensor x = from_vector<double>({-2.0, -0.5, 0.0, 0.7, 3.0});
  std::vector<double> xv = x.to_vector<double>(), relu_v, gelu_v, silu_v, tanh_v, sig_v;
  for (double v : xv) {
    relu_v.push_back(v > 0 ? v : 0);
    gelu_v.push_back(0.5 * v * (1 + std::erf(v / std::sqrt(2.0))));
    silu_v.push_back(v / (1 + std::exp(-v)));
    tanh_v.push_back(std::tanh(v));
    sig_v.push_back(1 / (1 + std::exp(-v)));
  }
  expect_close(ReLU().forward(x), relu_v);
  expect_close(GELU().forward(x), gelu_v);
  expect_close(SiLU().forward(x), silu_v);
  expect_close(Tanh().forward(x), tanh_v);
  expect_close(Sigmoid().forward(x), sig_v);
  EXPECT_EQ(Flatten().forward(randn({2, 3, 4})).sizes(), (Shape{2, 12}));
}

TEST(Init, FansGainsAndDistributions) {
  Tensor w = empty({64, 16, 3, 3});
  auto [fan_in, fan_out] = init::calculate_fan_in_and_fan_out(w);
  EXPECT_EQ(fan_in, 16 * 9);
  EXPECT_EQ(fan_out, 64 * 9);
  EXPECT_DOUBLE_EQ(init::calculate_gain("relu"), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain("tanh"), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain("leaky_relu", 0.2), std::sqrt(2.0 / 1.04));
  EXPECT_THROW(init::calculate_gain("nope"), ValueError);
  EXPECT_THROW(init::calculate_fan_in_and_fan_out(empty({3})), ShapeError);

  manual_seed(4);
  init::kaiming_normal_(w, 0.0, init::FanMode::fan_in, "relu");
  EXPECT_NEAR(w.std().item<double>(), std::sqrt(2.0 / 144.0), 0.03 * std::sqrt(2.0 / 144.0));
  init::xavier_uniform_(w);
  double bound = std::sqrt(6.0 / (144.0 + 576.0));
  EXPECT_LE(w.abs().max().item<double>(), bound);
  init::trunc_normal_(w, 0.0, 1.0, -0.5, 0.5);
  EXPECT_LE(w.abs().max().item<double>(), 0.5);
  init::constant_(w, 0.25);
  EXPECT_EQ(w.min().item<double>(), 0.25);
  Tensor p = randn({3}).requires_grad_();
  init::zeros_(p);  // works on parameters: no graph is recorded
  EXPECT_TRUE(p.is_leaf());
  EXPECT_EQ(p.abs().sum().item<double>(), 0.0);
}

// ---- losses ------------------------------------------------------------------------------

TEST(Losses, CrossEntropyByHand) {
  Tensor logits = from_vector<double>({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = from_vector<int64_t>({2, 0});
  double l0 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  double l1 = std::log(3.0);
  EXPECT_NEAR(F::cross_entropy(logits, target).item<double>(), (l0 + l1) / 2, 1e-12);
  EXPECT_NEAR(F::cross_entropy(logits, target, {.reduction = F::Reduction::sum}).item<double>(),
              l0 + l1, 1e-12);
  expect_close(F::cross_entropy(logits, target, {.reduction = F::Reduction::none}), {l0, l1});
  // Class weights: the mean divides by the weights of the targets.
  Tensor w = from_vector<double>({2.0, 1.0, 0.5});
  EXPECT_NEAR(F::cross_entropy(logits, target, {.weight = w}).item<double>(),
              (0.5 * l0 + 2.0 * l1) / 2.5, 1e-12);
  // ignore_index drops a row from the sum and the count.
  Tensor t2 = from_vector<int64_t>({2, -100});
  EXPECT_NEAR(F::cross_entropy(logits, t2).item<double>(), l0, 1e-12);
  // Label smoothing eps: (1 - eps) nll + eps / C * mean over rows of -sum_c logp_c.
  double eps = 0.1, lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)),
         lse1 = 1.0 + std::log(3.0);
  double smooth0 = 3 * lse0 - 6, smooth1 = 3 * lse1 - 3;
  double want = (1 - eps) * (l0 + l1) / 2 + eps / 3 * (smooth0 + smooth1) / 2;
  EXPECT_NEAR(F::cross_entropy(logits, target, {.label_smoothing = eps}).item<double>(), want,
              1e-12);
  // Probability targets.
  Tensor probs = from_vector<double>({0, 0, 1, 1, 0, 0}, {2, 3});
  EXPECT_NEAR(F::cross_entropy(logits, probs).item<double>(), (l0 + l1) / 2, 1e-12);
  EXPECT_THROW(F::cross_entropy(logits, from_vector<int64_t>({3, 0})), IndexError);
  EXPECT_THROW(F::cross_entropy(logits, from_vector<int64_t>({1, 0, 2})), ShapeError);
}

TEST(Losses, CrossEntropyOverTheSeedsTransposedOutput) {
  // The seed: out (N, T, C) from the decoder, loss over out.transpose(1, 2) = (N, C, T).
  manual_seed(5);
  Tensor out = randn({2, 4, 5}, f64());
  Tensor target = randint(0, 5, {2, 4});
  double got = F::cross_entropy(out.transpose(1, 2), target).item<double>();
  std::vector<double> o = out.to_vector<double>();
  std::vector<int64_t> t = target.to_vector<int64_t>();
  double sum = 0;
  for (int n = 0; n < 2; ++n)
    for (int s = 0; s < 4; ++s) {
      const double* row = &o[static_cast<size_t>((n * 4 + s) * 5)];
      double mx = *std::max_element(row, row + 5), z = 0;
      for (int c = 0; c < 5; ++c) z += std::exp(row[c] - mx);
      sum += -(row[t[static_cast<size_t>(n * 4 + s)]] - mx - std::log(z));
    }
  EXPECT_NEAR(got, sum / 8, 1e-12);
}

TEST(Losses, CrossEntropyGradcheck) {
  Tensor target = from_vector<int64_t>({1, 0, 2, -100});
  Tensor w = from_vector<double>({1.0, 2.0, 0.5});
  auto f = [&](const TensorList& t) {
    return TensorList{F::cross_entropy(t[0], target, {.weight = w, .label_smoothing = 0.2}),
                      F::cross_entropy(t[0], target, {.reduction = F::Reduction::none})};
  };
  Tensor x = randn({4, 3}, f64()).requires_grad_();
  auto r = gradcheck(f, {x});
  EXPECT_TRUE(r.ok) << r.message;
  // The fused kernel's backward has a differentiable twin for create_graph.
  auto rr = autograd::gradgradcheck(f, {x});
  EXPECT_TRUE(rr.ok) << rr.message;
  // The fused rows equal log_softmax followed by the gather-based NLL.
  Tensor fused = F::cross_entropy(x, target, {.weight = w, .reduction = F::Reduction::sum});
  Tensor composite =
      F::nll_loss(log_softmax(x, 1), target, {.weight = w, .reduction = F::Reduction::sum});
  EXPECT_NEAR(fused.item<double>(), composite.item<double>(), 1e-12);
}

TEST(Losses, NllMseL1AndBceByHand) {
  Tensor logp = from_vector<double>({-0.1, -2.0, -1.5, -0.3}, {2, 2});
  EXPECT_NEAR(F::nll_loss(logp, from_vector<int64_t>({0, 1})).item<double>(), (0.1 + 0.3) / 2,
              1e-12);
  Tensor a = from_vector<double>({1, 2, 3}), b = from_vector<double>({1.5, 0, 3});
  EXPECT_NEAR(F::mse_loss(a, b).item<double>(), (0.25 + 4) / 3, 1e-12);
  EXPECT_NEAR(F::l1_loss(a, b, F::Reduction::sum).item<double>(), 2.5, 1e-12);
  EXPECT_THROW(F::mse_loss(a, ones({2}, f64())), ShapeError);
  Tensor x = from_vector<double>({0.5, -1.0, 30.0}), y = from_vector<double>({1, 0, 0});
  auto bce = [](double xi, double yi, double pw) {
    double s = 1 / (1 + std::exp(-xi));
    return -(pw * yi * std::log(s) + (1 - yi) * std::log(1 - s));
  };
  EXPECT_NEAR(F::binary_cross_entropy_with_logits(x, y).item<double>(),
              (bce(0.5, 1, 1) + bce(-1.0, 0, 1) + 30.0) / 3, 1e-9);  // log(1 - sigmoid(30)) ~ -30
  Tensor pw = from_vector<double>({3.0});
  EXPECT_NEAR(
      F::binary_cross_entropy_with_logits(x.narrow(0, 0, 2), y.narrow(0, 0, 2), {.pos_weight = pw})
          .item<double>(),
      (bce(0.5, 1, 3) + bce(-1.0, 0, 3)) / 2, 1e-12);
  auto r = gradcheck(
      [&](const TensorList& t) {
        return TensorList{F::binary_cross_entropy_with_logits(t[0], y, {.pos_weight = pw}),
                          F::mse_loss(t[0], y), F::l1_loss(t[0], y)};
      },
      {x.detach().clone().requires_grad_()});
  EXPECT_TRUE(r.ok) << r.message;
}

// ---- attention ---------------------------------------------------------------------------

TEST(MultiheadAttention, MatchesExplicitComputation) {
  manual_seed(6);
  auto mha = MultiheadAttention::make(8, 2, {.batch_first = true});
  mha->to(DType::f64);
  Tensor x = randn({3, 5, 8}, f64());
  Tensor pad = from_vector<bool>({false, false, false, true, true, false, false, false, false,
                                  false, false, true, false, false, false},
                                 {3, 5});
  auto [out, weights] = mha->forward(x, x, x, {.key_padding_mask = pad});
  EXPECT_EQ(out.sizes(), (Shape{3, 5, 8}));
  EXPECT_EQ(weights.sizes(), (Shape{3, 5, 5}));
  // Weights are a distribution over keys and ignore padded ones.
  std::vector<double> w = weights.to_vector<double>();
  for (int n = 0; n < 3; ++n)
    for (int l = 0; l < 5; ++l) {
      double s = 0;
      for (int k = 0; k < 5; ++k) s += w[static_cast<size_t>((n * 5 + l) * 5 + k)];
      EXPECT_NEAR(s, 1.0, 1e-12);
    }
  EXPECT_EQ(w[3], 0.0);
  EXPECT_EQ(w[2 * 25 + 1], 0.0);
  // The same through explicit projections and per-head matmul-softmax-matmul.
  Tensor W = mha->in_proj_weight, B = mha->in_proj_bias;
  auto proj = [&](int i) {
    return F::linear(x, W.narrow(0, i * 8, 8), B.narrow(0, i * 8, 8))
        .reshape({3, 5, 2, 4})
        .transpose(1, 2);
  };
  Tensor q = proj(0), k = proj(1), v = proj(2);
  Tensor mask = where(pad, full({}, -INFINITY, f64()), zeros({}, f64())).reshape({3, 1, 1, 5});
  Tensor att = softmax(q.matmul(k.transpose(-2, -1)) / 2.0 + mask, -1)
                   .matmul(v)
                   .transpose(1, 2)
                   .reshape({3, 5, 8});
  Tensor want = mha->out_proj->forward(att);
  EXPECT_TRUE(allclose(out, want, 1e-10, 1e-10));
  // The fused path (no weights) gives the same output.
  auto [fast, none] = mha->forward(x, x, x, {.key_padding_mask = pad, .need_weights = false});
  EXPECT_FALSE(none.defined());
  EXPECT_TRUE(allclose(fast, want, 1e-10, 1e-10));
}

// In training, the fused path's dropout is scaled_dot_product_attention's: with the same
// generator state, the module's output is sdpa's on the same projections; in eval, none.
TEST(MultiheadAttention, TrainingDropoutIsSdpaDropout) {
  manual_seed(7);
  auto mha = MultiheadAttention::make(8, 2, {.dropout = 0.5, .batch_first = true});
  mha->to(DType::f64);
  Tensor x = randn({2, 6, 8}, f64());
  Tensor W = mha->in_proj_weight, B = mha->in_proj_bias;
  auto proj = [&](int i) {
    return F::linear(x, W.narrow(0, i * 8, 8), B.narrow(0, i * 8, 8))
        .reshape({2, 6, 2, 4})
        .transpose(1, 2);
  };
  auto through_sdpa = [&](double p) {
    Tensor att = scaled_dot_product_attention(proj(0), proj(1), proj(2), Tensor(), p);
    return mha->out_proj->forward(att.transpose(1, 2).reshape({2, 6, 8}));
  };
  mha->train();
  manual_seed(70);
  auto [train_out, w1] = mha->forward(x, x, x, {.need_weights = false});
  manual_seed(70);
  EXPECT_TRUE(allclose(train_out, through_sdpa(0.5), 1e-10, 1e-10));
  EXPECT_FALSE(allclose(train_out, through_sdpa(0.0), 1e-3, 1e-3));  // something was dropped
  mha->eval();
  auto [eval_out, w2] = mha->forward(x, x, x, {.need_weights = false});
  EXPECT_TRUE(allclose(eval_out, through_sdpa(0.0), 1e-10, 1e-10));
}

TEST(MultiheadAttention, NamesShapesAndGradcheck) {
  auto mha = MultiheadAttention::make(4, 2);
  std::vector<std::string> keys = mha->state_dict().keys();
  EXPECT_EQ(keys, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                            "out_proj.bias"}));
  EXPECT_THROW(MultiheadAttention::make(5, 2), ValueError);
  mha->to(DType::f64);
  Tensor x = randn({3, 2, 4}, f64()).requires_grad_();  // (L, N, E)
  auto r = gradcheck(
      [&](const TensorList& t) {
        return TensorList{std::get<0>(mha->forward(t[0], t[0], t[0], {.is_causal = true}))};
      },
      {x});
  EXPECT_TRUE(r.ok) << r.message;
}

}  // namespace
}  // namespace ember::nn
