// examples/char_lm: a character-level language model on the fortune-cookie text of Debian's
// `fortunes` package, trained by the Trainer on random windows. --model gpt (the default) is
// model.h's GPT with its lm head tied to the token embedding; --model lstm|gru is
// rnn_model.h's embedding, 2-layer nn::LSTM / nn::GRU and linear head (--layers and --width are
// then the recurrent net's layers and hidden size). AdamW with weight decay on the matrices
// only (nanoGPT's two groups), linear warmup then cosine decay to lr/10 per step, gradient
// clipping at 1.0, for every model.
//
//   char_lm [--model gpt|lstm|gru] [--max-steps N] [--batch-size N] [--lr X]
//           [--weight-decay X] [--warmup N] [--layers N] [--heads N] [--width N]
//           [--context N] [--val-every N] [--val-batches N] [--accelerator auto|cpu|cuda|sim]
//           [--seed N] [--default-root-dir DIR] [--ckpt-path PATH|last] [--data-dir DIR]
//           [--threads N] [--prompt TEXT] [--sample-chars N] [--temperature X] [--top-k N]
//
// Defaults of --layers, --width, --max-steps, --lr: gpt 4, 128, 2500, 2e-3; lstm/gru 2, 256,
// 800, 2e-3.
//
// Ends with `final: step=S train_loss=X val_loss=Y` (mean cross-entropy, nats per
// character), then `sample:` and the characters drawn after the prompt: top-k of the logits
// over temperature, softmax and multinomial (ember ops, on the model's device), from the
// generator seeded with --seed, so a run's sample is reproducible.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <string>

#include "char_lm/data.h"
#include "char_lm/model.h"
#include "char_lm/rnn_model.h"
#include "char_lm/sample.h"
#include "common/flags.h"

using namespace ember;
using namespace char_lm;

namespace {

// The recurrent models' defaults (--model lstm|gru), picked to reach the issue's
// val_loss <= 2.0 within the 10-minute budget on the 2-core CPU (docs/sequence.md).
constexpr int64_t kRnnLayers = 2, kRnnWidth = 256, kRnnSteps = 800;
constexpr double kRnnLr = 2e-3;

struct Flags {
  std::string model = "gpt";
  int64_t max_steps = 0;  // 0 until parsed: the model's default
  int64_t batch_size = 32;
  double lr = 0;  // 0 until parsed: the model's default
  double weight_decay = 0.1;
  int64_t warmup = 100;
  int64_t layers = 0, heads = 4, width = 0, context = 128;  // layers, width: 0 as max_steps
  int64_t val_every = 250, val_batches = 16;
  std::string accelerator = "cpu";
  uint64_t seed = 0;
  std::string default_root_dir = "runs/char_lm";
  std::string ckpt_path;
  std::string data_dir = kDefaultDir;
  int64_t threads = 0;  // 0: every core (or OMP_NUM_THREADS)
  std::string prompt = "The ";
  int64_t sample_chars = 300;
  double temperature = 0.8;
  int64_t top_k = 20;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "char_lm: %s\nflags: --model gpt|lstm|gru, --max-steps N, --batch-size N, --lr X, "
               "--weight-decay X, --warmup N, --layers N, --heads N, --width N, --context N "
               "(--layers/--width: the GPT's blocks and width, or the LSTM/GRU's layers and "
               "hidden size; defaults gpt 4/128, 2500 steps, lr 2e-3; lstm/gru %lld/%lld, %lld "
               "steps, lr %g), "
               "--val-every N, --val-batches N, --accelerator auto|cpu|cuda|sim, --seed N, "
               "--default-root-dir DIR, --ckpt-path PATH|last, --data-dir DIR, --threads N, "
               "--prompt TEXT, --sample-chars N, --temperature X, --top-k N\n",
               why.c_str(), static_cast<long long>(kRnnLayers), static_cast<long long>(kRnnWidth),
               static_cast<long long>(kRnnSteps), kRnnLr);
  std::exit(2);
}

