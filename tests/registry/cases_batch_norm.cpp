// batch_norm (nn::functional::batch_norm on (N, C), (N, C, L) and (N, C, H, W), training
// and eval, with and without weight and bias, C = 1, N = 1 and S = 1 where defined, a
// transposed input, a threaded size) and instance_norm (without running statistics, the
// group norm path, and with them). The "_running" cases return the running statistics
// after one training step, momentum given or the cumulative 1 / num_batches_tracked read
// on the device; the "_backward" cases run the gradients on each device through
// autograd::grad (gradcheck checks the rules on the cpu).
// Napkin math: ~8 FLOPs per element forward (moments, centre, scale, affine), ~10 backward.
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "nn/functional.h"
#include "registry/builders.h"
#include "registry/reference_norm.h"

namespace ember::cases {

namespace {

namespace F = nn::functional;

constexpr double kEps = 1e-5;

// Cost per call: flops_per_elem per element of x (input 0); bytes: every input read once,
// `outputs` tensors of x's size written (the small per-channel outputs are left out).
void set_norm_cost(OpCase& c, double flops_per_elem, int outputs) {
  c.flops = [flops_per_elem](const Inputs& x) { return flops_per_elem * numel_d(x[0]); };
  c.bytes = [outputs](const Inputs& x) {
    double b = outputs * bytes_of(x[0]);
    for (const Tensor& t : x) b += bytes_of(t);
    return b;
  };
}

Shape channels(const Shape& x) { return {x[1]}; }

// Inputs: x, [weight, bias], [running_mean, running_var]; output y.
OpCase batch_norm_case(const Shape& shape, bool training, bool affine, DType dt,
                       Layout layout = Layout::contiguous) {
  const bool running = !training || shape[0] % 2 == 0;  // training without them, sometimes
  std::vector<In> ins = {In{shape, Dist::wide, layout}};
  if (affine) ins.insert(ins.end(), {In{channels(shape)}, In{channels(shape)}});
  if (running) ins.insert(ins.end(), {In{channels(shape)}, In{channels(shape), Dist::positive}});
  OpCase c;
  c.name = "batch_norm/" + ins_tag(ins) + (training ? "_train" : "_eval") + "/" + dtype_tag(dt);
  c.family = "batch_norm";
  c.op = "batch_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  const int r = affine ? 3 : 1;
  c.run = [=](const Inputs& x) {
    const Tensor w = affine ? x[1] : Tensor(), b = affine ? x[2] : Tensor();
    // Copies: the step must not move the inputs a gradient check evaluates again.
    const Tensor rm = running ? x[r].detach().clone() : Tensor();
    const Tensor rv = running ? x[r + 1].detach().clone() : Tensor();
    return Outputs{F::batch_norm(x[0], rm, rv, w, b, training, 0.1, kEps)};
  };
  c.reference = [=](const Refs& x) {
    return Refs{ref::batch_norm(x[0], affine ? &x[1] : nullptr, affine ? &x[2] : nullptr,
                                running ? &x[r] : nullptr, running ? &x[r + 1] : nullptr, training,
                                0.1, kEps)
                    .y};
  };
  c.out_dtypes = {dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 8, 1);
  c.grad_inputs = affine ? std::vector<int>{0, 1, 2} : std::vector<int>{0};
  return c;
}

// The running statistics after one training step: x, running_mean, running_var ->
// y, running_mean, running_var. cumulative: the factor is 1 / num_batches_tracked (3).
OpCase batch_norm_running_case(const Shape& shape, bool cumulative, DType dt) {
  const std::vector<In> ins = {In{shape, Dist::wide}, In{channels(shape)},
                               In{channels(shape), Dist::positive}};
  OpCase c;
  c.name = "batch_norm_running/" + ins_tag(ins) + (cumulative ? "_cumulative" : "_momentum") + "/" +
           dtype_tag(dt);
  c.family = "batch_norm";
  c.op = "batch_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    const Tensor rm = x[1].clone(), rv = x[2].clone();
    const Tensor counter =
        cumulative ? full({}, 3, {.dtype = DType::i64, .device = x[0].device()}) : Tensor();
    const Shape s = x[0].sizes();
    Tensor y = batch_norm_ncs(x[0].reshape({s[0], s[1], -1}), Tensor(), Tensor(), rm, rv, counter,
                              true, 0.25, kEps);
    return Outputs{y.reshape(s), rm, rv};
  };
  c.reference = [=](const Refs& x) {
    ref::BatchNormResult r = ref::batch_norm(x[0], nullptr, nullptr, &x[1], &x[2], true,
                                             cumulative ? 1.0 / 3.0 : 0.25, kEps);
    return Refs{r.y, r.running_mean, r.running_var};
  };
  c.out_dtypes = {dt, dt, dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 8, 1);
  return c;
}

// Inputs: x, grad_out, weight, [running_mean, running_var in eval]; outputs dx, dweight,
// dbias.
OpCase batch_norm_backward_case(const Shape& shape, bool training, DType dt) {
  std::vector<In> ins = {In{shape, Dist::wide}, In{shape}, In{channels(shape)}};
  if (!training) ins.insert(ins.end(), {In{channels(shape)}, In{channels(shape), Dist::positive}});
  OpCase c;
  c.name =
      "batch_norm_backward/" + ins_tag(ins) + (training ? "_train" : "_eval") + "/" + dtype_tag(dt);
  c.family = "batch_norm";
  c.op = "batch_norm_backward";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    const autograd::GradModeGuard grad_on(true);  // ops --perf times under no_grad
    autograd::TensorList leaves = {x[0].detach().requires_grad_(), x[2].detach().requires_grad_(),
                                   zeros(channels(shape), x[2].options()).requires_grad_()};
    const Tensor rm = training ? Tensor() : x[3], rv = training ? Tensor() : x[4];
    Tensor y = F::batch_norm(leaves[0], rm, rv, leaves[1], leaves[2], training, 0.1, kEps);
    return autograd::grad({y}, leaves, {x[1]});
  };
  c.reference = [=](const Refs& x) {
    ref::NormGrads g = ref::batch_norm_backward(
        x[0], &x[2], x[1], training, training ? nullptr : &x[3], training ? nullptr : &x[4], kEps);
    return Refs{g.dx, g.dweight, g.dbias};
  };
  c.out_dtypes = {dt, dt, dt};
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 10, 1);
  return c;
}

