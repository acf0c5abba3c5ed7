#include "trainer/callbacks/progress_bar.h"

#include <unistd.h>
#include <algorithm>

#include "trainer/trainer.h"

namespace ember {

namespace {
std::string clock_text(double seconds) {
  if (!(seconds >= 0) || seconds > 359999) return "??:??";
  const auto s = static_cast<int64_t>(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
// "45/100 [00:12<00:15, 3.70it/s"
std::string counter_text(int64_t done, int64_t total, double elapsed) {
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total - done) / rate : -1;
  char buf[96];
  if (rate >= 1 || rate == 0) std::snprintf(buf, sizeof buf, "%.2fit/s", rate);
  else std::snprintf(buf, sizeof buf, "%.2fs/it", 1 / rate);
  return std::to_string(done) + "/" + std::to_string(total) + " [" + clock_text(elapsed) + "<" +
         clock_text(eta) + ", " + buf + "]";
}
}  // namespace

ProgressBar::ProgressBar(ProgressBarOptions options) : options_(options) {
  if (!options_.out) options_.out = stdout;
  terminal_ = options_.terminal ? *options_.terminal : isatty(fileno(options_.out)) != 0;
}

void ProgressBar::draw(const std::string& line, bool final) {
  if (terminal_) {
    // \r and erase-to-end-of-line: redraw in place.
    std::fprintf(options_.out, "\r%s\x1b[K%s", line.c_str(), final ? "\n" : "");
    line_open_ = !final;
  } else {
    std::fprintf(options_.out, "%s\n", line.c_str());
  }
  std::fflush(options_.out);
}

std::string ProgressBar::metrics_text(Trainer& t) const {
  std::string s;
  if (t.logger()) s += " v_num=" + t.logger()->version();
  for (const auto& [k, v] : t.progress_bar_metrics()) s += " " + k + "=" + num(v);
  return s;
}

std::string ProgressBar::train_line(Trainer& t, int64_t done, int64_t total) const {
  std::string bar;
  if (terminal_ && total > 0) {
    const int width = 20;
    const auto filled = static_cast<int>(static_cast<double>(width) * static_cast<double>(done) /
                                         static_cast<double>(total));
    bar = "|" + std::string(static_cast<size_t>(filled), '#') +
          std::string(static_cast<size_t>(width - filled), ' ') + "| ";
  }
  const int64_t pct = total > 0 ? done * 100 / total : 100;
  return "Epoch " + std::to_string(t.current_epoch()) + ": " + std::to_string(pct) + "% " + bar +
         counter_text(done, total, since(epoch_start_)) + metrics_text(t);
}

void ProgressBar::on_sanity_check_start(Trainer&, LightningModule&) { eval_start_ = Clock::now(); }

void ProgressBar::on_train_epoch_start(Trainer& t, LightningModule&) {
  epoch_start_ = Clock::now();
  total_ = t.num_training_batches();
  done_ = 0;
}

void ProgressBar::on_train_batch_end(Trainer& t, LightningModule&, const Tensor&, const Batch&,
                                     int64_t batch_idx) {
  done_ = batch_idx + 1;
  const int64_t every =
      std::max<int64_t>(1, total_ / std::max<int64_t>(1, options_.lines_per_epoch));
  if (terminal_ || done_ % every == 0 || done_ == total_) {
    if (!terminal_ && done_ == total_)
      return;  // the epoch-end line says it, with the epoch's metrics
    draw(train_line(t, done_, total_), false);
  }
}

void ProgressBar::on_train_epoch_end(Trainer& t, LightningModule&) {
  draw(train_line(t, done_, total_), true);
}

void ProgressBar::on_validation_start(Trainer&, LightningModule&) { eval_start_ = Clock::now(); }

void ProgressBar::on_validation_batch_end(Trainer& t, LightningModule&, const Batch&,
                                          int64_t batch_idx) {
  if (!terminal_) return;
  const std::string what = t.sanity_checking() ? "Sanity Checking: " : "Validation: ";
  draw(what + counter_text(batch_idx + 1, t.num_eval_batches(), since(eval_start_)), false);
}

void ProgressBar::on_validation_end(Trainer& t, LightningModule&) {
  if (t.sanity_checking()) {
    if (terminal_ && line_open_) draw("", false);
    return;
  }
  if (t.fn() != TrainerFn::fit) {
    if (line_open_) draw("", false);
    print_results_table(t, "Validate metric");
    return;
  }
  if (terminal_) {
    draw(train_line(t, done_, total_), false);  // back to the training line, now with val metrics
  } else {
    std::string s = "Epoch " + std::to_string(t.current_epoch()) + ": validation after batch " +
                    std::to_string(done_) + "/" + std::to_string(total_) + " [" +
                    clock_text(since(eval_start_)) + "]" + metrics_text(t);
    draw(s, true);
  }
}

void ProgressBar::on_test_start(Trainer&, LightningModule&) { eval_start_ = Clock::now(); }

void ProgressBar::on_test_batch_end(Trainer& t, LightningModule&, const Batch&, int64_t batch_idx) {
  if (terminal_)
    draw("Testing: " + counter_text(batch_idx + 1, t.num_eval_batches(), since(eval_start_)),
         false);
}

void ProgressBar::on_test_end(Trainer& t, LightningModule&) {
  if (line_open_) draw("", false);
  print_results_table(t, "Test metric");
}

void ProgressBar::print_results_table(Trainer& t, const char* title) {
  if (terminal_ && line_open_) {
    std::fprintf(options_.out, "\r\x1b[K");
    line_open_ = false;
  }
  // The epoch-level metrics of the loop that just ended, as Lightning's results table.
  const MetricMap& m = t.eval_metrics();
  size_t w = std::string(title).size();
  for (const auto& [k, v] : m) w = std::max(w, k.size());
  const std::string rule(w + 24, '-');
  std::fprintf(options_.out, "%s\n%-*s  %s\n%s\n", rule.c_str(), static_cast<int>(w), title,
               "DataLoader 0", rule.c_str());
  for (const auto& [k, v] : m)
    std::fprintf(options_.out, "%-*s  %.6g\n", static_cast<int>(w), k.c_str(), v);
  std::fprintf(options_.out, "%s\n", rule.c_str());
  std::fflush(options_.out);
}

}  // namespace ember
