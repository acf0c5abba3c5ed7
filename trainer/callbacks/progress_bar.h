// The progress bar: epoch, batch x/total, elapsed<ETA, it/s and the metrics logged with
// prog_bar=true (and the logger's version, v_num). On a terminal it redraws one line in
// place; otherwise (a log file, CI) it prints plain lines, `lines_per_epoch` an epoch,
// plus one after each validation.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "trainer/callback.h"

namespace ember {

struct ProgressBarOptions {
  std::optional<bool> terminal{};  // unset: whether the output is a terminal
  int64_t lines_per_epoch = 10;    // plain mode
  std::FILE* out = stdout;
};

class ProgressBar : public Callback {
 public:
  explicit ProgressBar(ProgressBarOptions options = {});
  static std::shared_ptr<ProgressBar> make(ProgressBarOptions options = {}) {
    return std::make_shared<ProgressBar>(options);
  }
  bool is_progress_bar() const override { return true; }

  void on_sanity_check_start(Trainer&, LightningModule&) override;
  void on_train_epoch_start(Trainer&, LightningModule&) override;
  void on_train_batch_end(Trainer&, LightningModule&, const Tensor&, const Batch&,
                          int64_t) override;
  void on_train_epoch_end(Trainer&, LightningModule&) override;
  void on_validation_start(Trainer&, LightningModule&) override;
  void on_validation_batch_end(Trainer&, LightningModule&, const Batch&, int64_t) override;
  void on_validation_end(Trainer&, LightningModule&) override;
  void on_test_start(Trainer&, LightningModule&) override;
  void on_test_batch_end(Trainer&, LightningModule&, const Batch&, int64_t) override;
  void on_test_end(Trainer&, LightningModule&) override;

  // The line shown for `done` of `total` batches (what both modes print).
  std::string train_line(Trainer& trainer, int64_t done, int64_t total) const;

 private:
  using Clock = std::chrono::steady_clock;
  void draw(const std::string& line, bool final);
  std::string metrics_text(Trainer& trainer) const;
  void print_results_table(Trainer& trainer, const char* title);

  ProgressBarOptions options_;
  bool terminal_ = false;
  Clock::time_point epoch_start_, eval_start_;
  int64_t done_ = 0, total_ = 0;
  bool line_open_ = false;  // terminal mode: a line is drawn without its newline
};

}  // namespace ember
