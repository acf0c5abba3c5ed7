// One rank of a DistributedDataParallel test (ddp_test.cpp starts 2 or 3 of these with
// torchrun's variables). argv[1] names the scenario; exit code 0: as expected, and stderr
// says why not. Every rank checks itself against references it computes alone (the same
// model and data without DDP, on the whole global batch).
//   equivalence   W ranks x batch B == 1 rank x batch W*B after 5 SGD and 5 Adam steps, f32
//                 and f64 (and f32 SGD on sim), >= 3 buckets; overlap: buckets launched
//                 before backward ended
//   no_sync       two micro-batches, the first under no_sync: local first, averaged after
//   unused        a parameter without a gradient: the next forward throws torch's message
//   find_unused   find_unused_parameters: used on some ranks -> averaged; on none -> kept
//   buffers       rank 0's buffers are broadcast before synchronized forwards only
//   mismatch      rank 1's model differs: construction throws on every rank
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ember/ember.h>

#include "worker_main.h"

using namespace ember;
using namespace ember::distributed;

namespace {

constexpr int64_t kB = 4;  // the batch of one rank

// 5 -> 7 -> 6 -> 3, tanh between: 111 parameters in 6 tensors.
std::shared_ptr<nn::Sequential> mlp(uint64_t seed, DType dtype, Device device = Device::cpu()) {
  manual_seed(seed);
  auto m = nn::Sequential::make({nn::Linear::make(5, 7), nn::Tanh::make(), nn::Linear::make(7, 6),
                                 nn::Tanh::make(), nn::Linear::make(6, 3)});
  m->to(dtype);
  m->to(device);
  return m;
}

// Every rank's data, the same on every rank: rows [r*B, (r+1)*B) are rank r's.
std::pair<Tensor, Tensor> global_batch(int world, DType dtype, uint64_t salt) {
  manual_seed(1000 + salt);
  Tensor x = randn({world * kB, 5}, {.dtype = dtype});
  Tensor y = randn({world * kB, 3}, {.dtype = dtype});
  return {x, y};
}

// |a - b| <= rtol * max|b| for every element (relative to the tensor's scale: an element
// that is itself near zero carries the f32 rounding of the larger ones it was computed
// from); reports the first miss.
bool expect_close(const char* what, const Tensor& got, const Tensor& want, double rtol) {
  const auto g = got.to(Device::cpu(), DType::f64).to_vector<double>();
  const auto w = want.to(Device::cpu(), DType::f64).to_vector<double>();
  if (g.size() != w.size()) {
    EXPECT_W(false, "%s: %zu elements, want %zu", what, g.size(), w.size());
    return false;
  }
  double scale = 0;
  for (double v : w) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < g.size(); ++i) {
    if (!(std::fabs(g[i] - w[i]) <= rtol * scale)) {
      EXPECT_W(false, "%s[%zu] = %.17g, want %.17g (scale %g)", what, i, g[i], w[i], scale);
      return false;
    }
  }
  return true;
}

std::shared_ptr<optim::Optimizer> make_opt(const std::string& kind, std::vector<Tensor> params) {
  if (kind == "sgd") return optim::SGD::make(std::move(params), {.lr = 0.1, .momentum = 0.9});
  return optim::Adam::make(std::move(params), {.lr = 0.01});
}

void equivalence_case(std::shared_ptr<ProcessGroup> pg, DType dtype, const std::string& opt_kind,
                      Device device = Device::cpu()) {
  const int W = pg->world_size();
  const double rtol = dtype == DType::f32 ? 1e-6 : 1e-12;
  // Rank r starts from other weights: the construction's broadcast must fix that.
  auto model = mlp(7 + static_cast<uint64_t>(pg->rank()), dtype, device);
  auto ref = mlp(7, dtype, device);
  // ~100 bytes per bucket: 3 buckets of odd sizes (f32: 21+42+42 elements... see stats).
  DistributedDataParallel ddp(model, pg, {.bucket_cap_mb = 100.0 / (1024 * 1024)});
  const DataParallelStats s0 = ddp.stats();
  EXPECT_W(s0.buckets.size() >= 3, "%zu buckets", s0.buckets.size());
  EXPECT_W(!s0.buckets.empty() && s0.buckets[0][0] == "4.bias", "first bucket starts with %s",
           s0.buckets.empty() ? "-" : s0.buckets[0][0].c_str());
  auto opt = make_opt(opt_kind, model->parameters());
  auto ref_opt = make_opt(opt_kind, ref->parameters());
  for (int step = 0; step < 5; ++step) {
    auto [x_host, y_host] = global_batch(W, dtype, static_cast<uint64_t>(step));
    Tensor x = x_host.to(device);
    Tensor y = y_host.to(device);
    Tensor xr = x.narrow(0, pg->rank() * kB, kB);
    Tensor yr = y.narrow(0, pg->rank() * kB, kB);
    opt->zero_grad();
    nn::functional::mse_loss(ddp.forward(xr), yr).backward();
    opt->step();
    ref_opt->zero_grad();
    nn::functional::mse_loss(ref->forward(x), y).backward();
    ref_opt->step();
    const DataParallelStats s = ddp.stats();
    EXPECT_W(s.reductions == step + 1, "%lld reductions after %d steps",
             static_cast<long long>(s.reductions), step + 1);
    // The gradients of the first layer come last: every bucket but the last was launched
    // while they were still to be computed.
    EXPECT_W(s.buckets_launched_early == static_cast<int64_t>(s.buckets.size()) - 1,
             "%lld of %zu buckets launched during backward",
             static_cast<long long>(s.buckets_launched_early), s.buckets.size());
  }
  const auto got = model->named_parameters();
  const auto want = ref->named_parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string what =
        opt_kind + " " + std::string(to_string(dtype)) + " " + device.str() + " " + got[i].first;
    expect_close(what.c_str(), got[i].second, want[i].second, rtol);
  }
}

