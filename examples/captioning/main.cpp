// ember's main job: trains the seed's captioning model (an image encoder and a text
// decoder, built here and injected into a LightningModule) on procedurally generated
// captions, with the Trainer, checkpoints and loggers.
//
//   captioning [--decoder simple|attention] [--max-epochs N] [--max-steps N] [--batch-size N]
//              [--lr X] [--encoder-lr-scale X] [--accelerator auto|cpu|cuda|sim] [--seed N]
//              [--default-root-dir DIR] [--ckpt-path PATH|last] [--train-size N] [--val-size N]
//              [--num-workers N] [--threads N] [--profile [--profile-skip N] [--profile-steps N]]
//              [--precision 32-true|64-true|bf16-mixed|16-mixed|bf16-true|16-true]
//              [--strategy auto|ddp] [--devices N] [--num-nodes N]
//
// --strategy ddp --devices N trains on N processes (the program re-executes itself for
// ranks 1..N-1; docs/distributed.md): --batch-size is per process, and the losses are
// logged with sync_dist, so `--strategy ddp --devices 2 --batch-size 16` trains like
// `--batch-size 32` in one process. Rank zero prints and writes the logs and checkpoints.
//
// --profile records training batches profile-skip .. profile-skip + profile-steps - 1
// (5..9 by default; with a short --max-steps, from half of it) with ember::profiler,
// prints a line per recorded batch with the copies between host and device and the
// stream synchronizations it made ("transfers per training step: h2d=.. d2h=.. syncs=.."),
// the table of ops, backward nodes and Trainer phases, and writes trace.json
// (chrome://tracing, Perfetto) beside the logs.
#include <omp.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "common/flags.h"
#include "dataset.h"
#include "model.h"

using namespace ember;
using namespace captioning;

namespace {

struct Flags {
  std::string decoder = "attention";
  int64_t max_epochs = 3;
  int64_t max_steps = -1;
  int64_t batch_size = 32;
  double lr = 2e-3;
  double encoder_lr_scale = 0.1;
  std::string accelerator = "cpu";
  uint64_t seed = 0;
  std::string default_root_dir = "runs/captioning";
  std::string ckpt_path;
  int64_t train_size = 2048;
  int64_t val_size = 512;
  int64_t num_workers = 1;
  // CPU threads for the kernels (OpenMP); 0: every core this process may run on (or
  // OMP_NUM_THREADS when set). On a machine shared with other busy processes, fewer
  // threads can be faster: OpenMP's threads spin while they wait for each other, and a
  // descheduled one stalls the rest (docs/performance.md).
  int64_t threads = 0;
  bool profile = false;
  int64_t profile_skip = 5;
  int64_t profile_steps = 5;
  std::string precision = "32-true";  // the Trainer's precision (issue 16)
  std::string strategy = "auto";      // issue 17: "ddp" for several processes
  int64_t devices = 1;
  int64_t num_nodes = 1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "captioning: %s\nflags: --decoder simple|attention, --max-epochs N, --max-steps N, "
               "--batch-size N, "
               "--lr X, --encoder-lr-scale X, --accelerator auto|cpu|cuda|sim, --seed N, "
               "--default-root-dir DIR, "
               "--ckpt-path PATH|last, --train-size N, --val-size N, --num-workers N, --threads N "
               "(0: all cores), "
               "--profile (with --profile-skip N, --profile-steps N), "
               "--precision 32-true|64-true|bf16-mixed|16-mixed|bf16-true|16-true, "
               "--strategy auto|ddp, --devices N, --num-nodes N\n",
               why.c_str());
  std::exit(2);
}