Flags parse(int argc, char** argv) {
  Flags f;
  const examples::FlagValues flags(argc, argv, usage, "trains a character-level LM on fortunes");
  for (const auto& [k, v] : flags.values()) {
    if (k == "model") f.model = v;
    else if (k == "max-steps") f.max_steps = flags.integer(k, v);
    else if (k == "max-epochs") flags.integer(k, v);  // accepted; windows are drawn per step
    else if (k == "batch-size") f.batch_size = flags.integer(k, v);
    else if (k == "lr") f.lr = flags.number(k, v);
    else if (k == "weight-decay") f.weight_decay = flags.number(k, v);
    else if (k == "warmup") f.warmup = flags.integer(k, v);
    else if (k == "layers") f.layers = flags.integer(k, v);
    else if (k == "heads") f.heads = flags.integer(k, v);
    else if (k == "width") f.width = flags.integer(k, v);
    else if (k == "context") f.context = flags.integer(k, v);
    else if (k == "val-every") f.val_every = flags.integer(k, v);
    else if (k == "val-batches") f.val_batches = flags.integer(k, v);
    else if (k == "accelerator") f.accelerator = v;
    else if (k == "seed") f.seed = static_cast<uint64_t>(flags.integer(k, v));
    else if (k == "default-root-dir") f.default_root_dir = v;
    else if (k == "ckpt-path") f.ckpt_path = v;
    else if (k == "data-dir") f.data_dir = v;
    else if (k == "threads") f.threads = flags.integer(k, v);
    else if (k == "prompt") f.prompt = v;
    else if (k == "sample-chars") f.sample_chars = flags.integer(k, v);
    else if (k == "temperature") f.temperature = flags.number(k, v);
    else if (k == "top-k") f.top_k = flags.integer(k, v);
    else usage("unknown flag --" + k);
  }
  if (f.model != "gpt" && f.model != "lstm" && f.model != "gru")
    usage("--model must be gpt, lstm or gru, got '" + f.model + "'");
  const bool gpt = f.model == "gpt";
  if (!flags.values().count("layers")) f.layers = gpt ? 4 : kRnnLayers;
  if (!flags.values().count("width")) f.width = gpt ? 128 : kRnnWidth;
  if (!flags.values().count("max-steps")) f.max_steps = gpt ? 2500 : kRnnSteps;
  if (!flags.values().count("lr")) f.lr = gpt ? 2e-3 : kRnnLr;
  if (f.layers < (gpt ? 0 : 1) || f.width < 1) usage("--layers and --width must be positive");
  if (f.batch_size < 1 || f.context < 1 || f.max_steps < 1 || f.val_batches < 1)
    usage("--batch-size, --context, --max-steps and --val-batches must be positive");
  if (!(f.temperature > 0) || f.top_k < 1) usage("--temperature and --top-k must be positive");
  return f;
}

// nanoGPT's schedule as a factor of lr: linear warmup from lr/warmup, then cosine to lr/10.
double schedule(int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double t = static_cast<double>(step - warmup) /
                   static_cast<double>(std::max<int64_t>(total - warmup, 1));
  return 0.1 + 0.9 * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(t, 1.0)));
}

struct CharLM : LightningModule {
  std::shared_ptr<nn::Module> net;
  Forward forward;
  Flags flags;

