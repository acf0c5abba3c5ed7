#include "trainer/callbacks/profiler.h"

#include <filesystem>

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

ProfilerCallback::ProfilerCallback(ProfilerOptions options) : options_(std::move(options)) {
  if (options_.skip_first < 0 || options_.active < 1)
    fail<ValueError>("ProfilerCallback",
                     "needs skip_first >= 0 and active >= 1, got skip_first=", options_.skip_first,
                     " active=", options_.active);
  if (options_.filename.empty()) fail<ValueError>("ProfilerCallback", "filename must not be empty");
}

ProfilerCallback::~ProfilerCallback() {
  if (running_) {
    step_.reset();
    profiler::stop();
  }
}

void ProfilerCallback::on_fit_start(Trainer&, LightningModule&) {
  batches_ = 0;
  recorded_ = 0;
  table_.clear();
  trace_path_.clear();
  step_transfers_.clear();
}

void ProfilerCallback::on_train_batch_start(Trainer& trainer, LightningModule&, const Batch&,
                                            int64_t) {
  end_step(trainer, true);
  const int64_t batch = batches_++;
  if (batch == options_.skip_first && !running_) {
    // Someone else's session (the user's own start()) is left alone.
    if (profiler::is_enabled()) {
      std::fprintf(
          stderr,
          "ProfilerCallback: the profiler is already running; this callback records nothing\n");
      return;
    }
    profiler::start();
    running_ = true;
  }
  if (running_) {
    step_.emplace("ProfilerStep#" + std::to_string(batch));
    step_open_ = true;
    step_batch_ = batch;
    step_start_ = profiler::transfer_counts();
  }
}

void ProfilerCallback::on_train_batch_end(Trainer&, LightningModule&, const Tensor&, const Batch&,
                                          int64_t) {
  step_.reset();  // the step's transfers are counted on, until end_step
}

void ProfilerCallback::on_validation_start(Trainer& trainer, LightningModule&) {
  end_step(trainer, false);
}
void ProfilerCallback::on_train_epoch_end(Trainer& trainer, LightningModule&) {
  end_step(trainer, false);
}

void ProfilerCallback::on_train_end(Trainer& trainer, LightningModule&) {
  end_step(trainer, false);
  if (running_) finish(trainer);  // the fit ended inside the window
}

void ProfilerCallback::end_step(Trainer& trainer, bool next_batch) {
  if (!running_ || !step_open_) return;
  step_.reset();
  step_open_ = false;
  profiler::TransferCounts c = profiler::transfer_counts() - step_start_;
  if (next_batch) c = c - trainer.batch_transfers();  // the next step's input
  step_transfers_.push_back(c);
  if (options_.out) {
    auto ll = [](int64_t v) { return static_cast<long long>(v); };
    std::fprintf(options_.out,
                 "transfers per training step: h2d=%lld d2h=%lld syncs=%lld "
                 "(ProfilerStep#%lld: %lld B in, %lld B out)\n",
                 ll(c.h2d), ll(c.d2h), ll(c.syncs), ll(step_batch_), ll(c.h2d_bytes),
                 ll(c.d2h_bytes));
    std::fflush(options_.out);
  }
  if (++recorded_ == options_.active) finish(trainer);
}

void ProfilerCallback::finish(Trainer& trainer) {
  step_.reset();
  profiler::stop();
  running_ = false;
  table_ = profiler::table(options_.sort_by, options_.row_limit);
  const std::filesystem::path dir = options_.dirpath.empty() ? trainer.log_dir() : options_.dirpath;
  std::filesystem::create_directories(dir);
  trace_path_ = (dir / options_.filename).string();
  profiler::export_chrome_trace(trace_path_);
  if (options_.out) {
    std::fprintf(options_.out,
                 "\nProfiler: %lld training batches (from batch %lld)\n%sChrome trace: %s\n",
                 static_cast<long long>(recorded_), static_cast<long long>(options_.skip_first),
                 table_.c_str(), trace_path_.c_str());
    std::fflush(options_.out);
  }
}

}  // namespace ember
