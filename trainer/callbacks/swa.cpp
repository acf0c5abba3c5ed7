#include "trainer/callbacks/swa.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "nn/norm.h"
#include "optim/swa_lr.h"
#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

namespace {

constexpr const char* kOp = "StochasticWeightAveraging";
const std::string kPrefix = "extra.callbacks.StochasticWeightAveraging.";
const std::string kAveragePrefix = kPrefix + "average_model.";
const std::string kSchedulerPrefix = kPrefix + "scheduler_state.";
const std::string kFirstSchedulerPrefix = "lr_schedulers.0.";

std::vector<nn::BatchNormBase*> batch_norms(LightningModule& module) {
  std::vector<nn::BatchNormBase*> r;
  for (const auto& m : module.modules())
    if (auto* bn = dynamic_cast<nn::BatchNormBase*>(m.get()))
      if (bn->running_mean.defined()) r.push_back(bn);
  return r;
}

}  // namespace

StochasticWeightAveraging::StochasticWeightAveraging(StochasticWeightAveragingOptions options)
    : options_(std::move(options)) {
  const SwaEpochStart& s = options_.swa_epoch_start;
  if (s.is_fraction ? !(s.fraction >= 0.0 && s.fraction <= 1.0) : s.count < 1)
    fail<ValueError>(kOp, "swa_epoch_start should be a >0 integer or a float between 0 and 1, got ",
                     s.is_fraction ? std::to_string(s.fraction) : std::to_string(s.count));
  if (options_.swa_lrs.lrs.empty())
    fail<ValueError>(kOp,
                     "swa_lrs should be a positive float, or a list of positive floats; "
                     "none given");
  for (double lr : options_.swa_lrs.lrs)
    if (!(lr > 0.0))
      fail<ValueError>(kOp,
                       "swa_lrs should be a positive float, or a list of positive floats, "
                       "got ",
                       lr);
  if (options_.annealing_epochs < 0)
    fail<ValueError>(kOp, "annealing_epochs must be >= 0, got ", options_.annealing_epochs);
  if (options_.annealing_strategy != "cos" && options_.annealing_strategy != "linear")
    fail<ValueError>(kOp, "annealing_strategy must be \"cos\" or \"linear\", got \"",
                     options_.annealing_strategy, "\"");
}

Tensor StochasticWeightAveraging::running_mean(const Tensor& averaged, const Tensor& current,
                                               int64_t n_averaged) {
  return averaged + (current - averaged) / static_cast<double>(n_averaged + 1);
}

void StochasticWeightAveraging::setup(Trainer&, LightningModule&, const std::string& stage) {
  if (stage != "fit") return;
  // A fresh fit; a checkpoint it resumes from restores the state after this.
  initialized_ = false;
  n_averaged_ = 0;
  latest_update_epoch_ = -1;
  averaged_.clear();
  swa_scheduler_.reset();
  replaced_.reset();
  scheduler_state_ = {};
}

void StochasticWeightAveraging::on_fit_start(Trainer& trainer, LightningModule&) {
  if (trainer.optimizers().size() != 1)
    fail<ValueError>(kOp, "SWA currently works with 1 optimizer, got ",
                     trainer.optimizers().size());
  if (trainer.lr_scheduler_configs().size() > 1)
    fail<ValueError>(kOp, "SWA currently not supported for more than 1 lr_scheduler, got ",
                     trainer.lr_scheduler_configs().size());
  const std::optional<int64_t> max_epochs = trainer.max_epochs();
  if (!max_epochs || *max_epochs < 0)
    fail<ValueError>(kOp, "needs the Trainer's max_epochs (got ",
                     max_epochs ? std::to_string(*max_epochs) : std::string("none"),
                     "): SWA ends at the last epoch");
  max_epochs_ = *max_epochs;
  const SwaEpochStart& s = options_.swa_epoch_start;
  start_epoch_ =
      s.is_fraction ? static_cast<int64_t>(static_cast<double>(max_epochs_) * s.fraction) : s.count;
  const size_t groups = trainer.optimizer()->param_groups().size();
  if (options_.swa_lrs.lrs.size() != 1 && options_.swa_lrs.lrs.size() != groups)
    fail<ValueError>(kOp, "swa_lrs has ", options_.swa_lrs.lrs.size(), " rates, the optimizer has ",
                     groups, " param groups");
}

