// ModelCheckpoint: saves checkpoints during fit, keeping the best `save_top_k` by a
// monitored metric (or the latest, without one) and, with save_last, `last.ckpt`.
//
// When it saves (Lightning 2.x): every `every_n_train_steps` optimizer steps, else at
// the end of every `every_n_epochs`-th training epoch when validation runs once per
// epoch at its end (or not at all), else after each validation. ember also writes
// last.ckpt when fit ends if nothing was saved at the final step, so a fit stopped by
// max_steps always leaves one.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "trainer/callback.h"
#include "trainer/metrics.h"

namespace ember {

struct ModelCheckpointOptions {
  std::string
      dirpath{};  // unset: <log_dir>/checkpoints (<default_root_dir>/checkpoints without a logger)
  // Template: "{epoch}-{step}" gives "epoch=3-step=120.ckpt"; "{epoch}-{val_loss:.2f}"
  // gives "epoch=3-val_loss=0.42.ckpt" (any logged metric, with an optional printf-like
  // .Nf / .Ne / .Ng precision).
  std::string filename{};
  std::string monitor{};  // unset: no metric; the latest checkpoint is kept
  std::string mode = "min";
  int64_t save_top_k = 1;  // -1: keep all; 0: none (save_last still works)
  bool save_last = false;
  bool auto_insert_metric_name = true;
  int64_t every_n_train_steps = 0;
  std::optional<int64_t> every_n_epochs{};  // unset: 1 (when every_n_train_steps is 0)
  std::optional<bool> save_on_train_epoch_end{};
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options = {});
  static std::shared_ptr<ModelCheckpoint> make(ModelCheckpointOptions options = {}) {
    return std::make_shared<ModelCheckpoint>(std::move(options));
  }

  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
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

 private:
  bool skip(const Trainer& trainer) const;
  bool save_on_train_epoch_end(const Trainer& trainer) const;
  void save_topk_and_last(Trainer& trainer);
  void save_topk(Trainer& trainer, const MetricMap& metrics);
  void save_last(Trainer& trainer, const MetricMap& metrics);
  bool better(double a, double b) const;
  std::string unique_path(const std::string& stem, const std::string& keep = "") const;
  void remove_file(const Trainer& trainer, const std::string& path) const;

  ModelCheckpointOptions options_;
  std::string dirpath_;
  std::map<std::string, double> best_k_models_;  // path -> score
  std::string best_model_path_, kth_best_model_path_, last_model_path_, latest_path_;
  std::optional<double> best_model_score_;
  int64_t last_global_step_saved_ = -1;
  bool warned_missing_monitor_ = false;
};

}  // namespace ember
