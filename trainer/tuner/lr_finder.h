// lr_find: Lightning's learning-rate range test. It trains for up to `num_training` steps
// while the learning rate grows from min_lr to max_lr (exponentially or linearly), records
// the smoothed loss at each step, stops early when the loss diverges, then puts the
// model's weights back as they were, and suggests the rate where the loss falls fastest.
//
//   LRFinderResult r = lr_find(trainer, model, train_loader);
//   r.plot("lr_find.png");                      // loss against lr, the suggestion marked
//   double lr = r.suggestion().value_or(1e-3);
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trainer/trainer.h"

namespace ember {

struct LRFinderOptions {
  double min_lr = 1e-8;
  double max_lr = 1.0;
  int64_t num_training = 100;
  std::string mode = "exponential";  // or "linear"
  // Stop once the smoothed loss exceeds this multiple of the best one; nullopt: never.
  std::optional<double> early_stop_threshold = 4.0;
};

struct LRFinderResult {
  std::vector<double> lr;    // the rate of each step
  std::vector<double> loss;  // the smoothed loss after it (NaN for a skipped batch)
  std::string mode;

  // The rate at the steepest descent of the loss (the minimum of d loss / d lr, central
  // differences on the uneven lr grid), ignoring the first `skip_begin` and last
  // `skip_end` points and non-finite losses; nullopt with fewer than 2 points left.
  std::optional<double> suggestion(int64_t skip_begin = 10, int64_t skip_end = 1) const;
  // Writes loss against lr as a PNG (logarithmic lr axis in exponential mode) with the
  // suggestion (when there is one) as a red dot.
  void plot(const std::string& path, int64_t skip_begin = 10, int64_t skip_end = 1) const;
};

// Runs the range test with a Trainer of `trainer`'s options (its callbacks, loggers and
// checkpointing off, no validation), on the model's configure_optimizers(). The model's
// parameters and buffers are restored afterwards; `trainer` itself is not used for
// training and keeps its state.
LRFinderResult lr_find(const Trainer& trainer, LightningModule& model, DataLoader& train_loader,
                       LRFinderOptions options = {});

}  // namespace ember
