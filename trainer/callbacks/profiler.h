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
//
// For each recorded batch it also prints the copies between host and device and the
// stream synchronizations the step made (profiler::transfer_counts):
//   transfers per training step: h2d=2 d2h=0 syncs=0 (ProfilerStep#5: 16 B in, 0 B out)
// A step's count runs from its on_train_batch_start through the Trainer's own work after
// on_train_batch_end (sending step metrics to the loggers, when it does), so a logger's
// or the progress bar's read of a logged value counts in the step it happens in. The
// copy of the batch to the device, made by the loop before on_train_batch_start, is not
// part of it (Trainer::batch_transfers).
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/profiler.h"
#include "trainer/callback.h"

namespace ember {

struct ProfilerOptions {
  int64_t skip_first = 5;  // training batches of the fit before recording (warm-up)
  int64_t active = 5;      // training batches recorded
  std::string dirpath{};   // where the trace goes; empty: the Trainer's log_dir()
  std::string filename = "trace.json";
  profiler::SortBy sort_by = profiler::SortBy::total;
  int64_t row_limit = 30;   // rows of the table; -1: all
  std::FILE* out = stdout;  // where the table is printed; nullptr: not printed
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
  void on_train_batch_start(Trainer& trainer, LightningModule& module, const Batch& batch,
                            int64_t batch_idx) override;
  void on_train_batch_end(Trainer& trainer, LightningModule& module, const Tensor& loss,
                          const Batch& batch, int64_t batch_idx) override;
  void on_validation_start(Trainer& trainer, LightningModule& module) override;
  void on_train_epoch_end(Trainer& trainer, LightningModule& module) override;
  void on_train_end(Trainer& trainer, LightningModule& module) override;

  // After the window: the table printed and the trace written ("" before).
  const std::string& table() const { return table_; }
  const std::string& trace_path() const { return trace_path_; }
  // The transfers of each recorded step, in order.
  const std::vector<profiler::TransferCounts>& step_transfers() const { return step_transfers_; }

 private:
  // Closes the step whose batch has ended (if any): its transfer line, and the window's
  // report after its last step.
  // next_batch: called after the loop copied the next batch to the device.
  void end_step(Trainer& trainer, bool next_batch);
  void finish(Trainer& trainer);

  ProfilerOptions options_;
  int64_t batches_ = 0;   // training batches begun in this fit
  int64_t recorded_ = 0;  // of them, recorded
  bool running_ = false;
  bool step_open_ = false;  // a recorded batch has begun and its step is not counted yet
  int64_t step_batch_ = 0;
  profiler::TransferCounts step_start_;
  std::optional<profiler::Range> step_;
  std::string table_, trace_path_;
  std::vector<profiler::TransferCounts> step_transfers_;
};

}  // namespace ember
