#include "trainer/lightning_module.h"

#include <algorithm>
#include <cstdio>

#include "tensor/error.h"
#include "trainer/checkpoint.h"
#include "trainer/trainer.h"

namespace ember {

Tensor LightningModule::training_step(const Batch&, int64_t) {
  fail<ValueError>("training_step", name(), " does not override training_step, which fit needs");
}
void LightningModule::validation_step(const Batch&, int64_t) {
  fail<ValueError>("validation_step", name(),
                   " does not override validation_step, but a validation loader was given");
}
void LightningModule::test_step(const Batch&, int64_t) {
  fail<ValueError>("test_step", name(), " does not override test_step, which test needs");
}
Tensor LightningModule::predict_step(const Batch&, int64_t) {
  fail<ValueError>("predict_step", name(), " does not override predict_step, which predict needs");
}
OptimizerConfig LightningModule::configure_optimizers() {
  fail<ValueError>("configure_optimizers", name(),
                   " does not override configure_optimizers, which fit needs");
}

void LightningModule::log(const std::string& name, const Tensor& value, const LogOptions& options) {
  Trainer* t = live_trainer();
  if (!t) return;
  if (!value.defined()) fail<ValueError>("log", "'", name, "': the tensor is undefined");
  if (value.numel() != 1)
    fail<ValueError>("log", "'", name, "': only one-element tensors can be logged, got shape ",
                     str(value.sizes()));
  t->log_metric(name, value.detach(), options);  // read when shown or written, not now
}

void LightningModule::log(const std::string& name, double value, const LogOptions& options) {
  if (Trainer* t = live_trainer()) t->log_metric(name, value, options);
}

void LightningModule::log_dict(const std::map<std::string, Tensor>& values,
                               const LogOptions& options) {
  for (const auto& [k, v] : values) log(k, v, options);
}

void LightningModule::log_dict(const std::map<std::string, double>& values,
                               const LogOptions& options) {
  for (const auto& [k, v] : values) log(k, v, options);
}

Trainer& LightningModule::trainer() const {
  Trainer* t = live_trainer();
  if (!t) fail<ValueError>("LightningModule", name(), " is not attached to a Trainer");
  return *t;
}

int64_t LightningModule::current_epoch() const {
  Trainer* t = live_trainer();
  return t ? t->current_epoch() : 0;
}
int64_t LightningModule::global_step() const {
  Trainer* t = live_trainer();
  return t ? t->global_step() : 0;
}

namespace {
std::string keys_str(const std::vector<std::string>& keys) {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return "[" + s + "]";
}
}  // namespace

nn::LoadResult LightningModule::load_from_checkpoint(const std::string& path,
                                                     const LoadCheckpointOptions& options) {
  const Checkpoint ckpt = read_checkpoint(path);  // ValueError naming the path
  nn::StateDict state;
  for (const auto& [k, v] : ckpt.tensors)
    if (is_model_key(k)) state.insert(k, v);
  // Checked before anything changes: a module that does not fit stays as it was.
  const nn::StateDict own = state_dict();
  nn::LoadResult r;
  for (const auto& [k, v] : own) {
    const Tensor* t = state.find(k);
    if (!t) r.missing_keys.push_back(k);
    else if (t->sizes() != v.sizes())
      r.shape_mismatches.push_back(k + ": module " + str(v.sizes()) + ", checkpoint " +
                                   str(t->sizes()));
  }
  for (const auto& [k, v] : state)
    if (!own.contains(k)) r.unexpected_keys.push_back(k);
  if (!r.shape_mismatches.empty())
    fail<ValueError>("load_from_checkpoint", "'", path, "' does not fit ", name(),
                     ": shape mismatches ", keys_str(r.shape_mismatches));
  if (options.strict && !r.ok())
    fail<ValueError>("load_from_checkpoint", "'", path, "' does not fit ", name(),
                     " (strict=true): missing keys ", keys_str(r.missing_keys),
                     ", unexpected keys ", keys_str(r.unexpected_keys));
  // Lightning's messages for strict=False.
  if (!r.missing_keys.empty())
    std::fprintf(stderr,
                 "ember: load_from_checkpoint('%s'): Found keys that are in the model state dict "
                 "but not in the checkpoint: %s\n",
                 path.c_str(), keys_str(r.missing_keys).c_str());
  if (!r.unexpected_keys.empty())
    std::fprintf(stderr,
                 "ember: load_from_checkpoint('%s'): Found keys that are not in the model state "
                 "dict but in the checkpoint: %s\n",
                 path.c_str(), keys_str(r.unexpected_keys).c_str());

  // The saved hyperparameters, overridden by those this module saved when it was built.
  HParams merged = checkpoint_hparams(ckpt);
  for (const auto& mine : hparams_) {
    auto it = std::find_if(merged.begin(), merged.end(),
                           [&](const auto& p) { return p.first == mine.first; });
    if (it != merged.end()) it->second = mine.second;
    else merged.push_back(mine);
  }
  hparams_ = std::move(merged);
  on_load_checkpoint(ckpt);  // before the weights, as Lightning
  load_state_dict(state, false);
  if (options.map_location) to(*options.map_location);
  return r;
}

}  // namespace ember
