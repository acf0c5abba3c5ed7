// autocast (issue 16): the guard's per-thread, per-device state, the op policy (the dtype
// each op returns inside the guard), gradients reaching f32 leaves, the weight cast cache,
// and a small MLP under bf16 autocast against its f32 run.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "autograd/autocast.h"
#include "autograd/autocast_policy.h"
#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "nn/layers.h"
#include "nn/rnn.h"
#include "tensor/ops.h"

namespace ember {
namespace {

namespace F = nn::functional;
using ::testing::HasSubstr;

Tensor rand_leaf(const Shape& shape, Device device = Device::cpu()) {
  return randn(shape, {.device = device}).requires_grad_();
}

// max |a - b| / max |b|, both read as f64.
double rel_err(const Tensor& a, const Tensor& b) {
  Tensor d = (a.to(DType::f64) - b.to(DType::f64)).abs().max();
  return d.item<double>() / b.to(DType::f64).abs().max().item<double>();
}

// ---- state -----------------------------------------------------------------------------

TEST(AutocastState, DefaultsAreTorchs) {
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
  EXPECT_FALSE(is_autocast_enabled(DeviceType::sim));
  EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::bf16);
  EXPECT_EQ(get_autocast_dtype(DeviceType::cuda), DType::f16);
  EXPECT_EQ(get_autocast_dtype(DeviceType::sim), DType::f16);
}

TEST(AutocastState, GuardsNestAndRestore) {
  {
    autocast outer(DeviceType::cpu, DType::f16);
    EXPECT_TRUE(is_autocast_enabled(DeviceType::cpu));
    EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::f16);
    EXPECT_FALSE(is_autocast_enabled(DeviceType::sim));  // per device type
    {
      autocast off(DeviceType::cpu, std::nullopt, /*enabled=*/false);
      EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
      EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::f16);  // nullopt keeps it
      {
        autocast inner(DeviceType::cpu, DType::bf16);
        EXPECT_TRUE(is_autocast_enabled(DeviceType::cpu));
        EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::bf16);
      }
      EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
      EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::f16);
    }
    EXPECT_TRUE(is_autocast_enabled(DeviceType::cpu));
  }
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
  EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::bf16);
}

TEST(AutocastState, RefusesNonHalfDtypes) {
  try {
    autocast guard(DeviceType::cpu, DType::f64);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("autocast"));
    EXPECT_THAT(e.what(), HasSubstr("f64"));
  }
  EXPECT_FALSE(is_autocast_enabled(DeviceType::cpu));
  EXPECT_THROW(set_autocast_dtype(DeviceType::cpu, DType::i64), ValueError);
}

TEST(AutocastState, IsThreadLocal) {
  autocast guard(DeviceType::cpu, DType::bf16);
  bool other_enabled = true;
  DType other_out = DType::f64;
  std::thread t([&] {
    other_enabled = is_autocast_enabled(DeviceType::cpu);
    other_out = matmul(randn({2, 3}), randn({3, 2})).dtype();
    autocast own(DeviceType::cpu, DType::f16);  // does not reach the main thread
  });
  t.join();
  EXPECT_FALSE(other_enabled);
  EXPECT_EQ(other_out, DType::f32);
  EXPECT_EQ(get_autocast_dtype(DeviceType::cpu), DType::bf16);
  EXPECT_EQ(matmul(randn({2, 3}), randn({3, 2})).dtype(), DType::bf16);
}

// ---- the policy table --------------------------------------------------------------------

TEST(AutocastPolicy, MatmulFamilyRunsInTheAutocastDtype) {
  for (DType dt : {DType::bf16, DType::f16}) {
    autocast guard(DeviceType::cpu, dt);
    Tensor a = randn({3, 4}), b = randn({4, 5}), c = randn({3, 5});
    Tensor a3 = randn({2, 3, 4}), b3 = randn({2, 4, 5}), c3 = randn({2, 3, 5});
    EXPECT_EQ(matmul(a, b).dtype(), dt);
    EXPECT_EQ(a.matmul(b).dtype(), dt);
    EXPECT_EQ(mm(a, b).dtype(), dt);
    EXPECT_EQ(bmm(a3, b3).dtype(), dt);
    EXPECT_EQ(addmm(c, a, b).dtype(), dt);
    EXPECT_EQ(baddbmm(c3, a3, b3).dtype(), dt);
    EXPECT_EQ(F::linear(a, randn({6, 4}), randn({6})).dtype(), dt);
    EXPECT_EQ(einsum("ij,jk->ik", {a, b}).dtype(), dt);  // through matmul
  }
}

