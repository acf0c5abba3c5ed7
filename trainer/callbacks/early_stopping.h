// EarlyStopping: stops fit when a monitored metric has not improved by more than
// min_delta for `patience` consecutive checks. It checks at the end of each training
// epoch when validation runs once per epoch at its end (Lightning's default), else after
// each validation; patience counts those checks.
#pragma once

#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "trainer/callback.h"

namespace ember {

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int64_t patience = 3;
  std::string mode = "min";
  bool strict = true;        // a missing metric is an error (else the check is skipped)
  bool check_finite = true;  // a NaN or infinite metric stops at once
  std::optional<double> stopping_threshold{};    // stop once the metric is better than this
  std::optional<double> divergence_threshold{};  // stop once it is worse than this
  std::optional<bool> check_on_train_epoch_end{};
  bool verbose = false;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  static std::shared_ptr<EarlyStopping> make(EarlyStoppingOptions options = {}) {
    return std::make_shared<EarlyStopping>(std::move(options));
  }
  void setup(Trainer& trainer, LightningModule& module, const std::string& stage) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;

  std::string state_key() const override;
  std::string state_dict() const override;
  void load_state_dict(const std::string& state) override;
  bool is_monitoring() const override { return true; }

  int64_t wait_count() const { return wait_count_; }
  int64_t stopped_epoch() const { return stopped_epoch_; }
  double best_score() const { return best_score_; }
  const std::string& stopping_reason() const { return reason_; }

 private:
  void run_check(Trainer& trainer);
  bool improved(double current) const;

  EarlyStoppingOptions options_;
  bool check_on_train_epoch_end_ = true;
  int64_t wait_count_ = 0, stopped_epoch_ = 0;
  double best_score_;
  std::string reason_;
};

}  // namespace ember