Flags parse(int argc, char** argv) {
  Flags f;
  const examples::FlagValues flags(argc, argv, usage, "trains the seed's captioning model",
                                   {"profile"});
  f.profile = flags.has_switch("profile");
  for (const auto& [k, v] : flags.values()) {
    if (k == "decoder") f.decoder = v;
    else if (k == "max-epochs") f.max_epochs = flags.integer(k, v);
    else if (k == "max-steps") f.max_steps = flags.integer(k, v);
    else if (k == "batch-size") f.batch_size = flags.integer(k, v);
    else if (k == "lr") f.lr = flags.number(k, v);
    else if (k == "encoder-lr-scale") f.encoder_lr_scale = flags.number(k, v);
    else if (k == "accelerator") f.accelerator = v;
    else if (k == "seed") f.seed = static_cast<uint64_t>(flags.integer(k, v));
    else if (k == "default-root-dir") f.default_root_dir = v;
    else if (k == "ckpt-path") f.ckpt_path = v;
    else if (k == "train-size") f.train_size = flags.integer(k, v);
    else if (k == "val-size") f.val_size = flags.integer(k, v);
    else if (k == "num-workers") f.num_workers = flags.integer(k, v);
    else if (k == "threads") f.threads = flags.integer(k, v);
    else if (k == "strategy") f.strategy = v;
    else if (k == "devices") f.devices = flags.integer(k, v);
    else if (k == "num-nodes") f.num_nodes = flags.integer(k, v);
    else if (k == "profile-skip") f.profile_skip = flags.integer(k, v);
    else if (k == "profile-steps") f.profile_steps = flags.integer(k, v);
    else if (k == "precision") f.precision = v;
    else usage("unknown flag --" + k);
  }
  if (f.decoder != "simple" && f.decoder != "attention")
    usage("--decoder must be simple or attention");
  // --max-steps alone trains until the step count, as Lightning's max_steps.
  if (flags.has("max-steps") && !flags.has("max-epochs")) f.max_epochs = -1;
  // A run shorter than the warm-up still records its second half.
  if (f.max_steps >= 0 && !flags.has("profile-skip"))
    f.profile_skip = std::min(f.profile_skip, f.max_steps / 2);
  return f;
}

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
    std::vector<std::shared_ptr<Callback>> callbacks = {
        ModelCheckpoint::make({.filename = "{epoch}-{step}-{val_loss:.4f}",
                               .monitor = "val_loss",
                               .save_last = true}),
        LearningRateMonitor::make()};
    if (flags.profile)
      callbacks.push_back(ProfilerCallback::make(
          {.skip_first = flags.profile_skip, .active = flags.profile_steps}));
    // The seed fixes initialisation; the data splits have seeds of their own.
    Trainer trainer(
        {.max_epochs = flags.max_epochs,
         .max_steps = flags.max_steps,
         .accelerator = flags.accelerator,
         .log_every_n_steps = 10,
         .seed = flags.seed,
         .default_root_dir = flags.default_root_dir,
         .callbacks = callbacks,
         .logger =
             std::vector<std::shared_ptr<Logger>>{CSVLogger::make(flags.default_root_dir),
                                                  TensorBoardLogger::make(flags.default_root_dir)},
         .precision = flags.precision,
         .strategy = flags.strategy,
         .devices = flags.devices,
         .num_nodes = flags.num_nodes});
    // ddp splits the cores between its processes; --threads still decides.
    if (flags.threads > 0) omp_set_num_threads(static_cast<int>(flags.threads));
    const int64_t vocab = vocabulary().size();
    auto encoder = std::make_shared<seed::ImageEncoder>();
    std::shared_ptr<seed::TextDecoder> decoder;
    if (flags.decoder == "simple") decoder = std::make_shared<seed::SimpleDecoder>(vocab);
    else decoder = std::make_shared<CausalAttentionDecoder>(vocab);
    auto model =
        std::make_shared<CaptionModule>(encoder, decoder, flags.lr, flags.encoder_lr_scale);
    model->save_hyperparameters({{"decoder", flags.decoder},
                                 {"lr", flags.lr},
                                 {"encoder_lr_scale", flags.encoder_lr_scale},
                                 {"batch_size", flags.batch_size},
                                 {"seed", static_cast<int64_t>(flags.seed)},
                                 {"vocab", vocab},
                                 {"train_size", flags.train_size},
                                 {"val_size", flags.val_size}});

    auto train_data = make_split(flags.train_size, 1000 + flags.seed);
    auto val_data = make_split(flags.val_size, 2000 + flags.seed);
    DataLoader train_loader(train_data, {.batch_size = flags.batch_size,
                                         .shuffle = true,
                                         .num_workers = flags.num_workers,
                                         .seed = flags.seed});
    DataLoader val_loader(val_data, {.batch_size = 128});

    const auto fit_start = std::chrono::steady_clock::now();
    const int64_t first_step = trainer.global_step();
    trainer.fit(model, train_loader, val_loader, flags.ckpt_path);
    const double fit_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - fit_start).count();
    const int64_t steps = trainer.global_step() - first_step;
    // A fit stopped by max_steps between validations has no validation metrics yet.
    if (!trainer.callback_metrics().count("val_acc")) trainer.validate(model, val_loader);

    // Every rank ran the same steps; rank zero speaks for them.
    if (!trainer.is_global_zero()) return 0;
    std::printf(
        "throughput: %lld process(es), %lld steps in %.2f s (fit, with validation): "
        "%.2f steps/s, %.1f samples/s\n",
        static_cast<long long>(trainer.world_size()), static_cast<long long>(steps), fit_seconds,
        static_cast<double>(steps) / fit_seconds,
        static_cast<double>(steps * flags.batch_size * trainer.world_size()) / fit_seconds);
    std::printf("final: epoch=%lld step=%lld train_loss=%s val_loss=%s val_acc=%s\n",
                static_cast<long long>(trainer.current_epoch()),
                static_cast<long long>(trainer.global_step()),
                metric(trainer, "train_loss").c_str(), metric(trainer, "val_loss").c_str(),
                metric(trainer, "val_acc").c_str());
    if (auto cb = trainer.checkpoint_callback()) {
      std::printf("best checkpoint: %s\n", cb->best_model_path().empty()
                                               ? "(none: no validation ran)"
                                               : cb->best_model_path().c_str());
      std::printf("last checkpoint: %s\n", cb->last_model_path().c_str());
    }

    // Greedy captions of a few validation images next to the truth.
    const int64_t shown = std::min<int64_t>(5, flags.val_size);
    std::vector<int64_t> first;
    for (int64_t i = 0; i < shown; ++i) first.push_back(i);
    Batch some = val_data->get_batch(first).to(trainer.device());
    model->eval();
    Tensor generated = model->generate(some[0], kBos, kCaptionLength - 1).cpu();
    const Tensor truth = some[2].cpu();
    for (int64_t i = 0; i < shown; ++i) {
      std::vector<int64_t> want = {kBos};
      for (int64_t v : truth.select(0, i).to_vector<int64_t>()) want.push_back(v);
      const std::vector<int64_t> got = generated.select(0, i).to_vector<int64_t>();
      std::printf("  truth: %-40s model: %s%s\n", vocabulary().decode(want).c_str(),
                  vocabulary().decode(got).c_str(), want == got ? "" : "   (differs)");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "captioning: %s\n", e.what());
    return 1;
  }
}