void StochasticWeightAveraging::on_train_epoch_start(Trainer& trainer, LightningModule& module) {
  const int64_t epoch = trainer.current_epoch();
  const bool in_swa = swa_start() <= epoch && epoch <= swa_end();
  if (!initialized_ && in_swa) start_swa(trainer);
  if (in_swa && epoch > latest_update_epoch_) {
    update_average(module);
    latest_update_epoch_ = epoch;
  }
}

void StochasticWeightAveraging::start_swa(Trainer& trainer) {
  initialized_ = true;
  std::shared_ptr<optim::Optimizer> opt = trainer.optimizer();
  std::vector<double> lrs = options_.swa_lrs.lrs;
  if (lrs.size() == 1) lrs.assign(opt->param_groups().size(), lrs[0]);
  // Lightning's: the SWA rates become the base rates ("initial_lr"), and the cos strategy
  // builds SWALR with last_epoch = max_epochs (only last_epoch differs; the rates do not).
  for (size_t i = 0; i < lrs.size(); ++i) opt->param_groups()[i].set("initial_lr", lrs[i]);
  auto swalr = std::make_shared<optim::SWALR>(
      opt, lrs, options_.annealing_epochs, options_.annealing_strategy,
      options_.annealing_strategy == "cos" ? max_epochs_ : -1);
  if (!scheduler_state_.empty()) {
    swalr->load_state_dict(scheduler_state_);
    scheduler_state_ = {};
  } else if (trainer.current_epoch() != swa_start()) {
    std::fprintf(stderr,
                 "ember: StochasticWeightAveraging is initializing after swa_start (epoch %lld) "
                 "without checkpoint data\n",
                 static_cast<long long>(swa_start()));
  }
  swa_scheduler_ = swalr;
  SchedulerList& configs = trainer.mutable_lr_scheduler_configs();
  SchedulerConfig swa_config{.scheduler = swalr, .interval = "epoch", .frequency = 1};
  if (!configs.empty()) {
    const SchedulerConfig& old = configs[0];
    if (old.interval != "epoch" || old.frequency != 1)
      std::fprintf(stderr,
                   "ember: SWA is currently only supported every epoch. Found interval \"%s\", "
                   "frequency %lld\n",
                   old.interval.c_str(), static_cast<long long>(old.frequency));
    swa_config.name = old.name;  // LearningRateMonitor keeps its key
    replaced_ = old;
    configs[0] = swa_config;
  } else {
    configs.push_back(swa_config);
  }
}

void StochasticWeightAveraging::update_average(LightningModule& module) {
  const auto params = module.named_parameters();
  if (averaged_.empty()) {
    // n_averaged is 0 here, so the first update copies the weights (torch's AveragedModel).
    for (const auto& [name, p] : params) averaged_.emplace_back(name, p.detach().clone());
  }
  if (averaged_.size() != params.size())
    fail<ValueError>(kOp, "the module has ", params.size(), " parameters, the average ",
                     averaged_.size());
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& avg = averaged_[i].second;
    const Tensor p = params[i].second.detach();
    if (avg.device() != p.device()) avg = avg.to(p.device());
    if (n_averaged_ == 0) {
      avg.copy_(p);
      continue;
    }
    const Tensor next =
        options_.avg_fn ? options_.avg_fn(avg, p, n_averaged_) : running_mean(avg, p, n_averaged_);
    avg.copy_(next);
  }
  ++n_averaged_;
}

void StochasticWeightAveraging::transfer_weights(LightningModule& module) const {
  const auto params = module.named_parameters();
  if (averaged_.size() != params.size())
    fail<ValueError>(kOp, "the module has ", params.size(), " parameters, the average ",
                     averaged_.size());
  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) params[i].second.detach().copy_(averaged_[i].second);
}

