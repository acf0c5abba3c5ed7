#include "trainer/callbacks/model_checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

namespace fs = std::filesystem;

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
  dirpath_ = o.dirpath;
}

std::string ModelCheckpoint::state_key() const {
  return "ModelCheckpoint{monitor=" + options_.monitor + ",mode=" + options_.mode +
         ",every_n_train_steps=" + std::to_string(options_.every_n_train_steps) +
         ",every_n_epochs=" + std::to_string(options_.every_n_epochs.value_or(-1)) + "}";
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

void ModelCheckpoint::on_train_batch_end(Trainer& t, LightningModule&, const Tensor&, const Batch&,
                                         int64_t) {
  if (skip(t) || options_.every_n_train_steps < 1 ||
      t.global_step() % options_.every_n_train_steps != 0)
    return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_train_epoch_end(Trainer& t, LightningModule&) {
  const int64_t n = options_.every_n_epochs.value_or(options_.every_n_train_steps > 0 ? 0 : 1);
  if (skip(t) || !save_on_train_epoch_end(t) || n < 1 || (t.current_epoch() + 1) % n != 0) return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_validation_end(Trainer& t, LightningModule&) {
  const int64_t n = options_.every_n_epochs.value_or(options_.every_n_train_steps > 0 ? 0 : 1);
  if (skip(t) || save_on_train_epoch_end(t) || n < 1 || (t.current_epoch() + 1) % n != 0) return;
  save_topk_and_last(t);
}

void ModelCheckpoint::on_train_end(Trainer& t, LightningModule&) {
  if (!options_.save_last || t.is_fast_dev_run() || last_global_step_saved_ == t.global_step())
    return;
  MetricMap m = t.callback_metrics();
  m.emplace("epoch", static_cast<double>(t.current_epoch()));
  m.emplace("step", static_cast<double>(t.global_step()));
  save_last(t, m);
  last_global_step_saved_ = t.global_step();
}

void ModelCheckpoint::save_topk_and_last(Trainer& t) {
  // Lightning's monitor candidates: the callback metrics, with epoch and step.
  MetricMap m = t.callback_metrics();
  m["epoch"] = static_cast<double>(t.current_epoch());
  m["step"] = static_cast<double>(t.global_step());
  if (options_.save_top_k != 0) save_topk(t, m);
  if (options_.save_last) save_last(t, m);
  last_global_step_saved_ = t.global_step();
}

bool ModelCheckpoint::better(double a, double b) const {
  return options_.mode == "min" ? a < b : a > b;
}

namespace {
std::string number_text(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<int64_t>(v));
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}
}  // namespace

std::string ModelCheckpoint::format_name(int64_t epoch, int64_t step,
                                         const MetricMap& metrics) const {
  const std::string tmpl = options_.filename.empty() ? "{epoch}-{step}" : options_.filename;
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '{') {
      out += tmpl[i++];
      continue;
    }
    const size_t close = tmpl.find('}', i);
    if (close == std::string::npos)
      fail<ValueError>("ModelCheckpoint", "unclosed '{' in filename \"", tmpl, "\"");
    std::string field = tmpl.substr(i + 1, close - i - 1), spec;
    if (auto colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    double value = 0;  // a metric not logged formats as 0, as Lightning's
    if (field == "epoch") value = static_cast<double>(epoch);
    else if (field == "step") value = static_cast<double>(step);
    else if (auto it = metrics.find(field); it != metrics.end()) value = it->second;
    std::string text;
    if (spec.empty()) {
      text = number_text(value);
    } else {
      // Python-style ".4f" / ".3e" / "d": the printf conversion of the same name.
      if (spec.find_first_not_of("0123456789.fegdFEG") != std::string::npos)
        fail<ValueError>("ModelCheckpoint", "unsupported format spec '", spec, "' in filename \"",
                         tmpl, "\"");
      char buf[128];
      if (spec.back() == 'd')
        std::snprintf(buf, sizeof buf, "%.0f", std::isfinite(value) ? std::trunc(value) : value);
      else std::snprintf(buf, sizeof buf, ("%" + spec).c_str(), value);
      text = buf;
    }
    out += options_.auto_insert_metric_name ? field + "=" + text : text;
    i = close + 1;
  }
  return out;
}

std::string ModelCheckpoint::unique_path(const std::string& stem, const std::string& keep) const {
  std::string path = (fs::path(dirpath_) / (stem + ".ckpt")).string();
  std::error_code ec;
  for (int v = 1; fs::exists(path, ec) && path != keep; ++v)
    path = (fs::path(dirpath_) / (stem + "-v" + std::to_string(v) + ".ckpt")).string();
  return path;
}

void ModelCheckpoint::remove_file(const Trainer& t, const std::string& path) const {
  // Never a file outside this callback's folder, nor the one the fit resumed from.
  if (path.empty() || fs::path(path).parent_path() != fs::path(dirpath_) || path == t.ckpt_path())
    return;
  std::error_code ec;
  fs::remove(path, ec);
}

void ModelCheckpoint::save_topk(Trainer& t, const MetricMap& m) {
  const int64_t epoch = t.current_epoch(), step = t.global_step();
  if (options_.monitor.empty()) {
    const std::string previous = best_model_path_;
    const std::string path = unique_path(format_name(epoch, step, m), previous);
    best_model_path_ = path;
    t.save_checkpoint(path);
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
    if (!warned_missing_monitor_)
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
  const bool enters = static_cast<int64_t>(best_k_models_.size()) < k ||
                      better(score, best_k_models_.at(kth_best_model_path_));
  if (!enters) return;
  std::string removed;
  if (static_cast<int64_t>(best_k_models_.size()) == k && k > 0) {
    removed = kth_best_model_path_;
    best_k_models_.erase(removed);
  }
  const std::string path = unique_path(format_name(epoch, step, m), removed);
  best_k_models_[path] = score;
  // The worst kept (kth) and the best, recorded before saving so the file holds them.
  kth_best_model_path_ = path;
  best_model_path_ = path;
  for (const auto& [p, s] : best_k_models_) {
    if (better(best_k_models_.at(kth_best_model_path_), s)) kth_best_model_path_ = p;
    if (better(s, best_k_models_.at(best_model_path_))) best_model_path_ = p;
  }
  best_model_score_ = best_k_models_.at(best_model_path_);
  t.save_checkpoint(path);
  if (!removed.empty() && removed != path) remove_file(t, removed);
}

void ModelCheckpoint::save_last(Trainer& t, const MetricMap&) {
  const std::string previous = last_model_path_;
  const std::string path = unique_path("last", previous);
  last_model_path_ = path;
  t.save_checkpoint(path);
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
