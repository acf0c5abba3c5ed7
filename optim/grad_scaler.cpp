#include "optim/grad_scaler.h"

#include <cmath>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::optim {

namespace {

void check_growth_factor(double v) {
  if (!(v > 1.0)) fail<ValueError>("GradScaler", "growth_factor must be > 1, got ", v);
}
void check_backoff_factor(double v) {
  if (!(v > 0.0 && v < 1.0))
    fail<ValueError>("GradScaler", "backoff_factor must be in (0, 1), got ", v);
}
void check_growth_interval(int64_t v) {
  if (v <= 0) fail<ValueError>("GradScaler", "growth_interval must be > 0, got ", v);
}

double scalar_of(const nn::StateDict& dict, const char* key) {
  if (!dict.contains(key))
    fail<ValueError>("GradScaler.load_state_dict", "the state dict has no '", key, "'");
  const Tensor& t = dict.at(key);
  if (t.numel() != 1)
    fail<ValueError>("GradScaler.load_state_dict", "'", key, "' must hold one value, got shape ",
                     str(t.sizes()));
  return t.to(Device::cpu(), DType::f64).item<double>();
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options) {
  if (!options_.enabled) return;
  if (!(options_.init_scale > 0.0) || !std::isfinite(options_.init_scale))
    fail<ValueError>("GradScaler", "init_scale must be finite and > 0, got ", options_.init_scale);
  check_growth_factor(options_.growth_factor);
  check_backoff_factor(options_.backoff_factor);
  check_growth_interval(options_.growth_interval);
}

void GradScaler::make_state(Device device) {
  scale_ = full({}, options_.init_scale, {.dtype = DType::f32, .device = device});
  growth_tracker_ = full({}, init_growth_tracker_, {.dtype = DType::i64, .device = device});
}

void GradScaler::check_initialized(const char* op) const {
  if (!scale_.defined())
    fail<ValueError>(op,
                     "the scale does not exist yet: call scale(loss) earlier in the "
                     "iteration");
}

Tensor GradScaler::scale(const Tensor& outputs) {
  if (!options_.enabled) return outputs;
  if (!outputs.defined()) fail<ValueError>("GradScaler.scale", "outputs is undefined");
  if (!is_floating(outputs.dtype()))
    fail<DTypeError>("GradScaler.scale", "outputs must be floating-point, got ", outputs.dtype());
  if (!scale_.defined()) make_state(outputs.device());
  return outputs * scale_.to(outputs.device(), outputs.dtype());
}

void GradScaler::unscale_(Optimizer& optimizer) {
  if (!options_.enabled) return;
  constexpr const char* op = "GradScaler.unscale_";
  check_initialized(op);
  PerOptimizer& state = per_optimizer_[&optimizer];
  if (state.stage == Stage::unscaled)
    fail<ValueError>(op,
                     "unscale_() has already been called on this optimizer since the last "
                     "update()");
  if (state.stage == Stage::stepped)
    fail<ValueError>(op, "unscale_() is being called after step()");
  NoGradGuard no_grad;
  // 1 / scale in f64, rounded to f32 (PyTorch's scale.double().reciprocal().float()).
  const Tensor one = ones({}, {.dtype = DType::f64, .device = scale_.device()});
  const Tensor inv_scale = (one / scale_.to(DType::f64)).to(DType::f32);
  const Tensor found_inf = zeros({}, {.dtype = DType::f32, .device = scale_.device()});
  std::vector<Tensor> grads;
  for (const ParamGroup& g : optimizer.param_groups())
    for (const Tensor& p : g.params)
      if (p.grad().defined()) {
        // torch's _unscale_grads_(allow_fp16=False): f16 gradients mean f16 parameters,
        // whose updates the scale cannot protect; keep f32 master weights (autocast) instead.
        // bf16 gradients are unscaled (in f32, rounded once).
        if (p.grad().dtype() == DType::f16)
          fail<ValueError>(op, "Attempting to unscale FP16 gradients (a parameter of shape ",
                           str(p.sizes()), " is f16): keep the parameters in f32 under autocast");
        grads.push_back(p.grad());
      }
  raw::amp_unscale_(grads, found_inf, inv_scale);
  state.found_inf = found_inf;
  state.stage = Stage::unscaled;
}

bool GradScaler::step(Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return true;
  }
  constexpr const char* op = "GradScaler.step";
  check_initialized(op);
  if (per_optimizer_[&optimizer].stage == Stage::stepped)
    fail<ValueError>(op, "step() has already been called since the last update()");
  if (per_optimizer_[&optimizer].stage == Stage::ready) unscale_(optimizer);
  PerOptimizer& state = per_optimizer_[&optimizer];
  const bool finite = state.found_inf.to(Device::cpu()).item<float>() == 0.0f;
  if (finite) optimizer.step();
  state.stage = Stage::stepped;
  return finite;
}

