#include "trainer/tuner/lr_finder.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/grad_mode.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "trainer/tuner/png.h"

namespace ember {

namespace {

// Lightning's _ExponentialLR / _LinearLR: step k >= 1 uses r = (k + 1) / num_training
// (step 0 keeps min_lr).
double lr_of_step(const LRFinderOptions& o, int64_t k) {
  if (k == 0) return o.min_lr;
  const double r = static_cast<double>(k + 1) / static_cast<double>(o.num_training);
  if (o.mode == "linear") return o.min_lr + r * (o.max_lr - o.min_lr);
  return o.min_lr * std::pow(o.max_lr / o.min_lr, r);
}

// Sets each step's rate before it runs and records the smoothed loss after it (Lightning's
// _LRCallback: an exponential average with beta 0.98, bias-corrected by the step).
class LRFinderCallback : public Callback {
 public:
  LRFinderCallback(LRFinderOptions o, LRFinderResult& r) : o_(std::move(o)), r_(r) {}
  std::string name() const override { return "LRFinderCallback"; }

  void on_train_batch_start(Trainer& t, LightningModule&, const Batch&, int64_t b) override {
    if ((b + 1) % t.accumulate_grad_batches() != 0) return;
    const double lr = lr_of_step(o_, static_cast<int64_t>(r_.lr.size()));
    // Set before every step, so a scheduler of the module's cannot move it.
    for (optim::ParamGroup& g : t.optimizer()->param_groups()) g.set_lr(lr);
    r_.lr.push_back(lr);
  }

  void on_train_batch_end(Trainer& t, LightningModule&, const Tensor& loss, const Batch&,
                          int64_t b) override {
    if ((b + 1) % t.accumulate_grad_batches() != 0) return;
    if (!loss.defined()) {
      r_.loss.push_back(std::numeric_limits<double>::quiet_NaN());
      return;
    }
    const double current = loss.item<double>();
    const auto step = static_cast<double>(t.global_step());
    avg_ = beta_ * avg_ + (1 - beta_) * current;
    const double smoothed = avg_ / (1 - std::pow(beta_, step + 1));
    if (o_.early_stop_threshold && step > 1 && smoothed > *o_.early_stop_threshold * best_)
      t.should_stop = true;  // diverging
    if (smoothed < best_ || step == 1) best_ = smoothed;
    r_.loss.push_back(smoothed);
  }

 private:
  LRFinderOptions o_;
  LRFinderResult& r_;
  double beta_ = 0.98, avg_ = 0, best_ = 0;
};

}  // namespace

std::optional<double> LRFinderResult::suggestion(int64_t skip_begin, int64_t skip_end) const {
  const auto n = static_cast<int64_t>(std::min(lr.size(), loss.size()));
  std::vector<double> x, y;
  for (int64_t i = std::max<int64_t>(skip_begin, 0); i < n - std::max<int64_t>(skip_end, 0); ++i)
    if (std::isfinite(loss[i])) x.push_back(lr[i]), y.push_back(loss[i]);
  const size_t m = x.size();
  if (m < 2) return std::nullopt;
  // torch.gradient with coordinates: one-sided at the ends, second-order central inside.
  size_t best = 0;
  double best_g = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < m; ++i) {
    double g;
    if (i == 0) g = (y[1] - y[0]) / (x[1] - x[0]);
    else if (i == m - 1) g = (y[m - 1] - y[m - 2]) / (x[m - 1] - x[m - 2]);
    else {
      const double hl = x[i] - x[i - 1], hr = x[i + 1] - x[i];
      g = (hl * hl * y[i + 1] - hr * hr * y[i - 1] + (hr * hr - hl * hl) * y[i]) /
          (hl * hr * (hl + hr));
    }
    if (g < best_g) best_g = g, best = i;  // the first minimum, as argmin
  }
  return x[best];
}

