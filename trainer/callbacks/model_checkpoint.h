// ModelCheckpoint: saves checkpoints during fit, keeping the best `save_top_k` by a
// monitored metric (or the latest, without one) and, with save_last, `last.ckpt`.
//
// When it saves (Lightning 2.x): every `every_n_train_steps` optimizer steps, or once
// `train_time_interval` has passed since the last time-triggered save, else at the end
// of every `every_n_epochs`-th training epoch when validation runs once per epoch at its
// end (or not at all), else after each validation. A step- or time-triggered save whose
// monitor is not logged yet, or that falls on the epoch's last batch right before its
// validation, waits for that validation (Lightning). ember also writes last.ckpt when fit
// ends if nothing was saved at the final step, so a fit stopped by max_steps always
// leaves one.
//
// File names (Lightning's format_checkpoint_name): the `filename` template's fields are
// metric names with an optional Python format spec, "{epoch:02d}-{val_loss:.3f}" giving
// "epoch=03-val_loss=0.123.ckpt" ("03-0.123.ckpt" without auto_insert_metric_name); a
// field not logged formats as the integer 0; a '/' in a metric name makes a subfolder,
// as in Lightning. "name-v1.ckpt", "name-v2.ckpt", ... when the file exists (unless
// enable_version_counter is false: the file is overwritten).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "trainer/callback.h"
#include "trainer/metrics.h"

namespace ember {

// save_last: false, true (last.ckpt written in full) or "link" (last.ckpt a symbolic link
// to the newest checkpoint this callback saved, a copy where links cannot be made).
struct SaveLast {
  bool enabled = false, link = false;
  SaveLast(bool on) : enabled(on) {}                             // NOLINT: implicit on purpose
  SaveLast(const char* mode);                                    // NOLINT: only "link"
  SaveLast(const std::string& mode) : SaveLast(mode.c_str()) {}  // NOLINT
  explicit operator bool() const { return enabled; }
};

struct ModelCheckpointOptions {
  std::string
      dirpath{};  // unset: <log_dir>/checkpoints (<default_root_dir>/checkpoints without a logger)
  // Template: unset is "{epoch}-{step}" ("epoch=3-step=120.ckpt"); "{epoch:02d}-{val_loss:.2f}"
  // gives "epoch=03-val_loss=0.42.ckpt" (any logged metric, with a Python format spec:
  // trainer/callbacks/format_spec.h).
  std::string filename{};
  std::string monitor{};  // unset: no metric; the latest checkpoint is kept
  std::string mode = "min";
  int64_t save_top_k = 1;  // -1: keep all; 0: none (save_last still works)
  SaveLast save_last = false;
  bool auto_insert_metric_name = true;
  int64_t every_n_train_steps = 0;
  std::optional<int64_t> every_n_epochs{};  // unset: 1 unless another trigger is set, else 0
  std::optional<bool> save_on_train_epoch_end{};
  // ---- issue 18: Lightning's other options -------------------------------------------------
  bool save_weights_only = false;  // trainer.save_checkpoint(path, weights_only = true)
  // Saves when this much time has passed since fit started or the last time-triggered
  // save, checked after each training batch. Exclusive with every_n_train_steps and
  // every_n_epochs (as those two are with each other).
  std::optional<std::chrono::duration<double>> train_time_interval{};
  bool enable_version_counter = true;  // false: a file of the same name is overwritten
  // The clock train_time_interval reads (unset: std::chrono::steady_clock::now); for tests.
  std::function<std::chrono::steady_clock::time_point()> clock{};
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options = {});
  static std::shared_ptr<ModelCheckpoint> make(ModelCheckpointOptions options = {}) {
    return std::make_shared<ModelCheckpoint>(std::move(options));
  }

  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss,
                          const Batch& batch, int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;

  std::string state_key() const override;
  std::string state_dict() const override;
  void load_state_dict(const std::string& state) override;
  bool is_monitoring() const override { return true; }
  bool is_checkpoint() const override { return true; }

  const std::string& dirpath() const { return dirpath_; }
  const std::string& best_model_path() const { return best_model_path_; }
  std::optional<double> best_model_score() const { return best_model_score_; }
  const std::string& last_model_path() const { return last_model_path_; }
  const std::map<std::string, double>& best_k_models() const { return best_k_models_; }
  const ModelCheckpointOptions& options() const { return options_; }

  // The file name (without .ckpt) the template gives for these values.
  std::string format_name(int64_t epoch, int64_t step, const MetricMap& metrics) const;
  // Lightning's format_checkpoint_name: <dirpath>/<name>[-v<ver>].ckpt, the name from
  // `filename` (unset: options().filename) filled with `metrics` ("epoch" and "step"
  // format as integers, other metrics as floats, a missing one as the integer 0).
  std::string format_checkpoint_name(const MetricMap& metrics, const std::string& filename = "",
                                     std::optional<int64_t> ver = {}) const;

  static constexpr const char* CHECKPOINT_JOIN_CHAR = "-";
  static constexpr const char* CHECKPOINT_EQUALS_CHAR = "=";
  static constexpr const char* CHECKPOINT_NAME_LAST = "last";
  static constexpr const char* FILE_EXTENSION = ".ckpt";
  static constexpr int64_t STARTING_VERSION = 1;

 private:
  bool skip(const Trainer& trainer) const;
  int64_t every_n_epochs() const;
  std::chrono::steady_clock::time_point now() const;
  bool defer_to_validation(const Trainer& trainer, const MetricMap& metrics) const;
  MetricMap monitor_candidates(Trainer& trainer) const;
  void save_file(Trainer& trainer, const std::string& path);
  void link_or_copy(const std::string& target, const std::string& link) const;
  bool save_on_train_epoch_end(const Trainer& trainer) const;
  void save_topk_and_last(Trainer& trainer);
  void save_topk(Trainer& trainer, const MetricMap& metrics);
  void save_last(Trainer& trainer, const MetricMap& metrics);
  bool better(double a, double b) const;
  std::string unique_path(const MetricMap& metrics, const std::string& filename,
                          const std::string& keep = "") const;
  void remove_file(const Trainer& trainer, const std::string& path) const;

  ModelCheckpointOptions options_;
  std::string dirpath_;
  std::map<std::string, double> best_k_models_;  // path -> score
  std::string best_model_path_, kth_best_model_path_, last_model_path_, latest_path_;
  std::optional<double> best_model_score_;
  int64_t last_global_step_saved_ = -1;
  bool warned_missing_monitor_ = false;
  // issue 18: the newest file this callback wrote (save_last="link" points last.ckpt at
  // it), a step- or time-triggered save waiting for validation, the last time check.
  std::string last_checkpoint_saved_;
  bool defer_save_until_validation_ = false;
  std::optional<std::chrono::steady_clock::time_point> last_time_checked_;
};

}  // namespace ember
