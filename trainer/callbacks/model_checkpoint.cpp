#include "trainer/callbacks/model_checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "trainer/callbacks/format_spec.h"
#include "trainer/trainer.h"

namespace ember {

namespace fs = std::filesystem;

SaveLast::SaveLast(const char* mode) : enabled(true), link(true) {
  if (mode == nullptr || std::string(mode) != "link")
    fail<ValueError>("ModelCheckpoint", "save_last must be true, false or \"link\", got \"",
                     mode ? mode : "(null)", "\"");
}

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.mode != "min" && o.mode != "max")
    fail<ValueError>("ModelCheckpoint", "mode must be \"min\" or \"max\", got \"", o.mode, "\"");
  if (o.save_top_k < -1)
    fail<ValueError>("ModelCheckpoint", "save_top_k must be >= -1, got ", o.save_top_k);
  if (o.monitor.empty() && o.save_top_k != -1 && o.save_top_k > 1)
    fail<ValueError>("ModelCheckpoint", "save_top_k=", o.save_top_k,
                     " needs a monitor to rank checkpoints by");
  if (o.every_n_train_steps < 0)
    fail<ValueError>("ModelCheckpoint", "every_n_train_steps must be >= 0");
  if (o.every_n_epochs && *o.every_n_epochs < 0)
    fail<ValueError>("ModelCheckpoint", "every_n_epochs must be >= 0");
  if (o.train_time_interval && o.train_time_interval->count() < 0)
    fail<ValueError>("ModelCheckpoint", "train_time_interval must be >= 0 seconds, got ",
                     o.train_time_interval->count());
  // Lightning: the three triggers are mutually exclusive.
  const int triggers = (o.every_n_train_steps >= 1) + (o.every_n_epochs.value_or(0) >= 1) +
                       o.train_time_interval.has_value();
  if (triggers > 1)
    fail<ValueError>("ModelCheckpoint", "every_n_train_steps=", o.every_n_train_steps,
                     ", every_n_epochs=", o.every_n_epochs.value_or(0), " and train_time_interval=",
                     o.train_time_interval ? std::to_string(o.train_time_interval->count()) + "s"
                                           : std::string("unset"),
                     " are mutually exclusive: set one");
  dirpath_ = o.dirpath;
}

std::string ModelCheckpoint::state_key() const {
  return "ModelCheckpoint{monitor=" + options_.monitor + ",mode=" + options_.mode +
         ",every_n_train_steps=" + std::to_string(options_.every_n_train_steps) +
         ",every_n_epochs=" + std::to_string(options_.every_n_epochs.value_or(-1)) +
         // Only when set, so the keys of checkpoints written before the option stay valid.
         (options_.train_time_interval
              ? ",train_time_interval=" + std::to_string(options_.train_time_interval->count())
              : std::string()) +
         "}";
}

void ModelCheckpoint::setup(Trainer& trainer, LightningModule&, const std::string&) {
  if (dirpath_.empty())
    dirpath_ = (fs::path(trainer.loggers().empty() ? trainer.options().default_root_dir
                                                   : trainer.log_dir()) /
                "checkpoints")
                   .string();
}

bool ModelCheckpoint::skip(const Trainer& t) const {
  return t.is_fast_dev_run() || t.fn() != TrainerFn::fit || t.sanity_checking() ||
         last_global_step_saved_ == t.global_step();
}

bool ModelCheckpoint::save_on_train_epoch_end(const Trainer& t) const {
  if (options_.save_on_train_epoch_end) return *options_.save_on_train_epoch_end;
  if (t.options().check_val_every_n_epoch != std::optional<int64_t>(1)) return false;
  if (!t.has_val_loader() || t.options().limit_val_batches.of(1 << 30) == 0) return true;
  const BatchCount& v = t.options().val_check_interval;
  return v.is_fraction && v.fraction == 1.0;
}

int64_t ModelCheckpoint::every_n_epochs() const {
  // Lightning: 1 when no trigger is set, else 0 unless given.
  const bool other = options_.every_n_train_steps > 0 || options_.train_time_interval;
  return options_.every_n_epochs.value_or(other ? 0 : 1);
}

std::chrono::steady_clock::time_point ModelCheckpoint::now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void ModelCheckpoint::on_train_start(Trainer&, LightningModule&) { last_time_checked_ = now(); }

