// examples/fashion_mnist: a ResNet (model.h) trained on Fashion-MNIST by the Trainer, with
// augmentation (random crop of the padded image, horizontal flip), SGD with Nesterov
// momentum and weight decay on the conv and fc weights, a cosine schedule per step, and
// validation on the test split.
//
//   fashion_mnist [--max-epochs N] [--max-steps N] [--batch-size N] [--lr X]
//                 [--weight-decay X] [--accelerator auto|cpu|cuda|sim] [--seed N]
//                 [--default-root-dir DIR] [--ckpt-path PATH|last] [--data-dir DIR]
//                 [--num-workers N] [--threads N]
//
// Ends with `final: epoch=E step=S train_loss=X test_loss=Y test_acc=Z`; logs (CSV) and
// checkpoints (best by test_acc, and last.ckpt) go to DIR/lightning_logs/version_N/.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "common/flags.h"
#include "fashion_mnist/data.h"
#include "fashion_mnist/model.h"

using namespace ember;
using namespace fmnist;

namespace {

struct Flags {
  int64_t max_epochs = 6;  // see README: the epochs that fit 10 minutes on 2 cores
  int64_t max_steps = -1;
  int64_t batch_size = 128;
  double lr = 0.1;
  double weight_decay = 5e-4;
  std::string accelerator = "cpu";
  uint64_t seed = 0;
  std::string default_root_dir = "runs/fashion_mnist";
  std::string ckpt_path;
  std::string data_dir = kDefaultDir;
  int64_t num_workers = 1;
  int64_t threads = 0;  // 0: every core (or OMP_NUM_THREADS)
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "fashion_mnist: %s\nflags: --max-epochs N, --max-steps N, --batch-size N, --lr X, "
               "--weight-decay X, --accelerator auto|cpu|cuda|sim, --seed N, "
               "--default-root-dir DIR, --ckpt-path PATH|last, --data-dir DIR, "
               "--num-workers N, --threads N (0: all cores)\n",
               why.c_str());
  std::exit(2);
}

Flags parse(int argc, char** argv) {
  Flags f;
  const examples::FlagValues flags(argc, argv, usage, "trains a ResNet on Fashion-MNIST");
  for (const auto& [k, v] : flags.values()) {
    if (k == "max-epochs") f.max_epochs = flags.integer(k, v);
    else if (k == "max-steps") f.max_steps = flags.integer(k, v);
    else if (k == "batch-size") f.batch_size = flags.integer(k, v);
    else if (k == "lr") f.lr = flags.number(k, v);
    else if (k == "weight-decay") f.weight_decay = flags.number(k, v);
    else if (k == "accelerator") f.accelerator = v;
    else if (k == "seed") f.seed = static_cast<uint64_t>(flags.integer(k, v));
    else if (k == "default-root-dir") f.default_root_dir = v;
    else if (k == "ckpt-path") f.ckpt_path = v;
    else if (k == "data-dir") f.data_dir = v;
    else if (k == "num-workers") f.num_workers = flags.integer(k, v);
    else if (k == "threads") f.threads = flags.integer(k, v);
    else usage("unknown flag --" + k);
  }
  if (f.batch_size < 1) usage("--batch-size must be positive");
  // --max-steps alone trains until the step count, as Lightning's max_steps.
  if (flags.has("max-steps") && !flags.has("max-epochs")) f.max_epochs = -1;
  return f;
}

struct Classifier : LightningModule {
  std::shared_ptr<ResNet> net;
  double lr, weight_decay;
  int64_t total_steps;