int equivalence(std::shared_ptr<ProcessGroup> pg) {
  for (DType dt : {DType::f32, DType::f64})
    for (const char* opt : {"sgd", "adam"}) equivalence_case(pg, dt, opt);
  // The sim device's memory is host memory: its buckets go through Gloo too.
  equivalence_case(pg, DType::f32, "sgd", Device::sim());
  pg->barrier()->wait();
  return test::worker_result();
}

int no_sync(std::shared_ptr<ProcessGroup> pg) {
  const int W = pg->world_size();
  const int r = pg->rank();
  auto model = mlp(3, DType::f64);
  auto ref = mlp(3, DType::f64);
  DistributedDataParallel ddp(model, pg, {.bucket_cap_mb = 100.0 / (1024 * 1024)});
  // Two micro-batches of kB rows per rank; each loss is half of the rank's mean.
  manual_seed(55);
  Tensor x = randn({2 * W * kB, 5}, {.dtype = DType::f64});
  Tensor y = randn({2 * W * kB, 3}, {.dtype = DType::f64});
  auto micro = [&](const Tensor& t, int k) { return t.narrow(0, (2 * r + k) * kB, kB); };
  {
    auto guard = ddp.no_sync();
    (nn::functional::mse_loss(ddp.forward(micro(x, 0)), micro(y, 0)) * 0.5).backward();
  }
  EXPECT_W(ddp.stats().reductions == 0, "no_sync backward reduced");
  // Still this rank's own gradient: nothing was communicated.
  (nn::functional::mse_loss(ref->forward(micro(x, 0)), micro(y, 0)) * 0.5).backward();
  const auto got = model->named_parameters();
  const auto local = ref->named_parameters();
  for (size_t i = 0; i < got.size(); ++i)
    expect_close(("local " + got[i].first).c_str(), got[i].second.grad(), local[i].second.grad(),
                 1e-12);
  (nn::functional::mse_loss(ddp.forward(micro(x, 1)), micro(y, 1)) * 0.5).backward();
  EXPECT_W(ddp.stats().reductions == 1, "backward after no_sync did not reduce");
  ref->zero_grad();
  nn::functional::mse_loss(ref->forward(x), y).backward();  // the whole batch's mean
  for (size_t i = 0; i < got.size(); ++i)
    expect_close(("accumulated " + got[i].first).c_str(), got[i].second.grad(),
                 local[i].second.grad(), 1e-12);
  pg->barrier()->wait();
  return test::worker_result();
}

// Three heads; forward uses `a`, `b` only when use_b; `c` never.
struct Heads : nn::Module {
  std::shared_ptr<nn::Linear> a, b, c;
  bool use_b = true;
  Heads() {
    a = register_module("a", nn::Linear::make(4, 2));
    b = register_module("b", nn::Linear::make(4, 2));
    c = register_module("c", nn::Linear::make(4, 2));
  }
  Tensor forward(const Tensor& x) { return use_b ? a->forward(x) + b->forward(x) : a->forward(x); }
};

int unused(std::shared_ptr<ProcessGroup> pg) {
  manual_seed(5);
  auto model = std::make_shared<Heads>();
  model->use_b = false;
  DistributedDataParallel ddp(model, pg, {});
  Tensor x = randn({3, 4});
  ddp.forward<Heads>(x).sum().backward();
  try {
    ddp.forward<Heads>(x);
    EXPECT_W(false, "the second forward did not throw");
  } catch (const DistError& e) {
    const std::string msg = e.what();
    std::fprintf(stderr, "rank %d threw as expected: %s\n", test::g_rank, msg.c_str());
    const std::string r = std::to_string(pg->rank());
    // Parameters in registration order: a.weight a.bias b.weight b.bias c.weight c.bias.
    for (const std::string& want :
         {std::string("Expected to have finished reduction in the prior iteration"),
          std::string("find_unused_parameters"),
          "did not receive grad for rank " + r + ": 2 3 4 5.",
          "did not receive grad for rank " + r + ": b.weight, b.bias, c.weight, c.bias"})
      EXPECT_W(msg.find(want) != std::string::npos, "no '%s' in: %s", want.c_str(), msg.c_str());
  }
  // A module of the wrong class is refused by forward<M>.
  bool threw = false;
  try {
    ddp.forward(x);
  } catch (const ValueError&) {
    threw = true;
  }
  EXPECT_W(threw, "forward<UnaryModule> on a Heads accepted");
  pg->barrier()->wait();
  return test::worker_result();
}

