// ProfilerCallback: records a window of training batches with ember::profiler (every op,
// backward node and Trainer phase), then prints the key_averages table and writes a
// Chrome trace beside the logs, as Lightning's Trainer(profiler="pytorch") with a
// schedule(skip_first, active) does.
//
//   Trainer trainer({.callbacks = {ProfilerCallback::make({.skip_first = 5, .active = 5})}});
//
// Each recorded batch is a range "ProfilerStep#<batch>" holding the Trainer's ranges
// "training_step", "zero_grad", "backward" and "optimizer_step". A fit that ends inside
// the window reports what it recorded; one that ends before the window recorded nothing.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "tensor/profiler.h"
#include "trainer/callback.h"

namespace ember {

struct ProfilerOptions {
  int64_t skip_first = 5;  // training batches of the fit before recording (warm-up)
  int64_t active = 5;      // training batches recorded
  std::string dirpath{};   // where the trace goes; empty: the Trainer's log_dir()
  std::string filename = "trace.json";
  profiler::SortBy sort_by = profiler::SortBy::total;
  int64_t row_limit = 30;  // rows of the table; -1: all
  std::FILE* out = stdout; // where the table is printed; nullptr: not printed
};

class ProfilerCallback : public Callback {
 public:
  explicit ProfilerCallback(ProfilerOptions options = {});
  ~ProfilerCallback() override;  // stops a session a failed fit left running
  ProfilerCallback(const ProfilerCallback&) = delete;
  ProfilerCallback& operator=(const ProfilerCallback&) = delete;
  static std::shared_ptr<ProfilerCallback> make(ProfilerOptions options = {}) {
    return std::make_shared<ProfilerCallback>(std::move(options));
  }

  void on_fit_start(Trainer& trainer, LightningModule& module) override;
  void on_train_batch_start(Trainer& trainer, LightningModule& module, const Batch& batch, int64_t batch_idx) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss, const Batch& batch,
                          int64_t batch_idx) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;

  // After the window: the table printed and the trace written ("" before).
  const std::string& table() const { return table_; }
  const std::string& trace_path() const { return trace_path_; }

 private:
  void finish(Trainer& trainer);

  ProfilerOptions options_;
  int64_t batches_ = 0;   // training batches begun in this fit
  int64_t recorded_ = 0;  // of them, recorded
  bool running_ = false;
  std::optional<profiler::Range> step_;
  std::string table_, trace_path_;
};

}  // namespace ember