  CharLM(std::shared_ptr<nn::Module> net_, Forward forward_, Flags f)
      : forward(std::move(forward_)), flags(std::move(f)) {
    // The net's children under their own names, so the checkpoint's keys are nanoGPT's
    // (wte, h.0...) or torch's (embed, rnn.weight_ih_l0, head).
    net = std::move(net_);
    for (const auto& [name, child] : net->named_children()) register_module(name, child);
  }
  Tensor loss(const Batch& batch) {
    auto [x, y] = batch.unpack<2>();  // (B, T), (B, T)
    Tensor logits = forward(x);       // (B, T, vocab)
    return nn::F::cross_entropy(logits.view({-1, logits.size(2)}), y.view({-1}));
  }
  Tensor training_step(const Batch& batch, int64_t) override {
    Tensor l = loss(batch);
    log("train_loss", l, {.prog_bar = true});
    return l;
  }
  void validation_step(const Batch& batch, int64_t) override {
    log("val_loss", loss(batch), {.prog_bar = true});
  }
  // Decay on the 2-D+ parameters (the Linear matrices and the embeddings, the tied one
  // once), none on biases and LayerNorm's, as nanoGPT's configure_optimizers.
  OptimizerConfig configure_optimizers() override {
    std::vector<Tensor> decay, no_decay;
    for (const Tensor& p : net->parameters()) (p.dim() >= 2 ? decay : no_decay).push_back(p);
    auto opt = optim::AdamW::make(
        {{decay, {.weight_decay = flags.weight_decay}}, {no_decay, {.weight_decay = 0.0}}},
        {.lr = flags.lr, .betas = std::pair{0.9, 0.99}});
    const int64_t warmup = flags.warmup, total = flags.max_steps;
    auto sched = std::make_shared<optim::LambdaLR>(
        opt, [=](int64_t step) { return schedule(step, warmup, total); });
    return {opt, {.scheduler = sched, .interval = "step"}};
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
    const std::string text = load_fortunes(flags.data_dir);
    const Vocab vocab(text);
    std::vector<int64_t> all = vocab.encode(text);
    const auto cut = static_cast<ptrdiff_t>(all.size() * 9 / 10);  // 90/10 by position
    auto train_tokens =
        std::make_shared<const std::vector<int64_t>>(all.begin(), all.begin() + cut);
    auto val_tokens = std::make_shared<const std::vector<int64_t>>(all.begin() + cut, all.end());
    std::printf("corpus: %zu characters, vocabulary %lld, train %zu, val %zu\n", all.size(),
                static_cast<long long>(vocab.size()), train_tokens->size(), val_tokens->size());

    // One "epoch" holds every step's windows; validation every val_every steps on a fixed set.
    auto train_data = std::make_shared<Windows>(train_tokens, flags.context,
                                                flags.max_steps * flags.batch_size, flags.seed);
    auto val_data = std::make_shared<Windows>(val_tokens, flags.context,
                                              flags.val_batches * flags.batch_size, flags.seed + 1);
    DataLoader train_loader(train_data, {.batch_size = flags.batch_size});
    DataLoader val_loader(val_data, {.batch_size = flags.batch_size});

    manual_seed(flags.seed);  // the initial weights
    std::shared_ptr<nn::Module> net;
    std::shared_ptr<RNNLM> rnn;
    Forward forward;
    if (flags.model == "gpt") {
      auto gpt = std::make_shared<GPT>(GPTConfig{.vocab_size = vocab.size(),
                                                 .context = flags.context,
                                                 .n_layer = flags.layers,
                                                 .n_head = flags.heads,
                                                 .n_embd = flags.width});
      forward = [gpt](const Tensor& x) { return gpt->forward(x); };
      net = gpt;
    } else {
      rnn = std::make_shared<RNNLM>(RNNLMConfig{.vocab_size = vocab.size(),
                                                .cell = flags.model,
                                                .n_layer = flags.layers,
                                                .hidden = flags.width});
      forward = [r = rnn](const Tensor& x) { return r->forward(x); };
      net = rnn;
    }
    auto model = std::make_shared<CharLM>(net, forward, flags);
    model->save_hyperparameters({{"model", flags.model},
                                 {"layers", flags.layers},
                                 {"width", flags.width},
                                 {"lr", flags.lr},
                                 {"batch_size", flags.batch_size},
                                 {"context", flags.context},
                                 {"seed", static_cast<int64_t>(flags.seed)},
                                 {"parameters", model->num_parameters()}});
    std::printf("model: %s, %lld layers, width %lld, %lld parameters\n", flags.model.c_str(),
                static_cast<long long>(flags.layers), static_cast<long long>(flags.width),
                static_cast<long long>(model->num_parameters()));
    Trainer trainer(
        {.max_epochs = 1,
         .max_steps = flags.max_steps,
         .accelerator = flags.accelerator,
         .gradient_clip_val = 1.0,
         .val_check_interval = std::min(flags.val_every, flags.max_steps),
         .num_sanity_val_steps = 0,
         .log_every_n_steps = 25,
         .seed = flags.seed,
         .default_root_dir = flags.default_root_dir,
         .logger = std::vector<std::shared_ptr<Logger>>{CSVLogger::make(flags.default_root_dir)}});
    const auto t0 = std::chrono::steady_clock::now();
    trainer.fit(model, train_loader, val_loader, flags.ckpt_path);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (trainer.global_step() % std::min(flags.val_every, flags.max_steps) != 0)
      trainer.validate(model, val_loader);
    std::printf("time: %.1f s, %.1f ms per step\n", secs,
                1e3 * secs / static_cast<double>(std::max<int64_t>(trainer.global_step(), 1)));
    std::printf("final: step=%lld train_loss=%s val_loss=%s\n",
                static_cast<long long>(trainer.global_step()),
                metric(trainer, "train_loss").c_str(), metric(trainer, "val_loss").c_str());
    std::printf("sample:\n%s\n", sample(*net, forward, rnn.get(), flags.context, vocab,
                                        {.prompt = flags.prompt,
                                         .chars = flags.sample_chars,
                                         .temperature = flags.temperature,
                                         .top_k = flags.top_k,
                                         .seed = flags.seed})
                                     .c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "char_lm: %s\n", e.what());
    return 1;
  }
}