int find_unused(std::shared_ptr<ProcessGroup> pg) {
  const int W = pg->world_size();
  manual_seed(5);
  auto model = std::make_shared<Heads>();
  manual_seed(5);
  auto ref = std::make_shared<Heads>();  // rank 0's computation, done alone
  model->use_b = pg->rank() == 0;
  DistributedDataParallel ddp(model, pg, {.find_unused_parameters = true});
  for (int it = 0; it < 2; ++it) {
    model->zero_grad();
    ref->zero_grad();
    manual_seed(77 + static_cast<uint64_t>(it));
    Tensor xs = randn({W, 3, 4});
    ddp.forward<Heads>(xs.select(0, pg->rank())).sum().backward();
    // a: every rank's gradient, averaged; sum's gradient through a linear layer is the
    // column sum of x (weight) and the row count (bias), so average the ranks' inputs.
    ref->use_b = true;
    ref->forward(xs.mean({0}, false)).sum().backward();
    expect_close("a.weight", model->a->weight.grad(), ref->a->weight.grad(), 1e-6);
    expect_close("a.bias", model->a->bias.grad(), ref->a->bias.grad(), 1e-6);
    // b: used by rank 0 only, so its gradient over W (zero from the others), on every rank.
    ref->zero_grad();
    ref->forward(xs.select(0, 0)).sum().backward();
    expect_close("b.weight", model->b->weight.grad(),
                 ref->b->weight.grad() / static_cast<double>(W), 1e-6);
    // c: no rank used it, so it keeps no gradient.
    EXPECT_W(!model->c->weight.grad().defined(), "c.weight got a gradient");
  }
  EXPECT_W(ddp.stats().reductions == 2, "%lld reductions",
           static_cast<long long>(ddp.stats().reductions));
  pg->barrier()->wait();
  return test::worker_result();
}

struct Scaled : nn::UnaryModule {
  std::shared_ptr<nn::Linear> fc;
  Tensor scale;
  Scaled() {
    fc = register_module("fc", nn::Linear::make(2, 2));
    scale = register_buffer("scale", full({1}, 0.0));
  }
  Tensor forward(const Tensor& x) override { return fc->forward(x) * scale; }
};

int buffers(std::shared_ptr<ProcessGroup> pg) {
  const double r = pg->rank();
  auto model = std::make_shared<Scaled>();
  model->scale.fill_(r + 1);
  DistributedDataParallel ddp(model, pg, {});
  EXPECT_W(model->scale.item<double>() == 1, "scale %g after construction",
           model->scale.item<double>());
  Tensor x = randn({3, 2});
  model->scale.fill_(r + 10);
  {
    NoGradGuard no_grad;  // no backward follows: no sync (as torch)
    ddp.forward(x);
  }
  EXPECT_W(model->scale.item<double>() == r + 10, "scale %g after a no_grad forward",
           model->scale.item<double>());
  ddp.forward(x).sum().backward();
  EXPECT_W(model->scale.item<double>() == 10, "scale %g after a forward",
           model->scale.item<double>());
  pg->barrier()->wait();
  return test::worker_result();
}

int mismatch(std::shared_ptr<ProcessGroup> pg) {
  const int64_t out = pg->rank() == 1 ? 4 : 3;
  auto model = nn::Sequential::make({nn::Linear::make(5, 6), nn::Linear::make(6, out)});
  try {
    DistributedDataParallel ddp(model, pg, {});
    EXPECT_W(false, "construction did not throw");
  } catch (const DistError& e) {
    const std::string msg = e.what();
    std::fprintf(stderr, "rank %d threw as expected: %s\n", test::g_rank, msg.c_str());
    for (const std::string& want :
         {std::string("parameter 2 ('1.weight' on rank ") + std::to_string(pg->rank()) + ")",
          std::string("shape [4, 6] and dtype f32 on rank 1"),
          std::string("shape [3, 6] and dtype f32 on rank 0")})
      EXPECT_W(msg.find(want) != std::string::npos, "no '%s' in: %s", want.c_str(), msg.c_str());
  }
  pg->barrier()->wait();
  return test::worker_result();
}

}  // namespace

int main(int argc, char** argv) {
  return test::worker_main(argc, argv,
                           {{"equivalence", equivalence},
                            {"no_sync", no_sync},
                            {"unused", unused},
                            {"find_unused", find_unused},
                            {"buffers", buffers},
                            {"mismatch", mismatch}});
}
