// Timer: tracks the time spent in training, validation and testing, and stops fit once a
// duration has elapsed, as Lightning's Timer (Trainer(max_time=...) is the same idea).
//
//   auto timer = Timer::make({.duration = "00:12:00:00"});   // 12 hours; or a std::chrono
//   trainer.fit(model, loader);                              // duration
//   timer->time_elapsed("train");                            // seconds
//
// The check runs after every training batch (interval "step") or at the end of every
// training epoch ("epoch"), and once at the start of fit, so a run resumed with an already
// spent budget stops at once. The training time elapsed is saved in checkpoints: a resumed
// run continues the budget instead of starting it again.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "trainer/callback.h"

namespace ember {

// A duration given as Lightning's "DD:HH:MM:SS" string or a std::chrono duration.
struct TimerDuration {
  std::chrono::duration<double> seconds{};
  TimerDuration(const char* dd_hh_mm_ss);  // NOLINT: implicit on purpose
  TimerDuration(const std::string& dd_hh_mm_ss) : TimerDuration(dd_hh_mm_ss.c_str()) {}  // NOLINT
  template <typename Rep, typename Period>
  TimerDuration(std::chrono::duration<Rep, Period> d)  // NOLINT
      : seconds(std::chrono::duration_cast<std::chrono::duration<double>>(d)) {}
};

struct TimerOptions {
  std::optional<TimerDuration> duration{};  // unset: only measures
  std::string interval = "step";            // "step" or "epoch"
  bool verbose = true;                      // prints when the limit is reached
};

class Timer : public Callback {
 public:
  explicit Timer(TimerOptions options = {});
  static std::shared_ptr<Timer> make(TimerOptions options = {}) {
    return std::make_shared<Timer>(std::move(options));
  }

  // Seconds spent in a stage ("train", "validate", "test"): running, finished or not begun
  // (0). The training time includes what a restored checkpoint had spent.
  double time_elapsed(const std::string& stage = "train") const;
  // The duration left (negative once exceeded); nullopt without a duration.
  std::optional<double> time_remaining(const std::string& stage = "train") const;
  // Seconds since the steady clock's epoch when the stage started / ended (nullopt if not).
  std::optional<double> start_time(const std::string& stage = "train") const;
  std::optional<double> end_time(const std::string& stage = "train") const;

  void on_fit_start(Trainer& trainer, LightningModule& module) override;
  void on_train_start(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;
  void on_validation_start(Trainer& trainer, LightningModule& module) override;
  void on_validation_end(Trainer& trainer, LightningModule& module) override;
  void on_test_start(Trainer& trainer, LightningModule& module) override;
  void on_test_end(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss,
                          const Batch& batch, int64_t batch_idx) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;

  std::string state_dict() const override;
  void load_state_dict(const std::string& state) override;

 private:
  void check_time_remaining(Trainer& trainer);
  static double now();

  TimerOptions options_;
  std::map<std::string, double> start_, end_;  // by stage
  double offset_ = 0;                          // training seconds of a restored run
};

}  // namespace ember