// Inputs: x (N, C, H, W), weight, bias, [running_mean, running_var]; outputs y, and with
// running statistics those after the step.
OpCase instance_norm_case(const Shape& shape, bool running, DType dt) {
  std::vector<In> ins = {In{shape, Dist::wide}, In{channels(shape)}, In{channels(shape)}};
  if (running) ins.insert(ins.end(), {In{channels(shape)}, In{channels(shape), Dist::positive}});
  OpCase c;
  c.name = "instance_norm/" + ins_tag(ins) + "/" + dtype_tag(dt);
  c.family = "instance_norm";
  c.op = "instance_norm";
  c.dtype = dt;
  c.make_inputs = input_maker(ins);
  c.run = [=](const Inputs& x) {
    if (!running) return Outputs{F::instance_norm(x[0], Tensor(), Tensor(), x[1], x[2])};
    const Tensor rm = x[3].clone(), rv = x[4].clone();
    return Outputs{F::instance_norm(x[0], rm, rv, x[1], x[2], true, 0.1, kEps), rm, rv};
  };
  c.reference = [=](const Refs& x) {
    if (!running) return Refs{ref::group_norm(x[0], x[0].shape[1], &x[1], &x[2], kEps)};
    ref::BatchNormResult r = ref::instance_norm(x[0], &x[1], &x[2], x[3], x[4], 0.1, kEps);
    return Refs{r.y, r.running_mean, r.running_var};
  };
  c.out_dtypes.assign(running ? 3 : 1, dt);
  c.tol = tolerance(dt, TolKind::reduction);
  set_norm_cost(c, 8, 1);
  if (!running) c.grad_inputs = {0, 1, 2};
  return c;
}