TEST(AutocastPolicy, LowerPrecisionLeavesF64AndOtherDevicesAlone) {
  autocast guard(DeviceType::cpu, DType::bf16);
  // torch casts only f32/f16/bf16: f64 stays f64.
  EXPECT_EQ(
      matmul(randn({2, 3}, {.dtype = DType::f64}), randn({3, 2}, {.dtype = DType::f64})).dtype(),
      DType::f64);
  // A cpu guard does not apply to sim tensors, and a sim guard uses its own dtype.
  Tensor s = randn({2, 3}, {.device = Device::sim()});
  EXPECT_EQ(matmul(s, s.t()).dtype(), DType::f32);
  autocast sim_guard(DeviceType::sim, DType::f16);
  EXPECT_EQ(matmul(s, s.t()).dtype(), DType::f16);
}

TEST(AutocastPolicy, F32OpsTakeHalfInputsToF32) {
  autocast guard(DeviceType::cpu, DType::bf16);
  Tensor x = randn({4, 6}).to(DType::bf16);
  Tensor pos = (randn({4, 6}).abs() + 0.5).to(DType::bf16);
  Tensor x4 = randn({2, 4, 3, 3}).to(DType::bf16);
  Tensor target = randint(0, 6, {4});
  auto f32 = [](const Tensor& t) { return t.dtype() == DType::f32; };
  EXPECT_TRUE(f32(softmax(x, 1)));
  EXPECT_TRUE(f32(log_softmax(x, -1)));
  EXPECT_TRUE(f32(F::cross_entropy(x, target)));
  EXPECT_TRUE(f32(F::nll_loss(x, target)));
  EXPECT_TRUE(f32(F::mse_loss(x, pos)));
  EXPECT_TRUE(f32(F::l1_loss(x, pos)));
  EXPECT_TRUE(f32(F::smooth_l1_loss(x, pos)));
  EXPECT_TRUE(f32(F::binary_cross_entropy_with_logits(x, pos)));
  EXPECT_TRUE(f32(F::layer_norm(x, {6})));
  EXPECT_TRUE(f32(F::rms_norm(x, {6})));
  EXPECT_TRUE(f32(F::group_norm(x4, 2)));
  EXPECT_TRUE(f32(F::batch_norm(x4, Tensor(), Tensor(), Tensor(), Tensor(), true)));
  EXPECT_TRUE(f32(exp(x)));
  EXPECT_TRUE(f32(log(pos)));
  EXPECT_TRUE(f32(pow(x, 2.0)));
  EXPECT_TRUE(f32(pow(pos, x)));
  EXPECT_TRUE(f32(sum(x, {1})));
  EXPECT_TRUE(f32(mean(x, {0})));
  EXPECT_TRUE(f32(prod(x, {1})));
  EXPECT_TRUE(f32(var(x, {1})));
  EXPECT_TRUE(f32(logsumexp(x, {1})));
  EXPECT_TRUE(f32(cumsum(x, 1)));
  // Not on a list: runs in its input's dtype.
  EXPECT_EQ(relu(x).dtype(), DType::bf16);
  EXPECT_EQ(amax(x, {1}).dtype(), DType::bf16);
}

TEST(AutocastPolicy, F32OpsWithoutAutocastKeepTheirDtype) {
  // The same op outside a guard: bf16 stays bf16 (so the test above sees the policy).
  Tensor x = randn({4, 6}).to(DType::bf16);
  EXPECT_EQ(sum(x, {1}).dtype(), DType::bf16);
  EXPECT_EQ(exp(x).dtype(), DType::bf16);
}

TEST(AutocastPolicy, MixedDtypesPromoteToTheWidest) {
  autocast guard(DeviceType::cpu, DType::bf16);
  Tensor h = matmul(randn({2, 3}), randn({3, 4}));  // bf16
  Tensor f = randn({2, 4});
  EXPECT_EQ((h + f).dtype(), DType::f32);
  EXPECT_EQ((h * f).dtype(), DType::f32);
  EXPECT_EQ((h + h).dtype(), DType::bf16);
  EXPECT_EQ((h + randn({2, 4}, {.dtype = DType::f64})).dtype(), DType::f64);
  // torch's promote list (cat, stack): the widest dtype, with gradients back in each dtype.
  Tensor leaf = rand_leaf({2, 4});
  Tensor joined = cat({h, leaf});
  EXPECT_EQ(joined.dtype(), DType::f32);
  EXPECT_EQ(stack({h, f}).dtype(), DType::f32);
  sum(joined).backward();
  EXPECT_EQ(leaf.grad().dtype(), DType::f32);
}