void GradScaler::update() {
  if (!options_.enabled) return;
  constexpr const char* op = "GradScaler.update";
  check_initialized(op);
  std::vector<Tensor> found;
  for (const auto& entry : per_optimizer_)
    if (entry.second.found_inf.defined()) found.push_back(entry.second.found_inf);
  if (found.empty()) fail<ValueError>(op, "no inf checks were recorded prior to update()");
  NoGradGuard no_grad;
  Tensor combined = found.front();
  for (size_t i = 1; i < found.size(); ++i) combined = combined + found[i];
  raw::amp_update_scale_(scale_, growth_tracker_, combined,
                         {.growth_factor = options_.growth_factor,
                          .backoff_factor = options_.backoff_factor,
                          .growth_interval = options_.growth_interval});
  per_optimizer_.clear();
}

void GradScaler::update(double new_scale) {
  if (!options_.enabled) return;
  check_initialized("GradScaler.update");
  if (!(new_scale > 0.0) || !std::isfinite(new_scale))
    fail<ValueError>("GradScaler.update", "new_scale must be finite and > 0, got ", new_scale);
  NoGradGuard no_grad;
  scale_.fill_(new_scale);
  per_optimizer_.clear();
}

double GradScaler::get_scale() const {
  if (!options_.enabled) return 1.0;
  if (!scale_.defined()) return options_.init_scale;
  return static_cast<double>(scale_.to(Device::cpu()).item<float>());
}

void GradScaler::set_growth_factor(double v) {
  check_growth_factor(v);
  options_.growth_factor = v;
}
void GradScaler::set_backoff_factor(double v) {
  check_backoff_factor(v);
  options_.backoff_factor = v;
}
void GradScaler::set_growth_interval(int64_t v) {
  check_growth_interval(v);
  options_.growth_interval = v;
}

nn::StateDict GradScaler::state_dict() const {
  nn::StateDict d;
  if (!options_.enabled) return d;
  const int64_t tracker = growth_tracker_.defined()
                              ? growth_tracker_.to(Device::cpu()).item<int64_t>()
                              : init_growth_tracker_;
  d.insert("scale", scalar_tensor(get_scale(), {.dtype = DType::f64}));
  d.insert("growth_factor", scalar_tensor(options_.growth_factor, {.dtype = DType::f64}));
  d.insert("backoff_factor", scalar_tensor(options_.backoff_factor, {.dtype = DType::f64}));
  d.insert("growth_interval", scalar_tensor(options_.growth_interval, {.dtype = DType::i64}));
  d.insert("_growth_tracker", scalar_tensor(tracker, {.dtype = DType::i64}));
  return d;
}

void GradScaler::load_state_dict(const nn::StateDict& dict) {
  if (!options_.enabled) return;
  if (dict.size() == 0)
    fail<ValueError>("GradScaler.load_state_dict",
                     "the state dict is empty, possibly because it was saved from a disabled "
                     "GradScaler");
  const double s = scalar_of(dict, "scale");
  const double gf = scalar_of(dict, "growth_factor");
  const double bf = scalar_of(dict, "backoff_factor");
  const auto gi = static_cast<int64_t>(scalar_of(dict, "growth_interval"));
  const auto tracker = static_cast<int64_t>(scalar_of(dict, "_growth_tracker"));
  if (!(s > 0.0) || !std::isfinite(s))
    fail<ValueError>("GradScaler.load_state_dict", "scale must be finite and > 0, got ", s);
  check_growth_factor(gf);
  check_backoff_factor(bf);
  check_growth_interval(gi);
  options_.init_scale = s;
  options_.growth_factor = gf;
  options_.backoff_factor = bf;
  options_.growth_interval = gi;
  init_growth_tracker_ = tracker;
  NoGradGuard no_grad;
  if (scale_.defined()) scale_.fill_(s);
  if (growth_tracker_.defined()) growth_tracker_.fill_(tracker);
}

}  // namespace ember::optim
