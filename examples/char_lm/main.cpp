// examples/char_lm: a character-level language model on the fortune-cookie text of Debian's
// `fortunes` package, trained by the Trainer on random windows. --model gpt (the default) is
// model.h's GPT with its lm head tied to the token embedding; AdamW with weight decay on the
// matrices only (nanoGPT's two groups), linear warmup then cosine decay to lr/10 per step,
// gradient clipping at 1.0.
//
//   char_lm [--model gpt|lstm|gru] [--max-steps N] [--batch-size N] [--lr X]
//           [--weight-decay X] [--warmup N] [--layers N] [--heads N] [--width N]
//           [--context N] [--val-every N] [--val-batches N] [--accelerator auto|cpu|cuda|sim]
//           [--seed N] [--default-root-dir DIR] [--ckpt-path PATH|last] [--data-dir DIR]
//           [--threads N] [--prompt TEXT] [--sample-chars N] [--temperature X] [--top-k N]
//
// Ends with `final: step=S train_loss=X val_loss=Y` (mean cross-entropy, nats per
// character), then `sample:` and the characters drawn after the prompt.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <random>
#include <string>

#include "char_lm/data.h"
#include "char_lm/model.h"
#include "common/flags.h"

using namespace ember;
using namespace char_lm;

namespace {

struct Flags {
  std::string model = "gpt";
  int64_t max_steps = 2000;
  int64_t batch_size = 32;
  double lr = 1e-3;
  double weight_decay = 0.1;
  int64_t warmup = 100;
  int64_t layers = 4, heads = 4, width = 128, context = 128;
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
               "--weight-decay X, --warmup N, --layers N, --heads N, --width N, --context N, "
               "--val-every N, --val-batches N, --accelerator auto|cpu|cuda|sim, --seed N, "
               "--default-root-dir DIR, --ckpt-path PATH|last, --data-dir DIR, --threads N, "
               "--prompt TEXT, --sample-chars N, --temperature X, --top-k N\n",
               why.c_str());
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
  std::shared_ptr<GPT> net;
  Flags flags;

  CharLM(std::shared_ptr<GPT> net_, Flags f) : flags(std::move(f)) {
    // The GPT's children under their own names, so the checkpoint's keys are nanoGPT's.
    net = std::move(net_);
    for (const auto& [name, child] : net->named_children()) register_module(name, child);
  }
  Tensor loss(const Batch& batch) {
    auto [x, y] = batch.unpack<2>();  // (B, T), (B, T)
    Tensor logits = net->forward(x);  // (B, T, vocab)
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

// Draws `n` characters after the prompt: the last row of logits over temperature, cut to its
// top k, softmax, and an inverse-CDF draw. On the host: topk and multinomial are the `sort`
// engineer's ops (issue 15), not on this branch yet.
std::string sample(GPT& net, const Vocab& vocab, const Flags& f) {
  NoGradGuard no_grad;
  net.eval();
  std::vector<int64_t> tokens = vocab.encode(f.prompt);
  std::mt19937_64 rng(f.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const Device device = net.parameters().front().device();
  for (int64_t i = 0; i < f.sample_chars; ++i) {
    const auto from = static_cast<ptrdiff_t>(
        std::max<int64_t>(0, static_cast<int64_t>(tokens.size()) - net.config.context));
    std::vector<int64_t> window(tokens.begin() + from, tokens.end());
    const auto T = static_cast<int64_t>(window.size());
    Tensor logits = net.forward(from_vector(window, {1, T}, device));
    const Tensor row =
        logits.select(1, T - 1).reshape({-1}).to(Device::cpu()).to(DType::f64).contiguous();
    const auto* p = static_cast<const double*>(row.raw_data());
    std::vector<std::pair<double, int64_t>> scored;
    for (int64_t v = 0; v < vocab.size(); ++v) scored.emplace_back(p[v] / f.temperature, v);
    const auto k = static_cast<size_t>(std::min<int64_t>(f.top_k, vocab.size()));
    std::partial_sort(scored.begin(), scored.begin() + static_cast<ptrdiff_t>(k), scored.end(),
                      [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<double> w(k);
    double total = 0;
    for (size_t j = 0; j < k; ++j) total += w[j] = std::exp(scored[j].first - scored[0].first);
    double u = unit(rng) * total;
    size_t pick = 0;
    while (pick + 1 < k && u >= w[pick]) u -= w[pick++];
    tokens.push_back(scored[pick].second);
  }
  return vocab.decode(tokens);
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = parse(argc, argv);
  if (flags.threads > 0) omp_set_num_threads(static_cast<int>(flags.threads));
  try {
    if (flags.model != "gpt")
      fail<ValueError>("char_lm", "--model ", flags.model,
                       " is not available yet: nn::LSTM and nn::GRU land with issue 15's "
                       "recurrent layers; use --model gpt");
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
    auto net = std::make_shared<GPT>(GPTConfig{.vocab_size = vocab.size(),
                                               .context = flags.context,
                                               .n_layer = flags.layers,
                                               .n_head = flags.heads,
                                               .n_embd = flags.width});
    auto model = std::make_shared<CharLM>(net, flags);
    model->save_hyperparameters({{"model", flags.model},
                                 {"lr", flags.lr},
                                 {"batch_size", flags.batch_size},
                                 {"context", flags.context},
                                 {"seed", static_cast<int64_t>(flags.seed)},
                                 {"parameters", model->num_parameters()}});
    std::printf("model: gpt, %lld parameters\n", static_cast<long long>(model->num_parameters()));
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
    std::printf("sample:\n%s\n", sample(*net, vocab, flags).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "char_lm: %s\n", e.what());
    return 1;
  }
}