// conv and attention are cast to the autocast dtype; their bf16 kernels come from other
// work of issue 16, so either the op runs in bf16 or its refusal names bf16 (f32 inputs
// without the cast would run in f32 and succeed).
TEST(AutocastPolicy, ConvAndAttentionAreCast) {
  autocast guard(DeviceType::cpu, DType::bf16);
  auto expect_bf16 = [](auto&& op, const char* name) {
    try {
      EXPECT_EQ(op().dtype(), DType::bf16) << name;
    } catch (const Error& e) {  // the refusal of a kernel that does not exist yet
      EXPECT_THAT(e.what(), HasSubstr("bf16")) << name;
    }
  };
  Tensor x = randn({1, 2, 5, 5}), w = randn({3, 2, 3, 3}), b = randn({3});
  expect_bf16([&] { return conv2d(x, w, b, Conv2dParams{}); }, "conv2d");
  expect_bf16([&] { return F::conv1d(randn({1, 2, 7}), randn({3, 2, 3}), Tensor()); }, "conv1d");
  Tensor q = randn({1, 2, 4, 8});
  expect_bf16([&] { return scaled_dot_product_attention(q, q, q); }, "attention");
}

// The nn ops of issue 16's halfnn2 (docs/amp.md's table): the cells, prelu and einsum in the
// autocast dtype; cosine_similarity, normalize, kl_div, nll_loss, instance_norm and (on the
// cpu) binary_cross_entropy in f32; pooling, resizing and outer in their input's dtype.
TEST(AutocastPolicy, NnOpsRows) {
  autocast guard(DeviceType::cpu, DType::bf16);
  const DType bf = DType::bf16, f32 = DType::f32;
  Tensor g4 = randn({3, 8}), g3 = randn({3, 6}), c = randn({3, 2});
  auto [h, cn] = lstm_cell(g4, g4, c);
  EXPECT_EQ(h.dtype(), bf);
  EXPECT_EQ(cn.dtype(), bf);
  EXPECT_EQ(gru_cell(g3, g3, c).dtype(), bf);
  EXPECT_EQ(prelu(randn({2, 3, 4}), randn({3})).dtype(), bf);
  EXPECT_EQ(einsum("ij->j", {randn({3, 4})}).dtype(), bf);  // a sum, cast as torch's einsum
  Tensor x = randn({4, 6}).to(bf), pos = (randn({4, 6}).abs() + 0.5).to(bf);
  Tensor prob = (rand({4, 6}) * 0.8 + 0.1).to(bf), x4 = randn({2, 3, 6, 6}).to(bf);
  EXPECT_EQ(F::cosine_similarity(x, pos).dtype(), f32);
  EXPECT_EQ(F::normalize(x).dtype(), f32);
  EXPECT_EQ(F::kl_div(x, pos).dtype(), f32);
  EXPECT_EQ(F::nll_loss(x, randint(0, 6, {4})).dtype(), f32);
  EXPECT_EQ(F::instance_norm(x4).dtype(), f32);
  EXPECT_EQ(F::binary_cross_entropy(prob, prob).dtype(), f32);  // cpu: torch's fp32 list
  // Not on a list: the input's dtype, bf16 or f32.
  EXPECT_EQ(F::max_pool2d(x4, {2, 2}).dtype(), bf);
  EXPECT_EQ(F::avg_pool2d(x4, {2, 2}).dtype(), bf);
  EXPECT_EQ(F::adaptive_avg_pool2d(x4, {1, 1}).dtype(), bf);
  EXPECT_EQ(F::adaptive_max_pool2d(x4, {2, 2}).dtype(), bf);
  EXPECT_EQ(F::max_pool2d(randn({1, 2, 4, 4}), {2, 2}).dtype(), f32);
  EXPECT_EQ(F::interpolate(x4, {.size = {9, 9}, .mode = "bilinear"}).dtype(), bf);
  EXPECT_EQ(F::interpolate(x4, {.size = {9, 9}}).dtype(), bf);
  EXPECT_EQ(outer(x.select(0, 0), x.select(0, 1)).dtype(), bf);
}