// Lightning: a save whose monitor is not logged yet (a validation metric), or one at the
// epoch's last batch when a validation follows it and saving is after validation, waits
// for that validation, so the file and its name hold fresh values.
bool ModelCheckpoint::defer_to_validation(const Trainer& t, const MetricMap& m) const {
  if (options_.monitor.empty()) return false;
  if (!m.contains(options_.monitor)) return true;
  if (save_on_train_epoch_end(t) || t.batch_idx() + 1 != t.num_training_batches()) return false;
  const auto every = t.options().check_val_every_n_epoch;
  return t.has_val_loader() && t.options().limit_val_batches.of(1 << 30) > 0 &&
         (!every || (t.current_epoch() + 1) % *every == 0);
}

void ModelCheckpoint::on_train_batch_end(Trainer& t, LightningModule&, const Tensor&, const Batch&,
                                         int64_t) {
  const bool skip_batch =
      options_.every_n_train_steps < 1 || t.global_step() % options_.every_n_train_steps != 0;
  bool skip_time = true;
  const auto time = now();
  if (options_.train_time_interval)
    skip_time = !last_time_checked_ || time - *last_time_checked_ < *options_.train_time_interval;
  if (skip_batch && skip_time) return;
  if (!skip_time) last_time_checked_ = time;
  const MetricMap m = monitor_candidates(t);
  if (defer_to_validation(t, m)) {
    defer_save_until_validation_ = true;
    return;
  }
  if (skip(t)) return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_train_epoch_end(Trainer& t, LightningModule&) {
  const int64_t n = every_n_epochs();
  if (skip(t) || !save_on_train_epoch_end(t) || n < 1 || (t.current_epoch() + 1) % n != 0) return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_validation_end(Trainer& t, LightningModule&) {
  if (skip(t) || save_on_train_epoch_end(t)) return;
  if (defer_save_until_validation_) {
    defer_save_until_validation_ = false;
    save_topk_and_last(t);
    return;
  }
  const int64_t n = every_n_epochs();
  if (n < 1 || (t.current_epoch() + 1) % n != 0) return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_train_end(Trainer& t, LightningModule&) {
  if (!options_.save_last || t.is_fast_dev_run() || last_global_step_saved_ == t.global_step())
    return;
  // The newest saved file does not hold this final state, so last.ckpt is a full file
  // here even with save_last="link".
  const MetricMap m = monitor_candidates(t);
  last_checkpoint_saved_.clear();
  save_last(t, m);
  last_global_step_saved_ = t.global_step();
}

MetricMap ModelCheckpoint::monitor_candidates(Trainer& t) const {
  // Lightning's: the callback metrics, with "epoch" and "step" (the logged values as
  // integers if the module logged them, else the trainer's).
  MetricMap m = t.callback_metrics();
  const auto as_int = [&](const char* key, int64_t fallback) {
    auto it = m.find(key);
    m[key] = it != m.end() && std::isfinite(it->second) ? std::trunc(it->second)
                                                        : static_cast<double>(fallback);
  };
  as_int("epoch", t.current_epoch());
  as_int("step", t.global_step());
  return m;
}

void ModelCheckpoint::save_topk_and_last(Trainer& t) {
  // issue 17: every rank looks at the folder (unique names) before rank zero writes to it.
  t.strategy().barrier("ModelCheckpoint");
  const MetricMap m = monitor_candidates(t);
  if (options_.save_top_k != 0) save_topk(t, m);
  if (options_.save_last) save_last(t, m);
  last_global_step_saved_ = t.global_step();
}

bool ModelCheckpoint::better(double a, double b) const {
  return options_.mode == "min" ? a < b : a > b;
}

std::string ModelCheckpoint::format_name(int64_t epoch, int64_t step,
                                         const MetricMap& metrics) const {
  MetricMap m = metrics;
  m["epoch"] = static_cast<double>(epoch);
  m["step"] = static_cast<double>(step);
  const std::string path = format_checkpoint_name(m);
  const std::string prefix = dirpath_.empty() ? "" : (fs::path(dirpath_) / "").string();
  return path.substr(prefix.size(),
                     path.size() - prefix.size() - std::string(FILE_EXTENSION).size());
}

std::string ModelCheckpoint::format_checkpoint_name(const MetricMap& metrics,
                                                    const std::string& filename,
                                                    std::optional<int64_t> ver) const {
  const std::string tmpl = !filename.empty() ? filename
                           : !options_.filename.empty()
                               ? options_.filename
                               : std::string("{epoch}") + CHECKPOINT_JOIN_CHAR + "{step}";
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '{') {
      out += tmpl[i++];
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == std::string::npos)
      fail<ValueError>("ModelCheckpoint", "unclosed '{' in filename \"", tmpl, "\"");
    // Lightning's fields: the name runs to the first ':' (the format spec) or '}'.
    std::string name = tmpl.substr(i + 1, close - i - 1), spec;
    if (auto colon = name.find(':'); colon != std::string::npos) {
      spec = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    std::string text;
    try {
      // epoch and step are integers (Lightning casts them), a metric not logged is the
      // integer 0 (Lightning's torch.tensor(0)), any other metric a float.
      auto it = metrics.find(name);
      if (it == metrics.end()) text = format_number(int64_t{0}, spec);
      else if ((name == "epoch" || name == "step") && std::abs(it->second) < 9e18)
        text = format_number(static_cast<int64_t>(it->second), spec);
      else text = format_number(it->second, spec);
    } catch (const ValueError& e) {
      fail<ValueError>("ModelCheckpoint", "field '{", name, ":", spec, "}' of filename \"", tmpl,
                       "\": ", e.what());
    }
    out += options_.auto_insert_metric_name ? name + CHECKPOINT_EQUALS_CHAR + text : text;
    i = close + 1;
  }
  if (ver) out += std::string(CHECKPOINT_JOIN_CHAR) + "v" + std::to_string(*ver);
  out += FILE_EXTENSION;
  return dirpath_.empty() ? out : (fs::path(dirpath_) / out).string();
}

std::string ModelCheckpoint::unique_path(const MetricMap& m, const std::string& filename,
                                         const std::string& keep) const {
  std::string path = format_checkpoint_name(m, filename);
  if (!options_.enable_version_counter) return path;
  std::error_code ec;
  // A dangling link (save_last="link" whose target was removed) also counts as existing.
  for (int64_t v = STARTING_VERSION;
       fs::symlink_status(path, ec).type() != fs::file_type::not_found && path != keep; ++v)
    path = format_checkpoint_name(m, filename, v);
  return path;
}

void ModelCheckpoint::remove_file(const Trainer& t, const std::string& path) const {
  // Never a file outside this callback's folder (subfolders, from '/' in metric names,
  // count as inside), nor the one the fit resumed from.
  const fs::path rel = fs::path(path).lexically_relative(dirpath_);
  if (path.empty() || rel.empty() || *rel.begin() == ".." || path == t.ckpt_path()) return;
  if (!t.is_global_zero()) return;  // issue 17: rank zero owns the files
  std::error_code ec;
  fs::remove(path, ec);
}

void ModelCheckpoint::save_topk(Trainer& t, const MetricMap& m) {
  if (options_.monitor.empty()) {
    const std::string previous = best_model_path_;
    const std::string path = unique_path(m, "", previous);
    best_model_path_ = path;
    save_file(t, path);
    if (options_.save_top_k == 1 && !previous.empty() && previous != path) remove_file(t, previous);
    return;
  }
  auto it = m.find(options_.monitor);
  if (it == m.end()) {
    std::string available;
    for (const auto& [k, v] : m) available += (available.empty() ? "" : ", ") + k;
    const std::string msg = "monitor='" + options_.monitor + "' is not among the logged metrics [" +
                            available + "]; did the module log('" + options_.monitor + "', ...)?";
    // As Lightning: an error once validation has run, else (a fit stopped before its
    // first validation) a warning, and only last.ckpt is written.
    if (t.validated_in_fit()) fail<ValueError>("ModelCheckpoint", msg);
    if (!warned_missing_monitor_ && t.is_global_zero())  // issue 17: once, on rank zero
      std::fprintf(stderr, "ember: ModelCheckpoint: %s Skipping the top-k save.\n", msg.c_str());
    warned_missing_monitor_ = true;
    return;
  }
  double score = it->second;
  if (std::isnan(score))
    score = options_.mode == "min" ? std::numeric_limits<double>::infinity()
                                   : -std::numeric_limits<double>::infinity();
  const int64_t k = options_.save_top_k == -1 ? static_cast<int64_t>(best_k_models_.size()) + 1
                                              : options_.save_top_k;
  // issue 17: the ranks decide together (a monitor logged without sync_dist may differ).
  const bool enters =
      t.strategy().reduce_boolean_decision(static_cast<int64_t>(best_k_models_.size()) < k ||
                                           better(score, best_k_models_.at(kth_best_model_path_)));
  if (!enters) return;
  std::string removed;
  if (static_cast<int64_t>(best_k_models_.size()) == k && k > 0) {
    removed = kth_best_model_path_;
    best_k_models_.erase(removed);
  }
  const std::string path = unique_path(m, "", removed);
  best_k_models_[path] = score;
  // The worst kept (kth) and the best, recorded before saving so the file holds them.
  kth_best_model_path_ = path;
  best_model_path_ = path;
  for (const auto& [p, s] : best_k_models_) {
    if (better(best_k_models_.at(kth_best_model_path_), s)) kth_best_model_path_ = p;
    if (better(s, best_k_models_.at(best_model_path_))) best_model_path_ = p;
  }
  best_model_score_ = best_k_models_.at(best_model_path_);
  save_file(t, path);
  if (!removed.empty() && removed != path) remove_file(t, removed);
}

void ModelCheckpoint::save_file(Trainer& t, const std::string& path) {
  t.save_checkpoint(path, options_.save_weights_only);
  last_checkpoint_saved_ = path;
}

void ModelCheckpoint::link_or_copy(const std::string& target, const std::string& link) const {
  std::error_code ec;
  if (fs::absolute(target, ec) == fs::absolute(link, ec)) return;
  const fs::file_status st = fs::symlink_status(link, ec);
  if (fs::is_directory(st)) fs::remove_all(link, ec);
  else if (st.type() != fs::file_type::not_found) fs::remove(link, ec);
  // Relative, so the folder can be moved; a copy where the file system has no links.
  fs::create_symlink(fs::path(target).lexically_relative(fs::path(link).parent_path()), link, ec);
  if (!ec) return;
  fs::copy_file(target, link, fs::copy_options::overwrite_existing, ec);
  if (ec)
    fail<ValueError>("ModelCheckpoint", "cannot link or copy '", target, "' to '", link,
                     "': ", ec.message());
}

void ModelCheckpoint::save_last(Trainer& t, const MetricMap& m) {
  const std::string previous = last_model_path_;
  const std::string path = unique_path(m, CHECKPOINT_NAME_LAST, previous);
  // Set before saving: it is part of the callback's state in the file.
  last_model_path_ = path;
  if (options_.save_last.link && !last_checkpoint_saved_.empty() && options_.save_top_k != 0) {
    if (t.is_global_zero()) link_or_copy(last_checkpoint_saved_, path);
    t.strategy().barrier("ModelCheckpoint.link");  // issue 17: the link exists everywhere
  } else {
    save_file(t, path);
  }
  if (!previous.empty() && previous != path) remove_file(t, previous);
}

std::string ModelCheckpoint::state_dict() const {
  nlohmann::json best = nlohmann::json::object();
  for (const auto& [p, s] : best_k_models_)
    best[p] = std::isfinite(s) ? nlohmann::json(s) : nlohmann::json(std::to_string(s));
  nlohmann::json j = {
      {"monitor", options_.monitor},         {"dirpath", dirpath_},
      {"best_model_path", best_model_path_}, {"kth_best_model_path", kth_best_model_path_},
      {"last_model_path", last_model_path_}, {"best_k_models", best}};
  j["best_model_score"] = best_model_score_ && std::isfinite(*best_model_score_)
                              ? nlohmann::json(*best_model_score_)
                              : nlohmann::json(nullptr);
  return j.dump();
}

void ModelCheckpoint::load_state_dict(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    best_model_path_ = j.at("best_model_path");
    if (!j.at("best_model_score").is_null())
      best_model_score_ = j.at("best_model_score").get<double>();
    // The ranking only carries over into the same folder (a resumed run usually logs to
    // a new version_N), as Lightning.
    if (j.at("dirpath").get<std::string>() == dirpath_) {
      best_k_models_.clear();
      for (const auto& [p, s] : j.at("best_k_models").items())
        best_k_models_[p] = s.is_string() ? std::stod(s.get<std::string>()) : s.get<double>();
      kth_best_model_path_ = j.at("kth_best_model_path");
      last_model_path_ = j.at("last_model_path");
    }
  } catch (const nlohmann::json::exception& e) {
    fail<ValueError>("ModelCheckpoint", "malformed state in checkpoint: ", e.what());
  }
}

}  // namespace ember