void LRFinderResult::plot(const std::string& path, int64_t skip_begin, int64_t skip_end) const {
  const bool logx = mode != "linear";
  std::vector<double> x, y;
  const auto n = static_cast<int64_t>(std::min(lr.size(), loss.size()));
  for (int64_t i = std::max<int64_t>(skip_begin, 0); i < n - std::max<int64_t>(skip_end, 0); ++i)
    if (std::isfinite(loss[i]) && lr[i] > 0)
      x.push_back(logx ? std::log10(lr[i]) : lr[i]), y.push_back(loss[i]);
  if (x.size() < 2)
    fail<ValueError>("LRFinderResult::plot", "needs at least 2 finite points, got ", x.size());
  const int W = 640, H = 480, left = 40, right = 20, top = 20, bottom = 40;
  plot::Canvas c(W, H);
  const double x0 = *std::min_element(x.begin(), x.end());
  const double x1 = *std::max_element(x.begin(), x.end());
  const double y0 = *std::min_element(y.begin(), y.end());
  const double y1 = *std::max_element(y.begin(), y.end());
  const double xs = x1 > x0 ? (W - left - right) / (x1 - x0) : 0.0;
  const double ys = y1 > y0 ? (H - top - bottom) / (y1 - y0) : 0.0;
  auto px = [&](double v) { return left + static_cast<int>(std::lround((v - x0) * xs)); };
  auto py = [&](double v) { return H - bottom - static_cast<int>(std::lround((v - y0) * ys)); };
  const plot::Rgb axis{0, 0, 0}, curve{31, 119, 180}, mark{214, 39, 40};
  c.line(left, H - bottom, W - right, H - bottom, axis);  // lr axis
  c.line(left, top, left, H - bottom, axis);              // loss axis
  for (size_t i = 1; i < x.size(); ++i)
    c.line(px(x[i - 1]), py(y[i - 1]), px(x[i]), py(y[i]), curve);
  if (const std::optional<double> s = suggestion(skip_begin, skip_end)) {
    for (size_t i = 0; i < x.size(); ++i)
      if ((logx ? std::pow(10.0, x[i]) : x[i]) == *s || (logx && std::log10(*s) == x[i])) {
        c.dot(px(x[i]), py(y[i]), 4, mark);
        break;
      }
  }
  c.write_png(path);
}

LRFinderResult lr_find(const Trainer& trainer, LightningModule& model, DataLoader& train_loader,
                       LRFinderOptions o) {
  const char* op = "lr_find";
  if (!(o.min_lr > 0) || !(o.max_lr > o.min_lr))
    fail<ValueError>(op, "needs 0 < min_lr < max_lr, got min_lr=", o.min_lr, " max_lr=", o.max_lr);
  if (o.num_training < 1) fail<ValueError>(op, "num_training must be >= 1, got ", o.num_training);
  if (o.mode != "exponential" && o.mode != "linear")
    fail<ValueError>(op, "mode must be \"exponential\" or \"linear\", got \"", o.mode, "\"");
  if (o.early_stop_threshold && !(*o.early_stop_threshold > 0))
    fail<ValueError>(op, "early_stop_threshold must be > 0, got ", *o.early_stop_threshold);

  // The weights to put back: copies, since training writes the tensors in place.
  std::vector<std::pair<std::string, Tensor>> saved;
  {
    NoGradGuard no_grad;
    for (const auto& [name, t] : model.state_dict()) saved.emplace_back(name, t.clone());
  }

  LRFinderResult result;
  result.mode = o.mode;
  TrainerOptions to = trainer.options();
  to.max_steps = o.num_training;
  to.max_epochs = -1;
  to.callbacks = {std::make_shared<LRFinderCallback>(o, result)};
  to.logger = false;
  to.enable_checkpointing = false;
  to.enable_progress_bar = false;
  to.enable_model_summary = false;
  to.num_sanity_val_steps = 0;
  to.fast_dev_run = false;
  to.seed.reset();  // leave the global generator to the caller
  {
    Trainer finder(to);
    finder.fit(model, train_loader);
  }
  {
    NoGradGuard no_grad;
    nn::StateDict now = model.state_dict();
    for (const auto& [name, t] : saved) {
      Tensor dst = now.at(name);  // shares the module's storage
      dst.copy_(t);
    }
  }
  model.zero_grad(true);
  return result;
}

}  // namespace ember