// torch refuses binary_cross_entropy under cuda autocast (Autocast's banned kernel); sim
// stands in for cuda. The cells run in the autocast dtype there too.
TEST(AutocastPolicy, BinaryCrossEntropyIsRefusedOnSim) {
  autocast guard(DeviceType::sim, DType::f16);
  Tensor p = rand({4}, {.device = Device::sim()}) * 0.8 + 0.1;
  try {
    F::binary_cross_entropy(p, p);
    ADD_FAILURE() << "binary_cross_entropy ran under sim autocast";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("binary_cross_entropy_with_logits"));
  }
  EXPECT_EQ(F::binary_cross_entropy_with_logits(p, p).dtype(), DType::f32);
  Tensor g = randn({2, 8}, {.device = Device::sim()}), c = randn({2, 2}, {.device = Device::sim()});
  EXPECT_EQ(std::get<0>(lstm_cell(g, g, c)).dtype(), DType::f16);
  {
    autocast off(DeviceType::sim, std::nullopt, false);
    EXPECT_EQ(F::binary_cross_entropy(p, p).dtype(), DType::f32);  // outside: allowed
  }
}

// nn::LSTM and nn::GRU under cpu autocast: the gate GEMMs and the cells run in bf16 (the
// f32 initial state is cast with the gates), and the f32 parameters get f32 gradients.
TEST(AutocastGrad, RecurrentLayersTrainUnderBf16) {
  for (bool lstm : {true, false}) {
    manual_seed(5);
    std::shared_ptr<nn::RNNBase> m;
    if (lstm) m = nn::LSTM::make(4, 5, {.num_layers = 2});
    else m = nn::GRU::make(4, 5, {.num_layers = 2});
    Tensor x = randn({6, 2, 4});
    Tensor wide_out = lstm ? std::get<0>(dynamic_cast<nn::LSTM&>(*m).forward(x))
                           : std::get<0>(dynamic_cast<nn::GRU&>(*m).forward(x));
    Tensor out;
    {
      autocast guard(DeviceType::cpu, DType::bf16);
      out = lstm ? std::get<0>(dynamic_cast<nn::LSTM&>(*m).forward(x))
                 : std::get<0>(dynamic_cast<nn::GRU&>(*m).forward(x));
    }
    EXPECT_EQ(out.dtype(), DType::bf16);
    EXPECT_LT(rel_err(out, wide_out), 0.05);  // bf16 gates over 6 steps and 2 layers
    sum(out).backward();
    for (const auto& [name, p] : m->named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << name;
      EXPECT_EQ(p.grad().dtype(), DType::f32) << name;
    }
  }
}

// ---- gradients ---------------------------------------------------------------------------

TEST(AutocastGrad, F32LeavesReceiveF32Gradients) {
  Tensor x = rand_leaf({4, 8}), w = rand_leaf({5, 8}), bias = rand_leaf({5});
  Tensor target = randint(0, 5, {4});
  Tensor logits, loss;
  {
    autocast guard(DeviceType::cpu, DType::bf16);
    logits = F::linear(x, w, bias);
    loss = F::cross_entropy(logits, target);
  }
  EXPECT_EQ(logits.dtype(), DType::bf16);
  EXPECT_EQ(loss.dtype(), DType::f32);
  loss.backward();
  for (const Tensor* t : {&x, &w, &bias}) {
    ASSERT_TRUE(t->grad().defined());
    EXPECT_EQ(t->grad().dtype(), DType::f32);
  }
  // Against the f32 computation: bf16 operands, 8 significant bits.
  Tensor x2 = x.detach().requires_grad_(), w2 = w.detach().requires_grad_();
  Tensor b2 = bias.detach().requires_grad_();
  F::cross_entropy(F::linear(x2, w2, b2), target).backward();
  EXPECT_LT(rel_err(w.grad(), w2.grad()), 3e-2);
  EXPECT_LT(rel_err(x.grad(), x2.grad()), 3e-2);
  EXPECT_LT(rel_err(bias.grad(), b2.grad()), 3e-2);
}