void StochasticWeightAveraging::recompute_batch_norm(Trainer& trainer,
                                                     LightningModule& module) const {
  const std::vector<nn::BatchNormBase*> bns = batch_norms(module);
  if (bns.empty()) return;
  // torch's update_bn: fresh statistics averaged cumulatively (momentum None) over one
  // pass in training mode; momenta and modes restored after.
  std::vector<std::optional<double>> momenta;
  std::vector<bool> modes;
  for (nn::BatchNormBase* bn : bns) {
    momenta.push_back(bn->options.momentum);
    modes.push_back(bn->is_training());
    bn->reset_running_stats();
    bn->options.momentum = std::nullopt;
    bn->train(true);
  }
  struct Restore {
    const std::vector<nn::BatchNormBase*>& bns;
    const std::vector<std::optional<double>>& momenta;
    const std::vector<bool>& modes;
    ~Restore() {
      for (size_t i = 0; i < bns.size(); ++i) {
        bns[i]->options.momentum = momenta[i];
        bns[i]->train(modes[i]);
      }
    }
  } restore{bns, momenta, modes};
  trainer.forward_training_batches();
}

void StochasticWeightAveraging::on_train_end(Trainer& trainer, LightningModule& module) {
  // The loop has counted the last epoch: swa_end + 1 means every SWA epoch ran (a fit
  // stopped early keeps its own weights, as Lightning's).
  if (!initialized_ || trainer.current_epoch() != swa_end() + 1 || averaged_.empty()) return;
  transfer_weights(module);
  recompute_batch_norm(trainer, module);
}

void StochasticWeightAveraging::on_save_checkpoint(Trainer& trainer, LightningModule&,
                                                   Checkpoint& ckpt) {
  for (const auto& [name, t] : averaged_) ckpt.tensors.insert(kAveragePrefix + name, t);
  const SchedulerList& configs = trainer.lr_scheduler_configs();
  if (!swa_scheduler_ || configs.empty() || configs[0].scheduler != swa_scheduler_) return;
  // SWALR's state is this callback's (Lightning keeps it in the callback state); the first
  // scheduler slot gets back what configure_optimizers built, so a resumed fit matches it.
  for (const auto& [k, v] : swa_scheduler_->state_dict())
    ckpt.tensors.insert(kSchedulerPrefix + k, v);
  for (const std::string& k : ckpt.tensors.keys())
    if (k.starts_with(kFirstSchedulerPrefix)) ckpt.tensors.erase(k);
  if (replaced_) {
    const nn::StateDict state = replaced_->scheduler ? replaced_->scheduler->state_dict()
                                                     : replaced_->plateau->state_dict();
    for (const auto& [k, v] : state) ckpt.tensors.insert(kFirstSchedulerPrefix + k, v);
    ckpt.metadata["lr_scheduler"] =
        replaced_->scheduler ? replaced_->scheduler->name() : "ReduceLROnPlateau";
  } else {
    ckpt.metadata.erase("lr_scheduler");
  }
}

void StochasticWeightAveraging::on_load_checkpoint(Trainer&, LightningModule& module,
                                                   const Checkpoint& ckpt) {
  averaged_.clear();
  scheduler_state_ = {};
  for (const auto& [k, v] : ckpt.tensors)
    if (k.starts_with(kSchedulerPrefix))
      scheduler_state_.insert(k.substr(kSchedulerPrefix.size()), v);
  // In the module's parameter order (the file's order is not kept).
  bool any = false;
  for (const auto& [k, v] : ckpt.tensors) any = any || k.starts_with(kAveragePrefix);
  if (!any) return;
  for (const auto& [name, p] : module.named_parameters()) {
    const Tensor* t = ckpt.tensors.find(kAveragePrefix + name);
    if (!t) fail<ValueError>(kOp, "the checkpoint's average has no parameter '", name, "'");
    averaged_.emplace_back(name, t->clone().to(p.device()));
  }
}

std::string StochasticWeightAveraging::state_dict() const {
  nlohmann::json j;
  j["n_averaged"] = n_averaged_;
  j["latest_update_epoch"] = latest_update_epoch_;
  return j.dump();
}

void StochasticWeightAveraging::load_state_dict(const std::string& state) {
  try {
    const nlohmann::json j = nlohmann::json::parse(state);
    n_averaged_ = j.at("n_averaged").get<int64_t>();
    latest_update_epoch_ = j.at("latest_update_epoch").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    fail<ValueError>(kOp, "cannot read its checkpoint state: ", e.what());
  }
}

}  // namespace ember