  Classifier(std::shared_ptr<ResNet> net_, double lr_, double weight_decay_, int64_t steps)
      : lr(lr_), weight_decay(weight_decay_), total_steps(steps) {
    // The ResNet's children are registered here under their own names, so that the
    // checkpoint's keys are torchvision's ("conv1.weight", not "net.conv1.weight").
    net = std::move(net_);
    for (const auto& [name, child] : net->named_children()) register_module(name, child);
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();  // (N, 1, 28, 28), (N)
    Tensor loss = nn::F::cross_entropy(net->forward(x), y);
    log("train_loss", loss, {.prog_bar = true});
    return loss;
  }
  void validation_step(const Batch& batch, int64_t) override {
    auto [x, y] = batch.unpack<2>();
    Tensor logits = net->forward(x);  // (N, 10)
    log("test_loss", nn::F::cross_entropy(logits, y), {.prog_bar = true});
    log("test_acc", logits.argmax(-1).eq(y).to(DType::f32).mean(), {.prog_bar = true});
  }
  // Weight decay on the conv and fc weights only: decaying BatchNorm's scales and shifts
  // and the biases only fights the normalization.
  OptimizerConfig configure_optimizers() override {
    std::vector<Tensor> decay, no_decay;
    for (const Tensor& p : net->parameters()) (p.dim() > 1 ? decay : no_decay).push_back(p);
    auto opt = optim::SGD::make({{decay, {.weight_decay = weight_decay}}, {no_decay, {}}},
                                {.lr = lr, .momentum = 0.9, .weight_decay = 0.0, .nesterov = true});
    auto cosine =
        std::make_shared<optim::CosineAnnealingLR>(opt, std::max<int64_t>(total_steps, 1));
    return {opt, {.scheduler = cosine, .interval = "step"}};
  }
};

std::string metric(Trainer& trainer, const std::string& name) {
  const MetricMap& m = trainer.callback_metrics();
  auto it = m.find(name);
  if (it == m.end()) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", it->second);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = parse(argc, argv);
  if (flags.threads > 0) omp_set_num_threads(static_cast<int>(flags.threads));
  try {
    auto train_data = std::make_shared<FashionMnist>(load_split(flags.data_dir, true),
                                                     AugmentOptions{.seed = flags.seed});
    auto test_data =
        std::make_shared<FashionMnist>(load_split(flags.data_dir, false), std::nullopt);
    DataLoader train_loader(train_data, {.batch_size = flags.batch_size,
                                         .shuffle = true,
                                         .num_workers = flags.num_workers,
                                         .seed = flags.seed});
    DataLoader test_loader(test_data, {.batch_size = 500});
    // The schedule spans the whole run: max_steps, or the epochs' steps.
    int64_t steps = flags.max_epochs >= 0 ? flags.max_epochs * train_loader.size() : 0;
    if (flags.max_steps >= 0 && (steps == 0 || flags.max_steps < steps)) steps = flags.max_steps;

    std::vector<std::shared_ptr<Callback>> callbacks = {
        ModelCheckpoint::make({.filename = "{epoch}-{step}-{test_acc:.4f}",
                               .monitor = "test_acc",
                               .mode = "max",
                               .save_last = true}),
        LearningRateMonitor::make()};
    Trainer trainer(
        {.max_epochs = flags.max_epochs,
         .max_steps = flags.max_steps,
         .accelerator = flags.accelerator,
         .log_every_n_steps = 50,
         .seed = flags.seed,
         .default_root_dir = flags.default_root_dir,
         .callbacks = callbacks,
         .logger = std::vector<std::shared_ptr<Logger>>{CSVLogger::make(flags.default_root_dir)}});
    auto model =
        std::make_shared<Classifier>(make_resnet(kClasses), flags.lr, flags.weight_decay, steps);
    model->save_hyperparameters({{"lr", flags.lr},
                                 {"weight_decay", flags.weight_decay},
                                 {"batch_size", flags.batch_size},
                                 {"seed", static_cast<int64_t>(flags.seed)},
                                 {"parameters", model->num_parameters()}});
    trainer.fit(model, train_loader, test_loader, flags.ckpt_path);
    // A fit stopped by max_steps between validations has no test metrics yet.
    if (!trainer.callback_metrics().count("test_acc")) trainer.validate(model, test_loader);
    std::printf("final: epoch=%lld step=%lld train_loss=%s test_loss=%s test_acc=%s\n",
                static_cast<long long>(trainer.current_epoch()),
                static_cast<long long>(trainer.global_step()),
                metric(trainer, "train_loss").c_str(), metric(trainer, "test_loss").c_str(),
                metric(trainer, "test_acc").c_str());
    if (auto cb = trainer.checkpoint_callback())
      std::printf("last checkpoint: %s\n", cb->last_model_path().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
    return 1;
  }
}