TEST(AutocastGrad, BackwardInsideTheGuardIsNotAutocast) {
  autocast guard(DeviceType::cpu, DType::bf16);
  Tensor a = rand_leaf({3, 4}), b = rand_leaf({4, 2});
  Tensor y = matmul(a, b);
  const int64_t before = autocast_policy::cast_count();
  sum(y.to(DType::f32)).backward();
  // The rules' matmuls run on the saved bf16 operands: no cast of theirs, f32 at the leaves.
  EXPECT_EQ(autocast_policy::cast_count(), before);
  EXPECT_EQ(a.grad().dtype(), DType::f32);
  EXPECT_EQ(b.grad().dtype(), DType::f32);
}

// ---- the weight cast cache -----------------------------------------------------------------

TEST(AutocastCache, AWeightIsCastOncePerRegion) {
  Tensor w = rand_leaf({6, 6});
  Tensor x = randn({2, 6});
  {
    autocast guard(DeviceType::cpu, DType::bf16);
    const int64_t start = autocast_policy::cast_count();
    Tensor h = F::linear(F::linear(F::linear(x, w), w), w);  // w used three times
    // x (not a leaf requiring grad) once, w once.
    EXPECT_EQ(autocast_policy::cast_count() - start, 2);
    {
      autocast nested(DeviceType::cpu, DType::bf16);  // an inner guard keeps the cache
      F::linear(x, w);
      EXPECT_EQ(autocast_policy::cast_count() - start, 3);  // only x again
    }
    F::linear(x, w);
    EXPECT_EQ(autocast_policy::cast_count() - start, 4);
    sum(h).backward();  // all three uses send their gradient to w, in f32
    EXPECT_EQ(w.grad().dtype(), DType::f32);
  }
  {
    autocast guard(DeviceType::cpu, DType::bf16);  // the outer exit cleared the cache
    const int64_t start = autocast_policy::cast_count();
    F::linear(x.to(DType::bf16), w);
    EXPECT_EQ(autocast_policy::cast_count() - start, 1);
  }
}

TEST(AutocastCache, RecastsAfterAnInPlaceUpdateAndWhenDisabled) {
  Tensor w = rand_leaf({4, 4});
  Tensor x = randn({2, 4}).to(DType::bf16);
  {
    autocast guard(DeviceType::cpu, DType::bf16);
    const int64_t start = autocast_policy::cast_count();
    Tensor y1 = F::linear(x, w);
    {
      NoGradGuard no_grad;
      w.mul_(2.0);  // an optimizer step inside the region
    }
    Tensor y2 = F::linear(x, w);
    EXPECT_EQ(autocast_policy::cast_count() - start, 2);
    EXPECT_LT(rel_err(y2, y1 * 2.0), 1e-2);  // the new values, not the stale cast
  }
  {
    autocast guard(DeviceType::cpu, DType::bf16, true, /*cache_enabled=*/false);
    const int64_t start = autocast_policy::cast_count();
    F::linear(x, w);
    F::linear(x, w);
    EXPECT_EQ(autocast_policy::cast_count() - start, 2);
  }
}

// ---- a small model ---------------------------------------------------------------------------

TEST(AutocastModel, MlpUnderBf16MatchesF32) {
  manual_seed(7);
  auto l1 = nn::Linear::make(16, 32), l2 = nn::Linear::make(32, 4);
  Tensor x = randn({8, 16});
  Tensor target = randint(0, 4, {8});
  auto run = [&](bool amp) {
    for (auto* l : {l1.get(), l2.get()}) l->zero_grad();
    Tensor loss;
    {
      autocast guard(DeviceType::cpu, DType::bf16, amp);
      Tensor h = relu(l1->forward(x));
      EXPECT_EQ(h.dtype(), amp ? DType::bf16 : DType::f32);
      loss = F::cross_entropy(l2->forward(h), target);
      EXPECT_EQ(loss.dtype(), DType::f32);
    }
    loss.backward();
    return std::vector<Tensor>{loss.detach(), l1->weight.grad().clone(), l2->weight.grad().clone(),
                               l2->bias.grad().clone()};
  };
  std::vector<Tensor> ref = run(false), amp = run(true);
  EXPECT_LT(rel_err(amp[0], ref[0]), 2e-2);
  for (size_t i = 1; i < ref.size(); ++i) {
    EXPECT_EQ(amp[i].dtype(), DType::f32);
    EXPECT_LT(rel_err(amp[i], ref[i]), 5e-2) << "gradient " << i;
    EXPECT_GT(rel_err(amp[i], ref[i]), 0.0) << "gradient " << i << " not computed in bf16";
  }
}

}  // namespace
}  // namespace ember
