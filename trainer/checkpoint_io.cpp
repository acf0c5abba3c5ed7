// Checkpoints: what a save holds (trainer/checkpoint.h), reading and validating one, and
// restoring a model and a fit's state from it.
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "trainer/checkpoint.h"
#include "trainer/trainer_hooks.h"

#ifndef EMBER_VERSION_STRING
#define EMBER_VERSION_STRING "unknown"
#endif

namespace ember {

namespace {
// Every optimizer's and scheduler config's state, by its index in configure_optimizers'
// order: "optimizer_states.<i>.<key>", "lr_schedulers.<i>.<key>" (Lightning's lists).
std::string optimizer_prefix(size_t i) { return "optimizer_states." + std::to_string(i) + "."; }
std::string scheduler_prefix(size_t i) { return "lr_schedulers." + std::to_string(i) + "."; }
// How many of the lists a checkpoint holds (the count of consecutive indices present).
size_t count_prefixed(const nn::StateDict& all, std::string (*prefix)(size_t)) {
  size_t n = 0;
  for (;; ++n) {
    const std::string p = prefix(n);
    bool found = false;
    for (const auto& [k, v] : all)
      if (k.starts_with(p)) {
        found = true;
        break;
      }
    if (!found) return n;
  }
}

nn::StateDict with_prefix(const nn::StateDict& all, const std::string& prefix) {
  nn::StateDict out;
  for (const auto& [k, v] : all)
    if (k.starts_with(prefix)) out.insert(k.substr(prefix.size()), v);
  return out;
}

std::string list_str(const std::vector<std::string>& v, size_t max = 8) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return "[" + s + "]";
}
}  // namespace

std::string ember_version() { return EMBER_VERSION_STRING; }

bool is_model_key(const std::string& key) {
  return !key.starts_with("optimizer_states.") && !key.starts_with("lr_schedulers.") &&
         !key.starts_with("extra.") &&
         !key.starts_with("MixedPrecision.");  // the GradScaler (issue 16, scaler)
}

Checkpoint read_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail<ValueError>("checkpoint", "'", path, "' does not exist or is not a file");
  nn::SafetensorsFile file;
  try {
    file = nn::load_safetensors(path);
  } catch (const std::exception& e) {
    fail<ValueError>("checkpoint", "'", path,
                     "' is not a readable checkpoint (corrupt or truncated?): ", e.what());
  }
  auto it = file.metadata.find(kCheckpointFormatKey);
  if (it == file.metadata.end())
    fail<ValueError>("checkpoint", "'", path,
                     "' is a safetensors file but not an ember checkpoint (no '",
                     kCheckpointFormatKey, "' in its metadata)");
  if (it->second != kCheckpointFormatVersion)
    fail<ValueError>("checkpoint", "'", path, "' has checkpoint format ", it->second,
                     "; this ember reads format ", kCheckpointFormatVersion);
  return Checkpoint{std::move(file.tensors), std::move(file.metadata)};
}

HParams checkpoint_hparams(const Checkpoint& ckpt) {
  auto it = ckpt.metadata.find("hyper_parameters");
  return it == ckpt.metadata.end() ? HParams{} : hparams_from_json(it->second);
}

ResumeState parse_resume_state(const Checkpoint& ckpt, const std::string& path) {
  // Lightning refuses it too ("checkpoint contains only the model").
  if (auto it = ckpt.metadata.find(kWeightsOnlyKey);
      it != ckpt.metadata.end() && it->second == "true")
    fail<ValueError>("checkpoint", "'", path,
                     "' is a weights-only checkpoint (saved with weights_only=true or "
                     "ModelCheckpoint's save_weights_only): it has no optimizer, loop or callback "
                     "state to resume fit from; load its weights into the model and fit without "
                     "ckpt_path");
  ResumeState r;
  std::string field = "loops";
  try {
    const auto get = [&](const char* key) -> const std::string& {
      field = key;
      auto it = ckpt.metadata.find(key);
      if (it == ckpt.metadata.end()) throw std::runtime_error("missing");
      return it->second;
    };
    const auto loops = nlohmann::json::parse(get("loops"));
    field = "loops";
    r.epoch = loops.at("epoch");
    r.global_step = loops.at("global_step");
    r.batches_that_stepped = loops.at("batches_that_stepped");
    r.batches_done = loops.at("batches_done");
    r.total_batch_idx = loops.at("total_batch_idx");
    r.phase = loops.at("phase");
    r.stepped = loops.at("stepped");
    r.train_results = loops.at("train_results");
    for (const auto& [k, v] : loops.at("callback_metrics").items())
      r.callback_metrics[k] = v.is_number() ? v.get<double>() : std::stod(v.get<std::string>());
    if (r.phase != "batch" && r.phase != "validated" && r.phase != "epoch_end")
      throw std::runtime_error("bad phase");
    if (r.epoch < 0 || r.global_step < 0 || r.batches_done < 0)
      throw std::runtime_error("negative counter");
    const auto rng = nlohmann::json::parse(get("rng"));
    field = "rng";
    r.rng.seed = rng.at("seed");
    r.rng.offset = rng.at("offset");
    const auto callbacks = nlohmann::json::parse(get("callbacks"));
    field = "callbacks";
    for (const auto& [k, v] : callbacks.items()) r.callback_states[k] = v.get<std::string>();
  } catch (const std::exception& e) {
    fail<ValueError>("checkpoint", "'", path, "' has a malformed or missing '", field,
                     "' entry in its metadata (", e.what(), ")");
  }
  return r;
}

