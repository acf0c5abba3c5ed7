#include "trainer/ddp_strategy.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "autograd/grad_mode.h"
#include "tensor/device_guard.h"
#include "tensor/ops.h"
#include "trainer/launcher.h"
#include "trainer/lightning_module.h"
#include "trainer/loggers/logger.h"
#include "trainer/trainer.h"

namespace ember {

namespace dist = distributed;

DevicesChoice::DevicesChoice(const char* s) {
  if (s == nullptr || std::string(s) != "auto")
    fail<ValueError>("Trainer", "devices must be a number >= 1 or \"auto\", got \"",
                     s ? s : "(null)", "\"");
}

namespace {

// What outlives a Trainer: the launcher's children and the process group (torch's default
// group). At exit the parent waits for its children first, while its store still serves
// them, and reports one that failed.
struct DdpRuntime {
  std::unique_ptr<SubprocessLauncher> launcher;
  std::shared_ptr<dist::ProcessGroup> pg;
  dist::ClusterEnvironment env;
  int devices = 0, num_nodes = 0;
  bool failure_reported = false;  // a collective's error named the failed children already
  ~DdpRuntime() {
    if (launcher) {
      try {
        launcher->join();
      } catch (const std::exception& e) {
        // A child failed: the exit status says so (and stderr, unless an error did).
        if (!failure_reported) std::fprintf(stderr, "ember: %s\n", e.what());
        std::fflush(stdout);
        std::fflush(stderr);
        std::_Exit(1);
      }
    }
    pg.reset();
  }
};

DdpRuntime& runtime() {
  static DdpRuntime rt;
  return rt;
}

dist::ReduceOp reduce_op(const std::string& reduce_fx) {
  if (reduce_fx == "mean") return dist::ReduceOp::avg;
  if (reduce_fx == "sum") return dist::ReduceOp::sum;
  if (reduce_fx == "max") return dist::ReduceOp::max;
  if (reduce_fx == "min") return dist::ReduceOp::min;
  fail<ValueError>("log",
                   "sync_dist: reduce_fx must be \"mean\", \"sum\", \"max\" or \"min\", got \"",
                   reduce_fx, "\"");
}

}  // namespace

DDPStrategy::DDPStrategy(DevicesChoice devices, int64_t num_nodes, const std::string& accelerator,
                         std::chrono::milliseconds timeout) {
  const char* op = "Trainer(strategy=\"ddp\")";
  if (devices.count && *devices.count < 1)
    fail<ValueError>(op, "devices must be >= 1, got ", *devices.count);
  if (num_nodes < 1) fail<ValueError>(op, "num_nodes must be >= 1, got ", num_nodes);
  DdpRuntime& rt = runtime();
  if (rt.pg) {  // a Trainer before this one joined the group: the ranks are running
    const int n = devices.count ? static_cast<int>(*devices.count) : rt.devices;
    if (n != rt.devices || num_nodes != rt.num_nodes)
      fail<ValueError>(op, "this process already runs in a group of devices=", rt.devices,
                       ", num_nodes=", rt.num_nodes, "; a Trainer with devices=", n,
                       ", num_nodes=", num_nodes, " cannot join it");
    env_ = rt.env;
    pg_ = rt.pg;
    return;
  }
  dist::ClusterEnvironment env = dist::detect_cluster_environment();
  const bool external = env.kind != dist::ClusterKind::none;
  const int n = devices.count ? static_cast<int>(*devices.count)
                : external    ? env.local_world_size
                              : 1;
  if (!external && n * num_nodes > 1) {
    rt.launcher = std::make_unique<SubprocessLauncher>();
    env = rt.launcher->launch(n, static_cast<int>(num_nodes));
  } else if (!external && !std::getenv("MASTER_PORT")) {
    env.port = find_free_port();  // a group of one: no fixed port to collide on
  } else if (external && env.world_size != n * num_nodes) {
    // Lightning's check: the launcher's processes must be the ones the Trainer asks for.
    fail<ValueError>(op, "devices=", n, " and num_nodes=", num_nodes, " make ", n * num_nodes,
                     " processes, but the ", dist::to_string(env.kind), " environment has ",
                     env.world_size, " (WORLD_SIZE)");
  }
  // The cores are split between the node's processes, as torch's OMP_NUM_THREADS default
  // under torchrun (unless the user set it).
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if ((!omp || !*omp) && env.local_world_size > 1)
    omp_set_num_threads(std::max(1, omp_get_num_procs() / env.local_world_size));
  const bool cuda = accelerator == "cuda" || accelerator == "gpu" ||
                    (accelerator == "auto" && Device::best().type == DeviceType::cuda);
  // Each process binds its GPU before NCCL's communicator is made, which takes the current
  // device (torch.cuda.set_device(LOCAL_RANK) in Lightning's CUDAAccelerator): cuda:1 for
  // local rank 1. A local rank without a GPU fails here, naming the device count (issue 17).
  if (cuda) set_device(Device::cuda(env.local_rank));
  pg_ =
      dist::init_process_group({.backend = cuda ? "nccl" : "gloo", .timeout = timeout, .env = env});
  env_ = env;
  rt.pg = pg_;
  rt.env = env;
  rt.devices = n;
  rt.num_nodes = static_cast<int>(num_nodes);
}

void DDPStrategy::wait(const std::shared_ptr<dist::Work>& work, const char* what) const {
  try {
    work->wait();
  } catch (const dist::DistError& e) {
    rethrow_naming_failed_children(e, what);
  }
}

void DDPStrategy::rethrow_naming_failed_children(const dist::DistError& e, const char* what) const {
  SubprocessLauncher* launcher = runtime().launcher.get();
  if (!launcher) throw;
  // A dead child is why, most likely: give the kernel a moment to report it.
  std::string failures;
  for (int i = 0; i < 40 && failures.empty(); ++i) {
    failures = launcher->failed_children();
    if (failures.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failures.empty()) throw;
  runtime().failure_reported = true;
  fail<dist::DistBackendError>(what, e.what(),
                               "; a process the launcher started failed: ", failures);
}

void DDPStrategy::backward(const std::function<void()>& run) {
  try {
    run();
  } catch (const dist::DistError& e) {
    rethrow_naming_failed_children(e, "DDPStrategy: backward (the gradients' all_reduce)");
  }
}

Device DDPStrategy::root_device(Device accelerator) const {
  if (accelerator.type == DeviceType::cuda) return Device::cuda(env_.local_rank);
  return accelerator;
}

void DDPStrategy::setup_module(LightningModule& model) {
  ddp_.reset();  // the previous run's hooks go first
  manual_ = !model.automatic_optimization();
  // The Trainer owns neither the module nor this strategy's run: a non-owning handle
  // (the aliasing constructor with an empty owner), dropped at the next run.
  std::shared_ptr<nn::Module> handle(std::shared_ptr<void>(), &model);
  try {
    ddp_ = std::make_unique<dist::DistributedDataParallel>(handle, pg_);
  } catch (const dist::DistError& e) {
    rethrow_naming_failed_children(e, "DDPStrategy: DistributedDataParallel's set-up");
  }
}

Tensor DDPStrategy::run_training_step(const std::function<Tensor()>& step, bool sync) {
  if (!ddp_ || manual_) return step();
  if (!sync) {
    auto guard = ddp_->no_sync();
    return ddp_->run_forward(step);
  }
  return ddp_->run_forward(step);
}

void DDPStrategy::reduce_gradients(const std::vector<Tensor>& params) {
  autograd::NoGradGuard no_grad;
  // One buffer per (dtype, device), filled in parameter order: every rank lays its
  // gradients out the same way, so one collective averages them all.
  std::map<std::pair<int, std::string>, std::vector<Tensor>> groups;
  std::vector<std::pair<int, std::string>> order;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    const auto key = std::make_pair(static_cast<int>(g.dtype()), g.device().str());
    if (!groups.count(key)) order.push_back(key);
    groups[key].push_back(g);
  }
  for (const auto& key : order) {
    std::vector<Tensor>& grads = groups[key];
    std::vector<Tensor> flat;
    for (const Tensor& g : grads) flat.push_back(g.reshape({-1}));
    Tensor buffer = cat(flat, 0);  // (sum of numel,)
    wait(pg_->all_reduce(buffer, dist::ReduceOp::avg), "DDPStrategy: gradient all_reduce");
    int64_t offset = 0;
    for (Tensor& g : grads) {
      g.copy_(buffer.narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
}

Tensor DDPStrategy::reduce(const Tensor& value, const std::string& reduce_fx) {
  const dist::ReduceOp op = reduce_op(reduce_fx);
  autograd::NoGradGuard no_grad;
  Tensor v = value.detach();
  if (v.dtype() != DType::f32 && v.dtype() != DType::f64) v = v.to(DType::f32);
  v = v.contiguous().clone();
  wait(pg_->all_reduce(v, op), "log(sync_dist=true)");
  return v;
}

double DDPStrategy::reduce(double value, const std::string& reduce_fx) {
  Tensor t = full({1}, value, {.dtype = DType::f64});
  return reduce(t, reduce_fx).item<double>();
}

Tensor DDPStrategy::all_gather(const Tensor& t) {
  autograd::NoGradGuard no_grad;
  Tensor in = t.detach().contiguous();
  Shape shape = in.sizes();
  shape.insert(shape.begin(), world_size());
  Tensor out = empty(shape, {.dtype = in.dtype(), .device = in.device()});
  wait(pg_->all_gather_into_tensor(out, in), "all_gather");
  return out;
}

void DDPStrategy::on_exception() {
  if (SubprocessLauncher* launcher = runtime().launcher.get()) launcher->kill();
}

void DDPStrategy::barrier(const std::string& name) { wait(pg_->barrier(), name.c_str()); }

bool DDPStrategy::reduce_boolean_decision(bool decision, bool all) {
  Tensor t = full({1}, decision ? 1.0 : 0.0, {.dtype = DType::i64});
  wait(pg_->all_reduce(t, dist::ReduceOp::sum), "reduce_boolean_decision");
  const auto votes = t.item<int64_t>();
  return all ? votes == world_size() : votes > 0;
}

std::unique_ptr<Strategy> make_strategy(const TrainerOptions& o) {
  if (o.strategy == "auto" || o.strategy == "single_device") {
    if (o.num_nodes != 1 || (o.devices.count && *o.devices.count != 1)) {
      if (o.strategy == "auto")  // Lightning's auto picks ddp for several devices
        return std::make_unique<DDPStrategy>(o.devices, o.num_nodes, o.accelerator,
                                             o.process_group_timeout);
      fail<ValueError>("Trainer", "strategy \"single_device\" runs one process; got devices=",
                       o.devices.count.value_or(1), ", num_nodes=", o.num_nodes);
    }
    if (o.num_nodes < 1) fail<ValueError>("Trainer", "num_nodes must be >= 1, got ", o.num_nodes);
    return std::make_unique<Strategy>();
  }
  if (o.strategy == "ddp")
    return std::make_unique<DDPStrategy>(o.devices, o.num_nodes, o.accelerator,
                                         o.process_group_timeout);
  fail<ValueError>("Trainer", "strategy must be \"auto\", \"single_device\" or \"ddp\", got \"",
                   o.strategy, "\" (ddp_spawn, fsdp and deepspeed are not implemented)");
}

// ---- rank-zero-only loggers -------------------------------------------------------------------

namespace {
class SilentLogger : public Logger {
 public:
  explicit SilentLogger(std::shared_ptr<Logger> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  std::string version() const override { return inner_->version(); }
  std::string save_dir() const override { return inner_->save_dir(); }
  std::string log_dir() const override { return inner_->log_dir(); }
  void log_hyperparams(const HParams&) override {}
  void log_metrics(const MetricMap&, int64_t) override {}
  void save() override {}
  void finalize(const std::string&) override {}

 private:
  std::shared_ptr<Logger> inner_;
};
}  // namespace

std::shared_ptr<Logger> rank_zero_only(std::shared_ptr<Logger> inner) {
  return std::make_shared<SilentLogger>(std::move(inner));
}

// ---- LightningModule::all_gather ------------------------------------------------------------

Tensor LightningModule::all_gather(const Tensor& t) const {
  return trainer().strategy().all_gather(t);
}

}  // namespace ember