// A bf16/f16 case (issue 16): f32 math inside, compared with the f64 reference at the
// dtype's tolerance; gradcheck stays f64.
OpCase half_case(OpCase c) {
  c.grad_inputs.clear();
  return c;
}

}  // namespace

void add_batch_norm_cases(std::vector<OpCase>& out) {
  for (DType dt : {DType::f32, DType::f64}) {
    for (bool training : {true, false}) {
      out.push_back(batch_norm_case({4, 3, 2, 3}, training, true, dt));
      out.push_back(batch_norm_case({3, 2, 5}, training, false, dt));
      out.push_back(batch_norm_case({6, 4}, training, true, dt));     // (N, C): S = 1
      out.push_back(batch_norm_case({2, 1, 7}, training, true, dt));  // C = 1
      out.push_back(batch_norm_case({1, 3, 4}, training, true, dt));  // N = 1
      out.push_back(batch_norm_case({3, 4, 2, 3}, training, true, dt, Layout::transposed));
    }
    out.push_back(batch_norm_case({1, 3}, false, true, dt));  // one value: fine in eval
    out.push_back(batch_norm_running_case({4, 3, 5}, false, dt));
    out.push_back(batch_norm_running_case({3, 2, 2, 2}, true, dt));
    out.push_back(batch_norm_backward_case({4, 3, 5}, true, dt));
    out.push_back(batch_norm_backward_case({5, 2}, true, dt));
    out.push_back(batch_norm_backward_case({2, 3, 2, 3}, false, dt));
  }
  // Channels over threads, strips of 196 (the ResNet's 14x14 stage).
  out.push_back(batch_norm_case({16, 16, 14, 14}, true, true, DType::f32));
  out.push_back(batch_norm_case({16, 16, 14, 14}, false, true, DType::f32));
  out.push_back(batch_norm_backward_case({16, 16, 14, 14}, true, DType::f32));
  out.push_back(batch_norm_running_case({16, 16, 14, 14}, false, DType::f32));
  // The ResNet's first stage at half its batch of 128 (timings: scripts/ops.sh --perf).
  out.push_back(batch_norm_case({64, 16, 28, 28}, true, true, DType::f32));
  out.push_back(batch_norm_backward_case({64, 16, 28, 28}, true, DType::f32));
  // bf16/f16: the running statistics stay in their buffers' dtype (rounded once per update).
  for (DType dt : {DType::bf16, DType::f16}) {
    for (bool training : {true, false}) {
      out.push_back(half_case(batch_norm_case({4, 3, 2, 3}, training, true, dt)));
      out.push_back(
          half_case(batch_norm_case({3, 4, 2, 3}, training, true, dt, Layout::transposed)));
    }
    out.push_back(half_case(batch_norm_running_case({4, 3, 5}, false, dt)));
    out.push_back(half_case(batch_norm_running_case({3, 2, 2, 2}, true, dt)));
    out.push_back(half_case(batch_norm_backward_case({4, 3, 5}, true, dt)));
    out.push_back(half_case(batch_norm_backward_case({2, 3, 2, 3}, false, dt)));
  }
  for (DType dt : {DType::f32, DType::f64}) {
    out.push_back(instance_norm_case({2, 3, 4, 5}, false, dt));
    out.push_back(instance_norm_case({3, 2, 3, 3}, true, dt));
  }
  for (DType dt : {DType::bf16, DType::f16}) {  // issue 16, halfnn2
    out.push_back(half_case(instance_norm_case({2, 3, 4, 5}, false, dt)));
    out.push_back(half_case(instance_norm_case({3, 2, 3, 3}, true, dt)));
  }
}

}  // namespace ember::cases