void write_resume_state(const ResumeState& r, std::map<std::string, std::string>& metadata) {
  nlohmann::json metrics = nlohmann::json::object();
  for (const auto& [k, v] : r.callback_metrics)
    metrics[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(std::to_string(v));
  const nlohmann::json loops = {{"epoch", r.epoch},
                                {"global_step", r.global_step},
                                {"batches_that_stepped", r.batches_that_stepped},
                                {"batches_done", r.batches_done},
                                {"total_batch_idx", r.total_batch_idx},
                                {"phase", r.phase},
                                {"stepped", r.stepped},
                                {"train_results", r.train_results},
                                {"callback_metrics", metrics}};
  metadata["loops"] = loops.dump();
  metadata["rng"] = nlohmann::json{{"seed", r.rng.seed}, {"offset", r.rng.offset}}.dump();
  nlohmann::json callbacks = nlohmann::json::object();
  for (const auto& [k, v] : r.callback_states) callbacks[k] = v;
  metadata["callbacks"] = callbacks.dump();
  metadata["epoch"] = std::to_string(r.epoch);
  metadata["global_step"] = std::to_string(r.global_step);
}

// ---- Trainer ----------------------------------------------------------------------------------

Checkpoint Trainer::dump_checkpoint(bool weights_only) {
  LightningModule& m = lightning_module();
  Checkpoint ckpt;
  for (const auto& [k, v] : m.state_dict()) ckpt.tensors.insert(k, v);
  if (weights_only) {
    // As Lightning's dump_checkpoint(weights_only=True): the model's state, the counters
    // and hyperparameters; only the module's on_save_checkpoint runs (not the callbacks').
    ckpt.metadata[kCheckpointFormatKey] = kCheckpointFormatVersion;
    ckpt.metadata["ember_version"] = ember_version();
    ckpt.metadata["hyper_parameters"] = hparams_to_json(m.hparams());
    ckpt.metadata["epoch"] = std::to_string(current_epoch_);
    ckpt.metadata["global_step"] = std::to_string(global_step_);
    ckpt.metadata[kWeightsOnlyKey] = "true";
    FxScope fx(*this, "on_save_checkpoint");
    m.on_save_checkpoint(ckpt);
    return ckpt;
  }
  for (size_t i = 0; i < optimizers_.size(); ++i)
    for (const auto& [k, v] : optimizers_[i]->state_dict())
      ckpt.tensors.insert(optimizer_prefix(i) + k, v);
  for (size_t i = 0; i < scheduler_configs_.size(); ++i) {
    const SchedulerConfig& s = scheduler_configs_[i];
    const nn::StateDict state = s.scheduler ? s.scheduler->state_dict() : s.plateau->state_dict();
    for (const auto& [k, v] : state) ckpt.tensors.insert(scheduler_prefix(i) + k, v);
  }
  {  // the precision plugin's state (the GradScaler's, under Lightning's "MixedPrecision")
    const std::string key = precision_->state_key();
    for (const auto& [k, v] : precision_->state_dict()) ckpt.tensors.insert(key + "." + k, v);
  }

  ResumeState r;
  r.epoch = current_epoch_;
  r.global_step = global_step_;
  r.batches_that_stepped = batches_that_stepped_;
  r.batches_done = batches_done_;
  r.total_batch_idx = total_batch_idx_;
  r.phase = phase_;
  r.stepped = last_stepped_;
  r.train_results = train_results_.to_json();
  r.callback_metrics = callback_metrics();
  r.rng = get_rng_state();
  for (const auto& c : callbacks_) {
    std::string state = c->state_dict();
    if (!state.empty()) r.callback_states[c->state_key()] = std::move(state);
  }
  ckpt.metadata[kCheckpointFormatKey] = kCheckpointFormatVersion;
  ckpt.metadata["ember_version"] = ember_version();
  ckpt.metadata["hyper_parameters"] = hparams_to_json(m.hparams());
  // Names, comma-separated in configure_optimizers' order.
  for (const auto& o : optimizers_)
    ckpt.metadata["optimizer"] += (ckpt.metadata["optimizer"].empty() ? "" : ",") + o->name();
  for (const SchedulerConfig& s : scheduler_configs_)
    ckpt.metadata["lr_scheduler"] += (ckpt.metadata["lr_scheduler"].empty() ? "" : ",") +
                                     (s.scheduler ? s.scheduler->name() : "ReduceLROnPlateau");
  // The DataModule's state and hyperparameters (data): Lightning keys the state by the
  // class name; ember has no portable class name, so "datamodule".
  if (datamodule_) {
    std::string state = datamodule_->state_dict();
    if (!state.empty()) ckpt.metadata["datamodule"] = std::move(state);
    if (!datamodule_->hparams().empty())
      ckpt.metadata["datamodule_hyper_parameters"] = hparams_to_json(datamodule_->hparams());
  }
  write_resume_state(r, ckpt.metadata);
  EMBER_HOOKS(on_save_checkpoint, ckpt);
  return ckpt;
}

void Trainer::save_checkpoint(const std::string& path, bool weights_only) {
  if (!model_)
    fail<ValueError>("save_checkpoint", "no model is attached (call it during fit, or after)");
  Checkpoint ckpt = dump_checkpoint(weights_only);
  // issue 17: global rank zero writes (the ranks' states are equal under ddp); every rank
  // waits until the file exists, as Lightning's strategy.barrier("Trainer.save_checkpoint").
  if (is_global_zero()) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec)
      fail<ValueError>("save_checkpoint", "cannot create '", parent.string(), "': ", ec.message());
    nn::save_safetensors(path, ckpt.tensors, ckpt.metadata);
  }
  strategy_->barrier("Trainer.save_checkpoint");
}

