// ModelSummary: at fit start, a table of the module's children (to max_depth levels):
// name, type, parameter count, trainable parameter count and mode, then the totals and
// the parameters' size in MB, as Lightning's.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "trainer/callback.h"

namespace ember {

struct ModelSummaryOptions {
  int64_t max_depth = 1;  // 0: totals only
  std::FILE* out = stdout;
};

class ModelSummary : public Callback {
 public:
  explicit ModelSummary(ModelSummaryOptions options = {}) : options_(options) {}
  static std::shared_ptr<ModelSummary> make(ModelSummaryOptions options = {}) {
    return std::make_shared<ModelSummary>(options);
  }
  void on_fit_start(Trainer& trainer, LightningModule& module) override;

 private:
  ModelSummaryOptions options_;
};

// The table ModelSummary prints.
std::string summarize(nn::Module& module, int64_t max_depth = 1);
// 7400000 -> "7.4 M", 30000 -> "30.0 K", 128 -> "128" (Lightning's counts).
std::string human_readable_count(int64_t n);

}  // namespace ember