void Trainer::restore_model(const Checkpoint& ckpt, const std::string& path) {
  LightningModule& m = lightning_module();
  nn::StateDict state;
  for (const auto& [k, v] : ckpt.tensors)
    if (is_model_key(k)) state.insert(k, v);
  // Checked before anything is loaded, so a model that does not fit stays as it was.
  const nn::StateDict own = m.state_dict();
  std::vector<std::string> missing, unexpected, shapes;
  for (const auto& [k, v] : own) {
    const Tensor* t = state.find(k);
    if (!t) missing.push_back(k);
    else if (t->sizes() != v.sizes())
      shapes.push_back(k + ": model " + str(v.sizes()) + ", checkpoint " + str(t->sizes()));
  }
  for (const auto& [k, v] : state)
    if (!own.contains(k)) unexpected.push_back(k);
  if (!missing.empty() || !unexpected.empty() || !shapes.empty())
    fail<ValueError>("checkpoint", "'", path, "' does not fit the model: missing keys ",
                     list_str(missing), ", unexpected keys ", list_str(unexpected),
                     ", shape mismatches ", list_str(shapes));
  {
    FxScope fx(*this, "on_load_checkpoint");
    m.on_load_checkpoint(ckpt);
  }
  m.load_state_dict(state, true);
}

void Trainer::restore_training_state(const Checkpoint& ckpt, const ResumeState& r) {
  const size_t n_opt = count_prefixed(ckpt.tensors, optimizer_prefix);
  if (n_opt == 0) fail<ValueError>("checkpoint", "has no optimizer state to resume from");
  if (n_opt != optimizers_.size())
    fail<ValueError>("checkpoint", "has the state of ", n_opt,
                     " optimizer(s), but configure_optimizers returned ", optimizers_.size());
  const size_t n_sched = count_prefixed(ckpt.tensors, scheduler_prefix);
  if (n_sched != scheduler_configs_.size())
    fail<ValueError>("checkpoint", "has the state of ", n_sched,
                     " lr scheduler(s), but configure_optimizers returned ",
                     scheduler_configs_.size());
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    try {
      optimizers_[i]->load_state_dict(with_prefix(ckpt.tensors, optimizer_prefix(i)));
    } catch (const Error& e) {
      fail<ValueError>("checkpoint", "the state of optimizer ", i,
                       " does not fit the optimizer configure_optimizers built: ", e.what());
    }
  }
  for (size_t i = 0; i < scheduler_configs_.size(); ++i) {
    const SchedulerConfig& s = scheduler_configs_[i];
    const nn::StateDict state = with_prefix(ckpt.tensors, scheduler_prefix(i));
    if (s.scheduler) s.scheduler->load_state_dict(state);
    else s.plateau->load_state_dict(state);
  }
  if (const std::string key = precision_->state_key(); !key.empty())  // issue 16, scaler
    precision_->load_state_dict(with_prefix(ckpt.tensors, key + "."));
  current_epoch_ = r.epoch;
  global_step_ = r.global_step;
  batches_that_stepped_ = r.batches_that_stepped;
  total_batch_idx_ = r.total_batch_idx;
  callback_values_.clear();
  for (const auto& [k, v] : r.callback_metrics) callback_values_[k] = v;
  callback_metrics_ = r.callback_metrics;
  for (const auto& c : callbacks_) {
    auto it = r.callback_states.find(c->state_key());
    if (it != r.callback_states.end()) c->load_state_dict(it->second);
  }
  call_callbacks(
      "on_load_checkpoint", [&](Callback& c) { c.on_load_checkpoint(*this, *model_, ckpt); },
      [](const Callback&) { return true; });
  resume_ = r;
}

}  // namespace ember
