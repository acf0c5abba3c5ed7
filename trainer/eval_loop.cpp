// Validation, test and predict loops, and the validate/test/predict entry points.
#include <algorithm>

#include "autograd/grad_mode.h"
#include "trainer/callbacks/prediction_writer.h"
#include "trainer/distributed_loaders.h"
#include "trainer/trainer_hooks.h"

namespace ember {

namespace {

// Lightning's split of the epoch metrics per loader: map i holds the names suffixed
// "/dataloader_idx_i" and every name without a dataloader suffix (epoch-end hooks).
std::vector<MetricMap> split_per_loader(const MetricMap& metrics, size_t loaders) {
  std::vector<MetricMap> out(std::max<size_t>(loaders, 1));
  for (const auto& [k, v] : metrics) {
    const size_t at = k.rfind("/dataloader_idx_");
    if (loaders <= 1 || at == std::string::npos) {
      for (MetricMap& m : out) m[k] = v;
      continue;
    }
    const std::string idx = k.substr(at + 16);
    for (size_t i = 0; i < out.size(); ++i)
      if (idx == std::to_string(i)) out[i][k] = v;
  }
  return out;
}

}  // namespace

std::vector<int64_t> Trainer::eval_batches(Stage stage,
                                           const std::vector<DataLoader*>& loaders) const {
  const BatchCount& limit =
      stage == Stage::validate ? options_.limit_val_batches : options_.limit_test_batches;
  std::vector<int64_t> n;
  for (const DataLoader* l : loaders)
    n.push_back(is_fast_dev_run() ? std::min(l->size(), options_.fast_dev_run.batches)
                                  : limit.of(l->size()));
  return n;
}

std::vector<MetricMap> Trainer::run_evaluation(Stage stage, const std::vector<DataLoader*>& loaders,
                                               const std::vector<int64_t>& num_batches) {
  const bool val = stage == Stage::validate;
  const Stage prev_stage = stage_;
  MetricCollection* prev_results = active_results_;
  const bool prev_epoch_end = epoch_end_reached_;
  const int64_t prev_batch_idx = batch_idx_;

  stage_ = stage;
  num_eval_loaders_ = static_cast<int64_t>(loaders.size());
  // Modes of submodules (Lightning 2.2+): every module's mode is recorded, and put back by
  // on_*_model_train after on_*_end, so an injected module left in eval() stays there.
  model_->recorded_modes_.capture(*model_);
  {
    FxScope fx(*this, val ? "on_validation_model_eval" : "on_test_model_eval");
    if (val) model_->on_validation_model_eval();
    else model_->on_test_model_eval();
  }
  NoGradGuard no_grad;
  eval_results_.reset();
  active_results_ = &eval_results_;
  epoch_end_reached_ = false;

  if (val) {
    EMBER_HOOKS(on_validation_start);
    EMBER_HOOKS(on_validation_epoch_start);
  } else {
    EMBER_HOOKS(on_test_start);
    EMBER_HOOKS(on_test_epoch_start);
  }
  // Several loaders run one after the other in one epoch (Lightning's sequential mode):
  // batch_idx restarts at 0 for each, and the hooks get the loader's index.
  for (size_t d = 0; d < loaders.size(); ++d) {
    const int64_t dl = static_cast<int64_t>(d), n = num_batches.at(d);
    dataloader_idx_ = dl;
    num_eval_batches_ = n;
    if (n == 0) continue;
    std::unique_ptr<BatchStream> stream = loaders[d]->stream(0, n);
    for (int64_t b = 0; b < n; ++b) {
      std::optional<Batch> next = stream->next();
      if (!next) break;
      const Batch batch = precision_->convert_input(next->to(device_));
      batch_idx_ = b;
      eval_results_.begin_step();
      current_batch_size_ = batch.batch_size();
      if (val) {
        EMBER_HOOKS(on_validation_batch_start, batch, b, dl);
        {
          FxScope fx(*this, "validation_step");
          const auto amp = precision_->forward_context(device_);
          model_->validation_step(batch, b, dl);
        }
        EMBER_HOOKS(on_validation_batch_end, batch, b, dl);
      } else {
        EMBER_HOOKS(on_test_batch_start, batch, b, dl);
        {
          FxScope fx(*this, "test_step");
          const auto amp = precision_->forward_context(device_);
          model_->test_step(batch, b, dl);
        }
        EMBER_HOOKS(on_test_batch_end, batch, b, dl);
      }
      // Metrics logged with on_step=true in an evaluation loop: progress bar and loggers.
      const MetricViews v = eval_results_.views(true);
      for (const auto& [k, x] : v.pbar) pbar_values_[k] = x;
      if (!sanity_checking_ && !v.log.empty()) send_to_loggers(v.log, eval_log_step_);
      if (!v.log.empty()) ++eval_log_step_;
    }
  }
  epoch_end_reached_ = true;
  if (val) EMBER_HOOKS(on_validation_epoch_end);
  else EMBER_HOOKS(on_test_epoch_end);
  const MetricViews v = eval_results_.views(false);
  merge_views(v);
  eval_metrics_ = read_metrics(v.callback);
  if (!sanity_checking_) send_to_loggers(v.log, batches_that_stepped_);
  // A checkpoint saved from here on resumes after this validation.
  if (val && fn_ == TrainerFn::fit && !sanity_checking_) {
    phase_ = "validated";
    validated_in_fit_ = true;
  }
  if (val) EMBER_HOOKS(on_validation_end);
  else EMBER_HOOKS(on_test_end);
  if (!sanity_checking_)
    for (const auto& l : loggers_) l->save();

  stage_ = prev_stage;
  active_results_ = prev_results;
  epoch_end_reached_ = prev_epoch_end;
  batch_idx_ = prev_batch_idx;
  {
    FxScope fx(*this, val ? "on_validation_model_train" : "on_test_model_train");
    if (val) model_->on_validation_model_train();
    else model_->on_test_model_train();
  }
  return split_per_loader(eval_metrics_, loaders.size());
}

std::vector<MetricMap> Trainer::run_eval_entry(TrainerFn fn, LightningModule& model,
                                               LoaderList loaders, const std::string& ckpt_path,
                                               LightningDataModule* datamodule) {
  const std::string path = resolve_ckpt_path(ckpt_path, fn);
  std::optional<Checkpoint> ckpt;
  if (!path.empty()) ckpt = read_checkpoint(path);
  const bool val = fn == TrainerFn::validate;
  const std::string stage = val ? "validate" : "test";
  ckpt_path_ = path;
  begin_run(fn, model);
  datamodule_ = datamodule;
  std::vector<MetricMap> result;
  try {
    datamodule_begin(stage);
    EMBER_HOOKS(setup, stage);
    if (ckpt) restore_model(*ckpt, path);
    if (ckpt) restore_datamodule(*ckpt);
    const HParams hparams = run_hparams();
    for (const auto& l : loggers_) l->log_hyperparams(hparams);
    if (datamodule_) loaders = val ? datamodule_->val_dataloader() : datamodule_->test_dataloader();
    if (loaders.empty())
      fail<ValueError>(stage, "no ", stage, " loader: the LightningDataModule's ",
                       val ? "val" : "test", "_dataloader() returned none");
    const Stage st = val ? Stage::validate : Stage::test;
    const std::vector<DataLoader*> mine = distributed_views(loaders.pointers());  // ddp's share
    result = run_evaluation(st, mine, eval_batches(st, mine));
    if (datamodule_) datamodule_->teardown(stage);
    EMBER_HOOKS(teardown, stage);
    for (const auto& l : loggers_) l->save();
  } catch (...) {
    strategy_->on_exception();
    end_run();
    throw;
  }
  end_run();
  return result;
}

std::vector<MetricMap> Trainer::validate(ModelRef model, LoaderList loaders,
                                         const std::string& ckpt_path) {
  return run_eval_entry(TrainerFn::validate, model.get(), std::move(loaders), ckpt_path, nullptr);
}

std::vector<MetricMap> Trainer::validate(ModelRef model, LightningDataModule& datamodule,
                                         const std::string& ckpt_path) {
  return run_eval_entry(TrainerFn::validate, model.get(), {}, ckpt_path, &datamodule);
}

std::vector<MetricMap> Trainer::test(ModelRef model, LoaderList loaders,
                                     const std::string& ckpt_path) {
  return run_eval_entry(TrainerFn::test, model.get(), std::move(loaders), ckpt_path, nullptr);
}

std::vector<MetricMap> Trainer::test(ModelRef model, LightningDataModule& datamodule,
                                     const std::string& ckpt_path) {
  return run_eval_entry(TrainerFn::test, model.get(), {}, ckpt_path, &datamodule);
}

std::vector<Tensor> Trainer::predict(ModelRef model, DataLoader& loader,
                                     const std::string& ckpt_path) {
  return run_predict(model.get(), &loader, ckpt_path, nullptr);
}

std::vector<Tensor> Trainer::predict(ModelRef model, LightningDataModule& datamodule,
                                     const std::string& ckpt_path) {
  return run_predict(model.get(), nullptr, ckpt_path, &datamodule);
}

std::vector<Tensor> Trainer::run_predict(LightningModule& model, DataLoader* loader_ptr,
                                         const std::string& ckpt_path,
                                         LightningDataModule* datamodule) {
  const std::string path = resolve_ckpt_path(ckpt_path, TrainerFn::predict);
  std::optional<Checkpoint> ckpt;
  if (!path.empty()) ckpt = read_checkpoint(path);
  ckpt_path_ = path;
  begin_run(TrainerFn::predict, model);
  datamodule_ = datamodule;
  std::vector<Tensor> out;
  try {
    datamodule_begin("predict");
    EMBER_HOOKS(setup, std::string("predict"));
    if (ckpt) restore_model(*ckpt, path);
    if (ckpt) restore_datamodule(*ckpt);
    if (datamodule_) {
      LoaderList loaders = datamodule_->predict_dataloader();
      if (loaders.size() != 1)
        fail<ValueError>("predict", "the LightningDataModule's predict_dataloader() returned ",
                         loaders.size(), " loaders; ember's predict takes one");
      loader_ptr = &loaders[0];
      run_loaders_.push_back(std::move(loaders));
    }
    // Under ddp each rank predicts its share, unpadded, so the ranks together predict every
    // sample once (Lightning's UnrepeatedDistributedSamplerWrapper); trainer.predict returns
    // the rank's own predictions, and a BasePredictionWriter gets their data set indices.
    std::unique_ptr<DataLoader> share;
    if (world_size() > 1 && options_.use_distributed_sampler)
      share = rank_share(*loader_ptr, world_size(), global_rank(), false, "predict");
    DataLoader& loader = share ? *share : *loader_ptr;
    std::vector<BasePredictionWriter*> writers;
    for (const auto& c : callbacks_)
      if (auto* w = dynamic_cast<BasePredictionWriter*>(c.get())) writers.push_back(w);
    const std::vector<std::vector<int64_t>> indices = writers.empty()
                                                          ? std::vector<std::vector<int64_t>>{}
                                                          : loader.batch_indices(loader.epoch());
    const int64_t n = is_fast_dev_run() ? std::min(loader.size(), options_.fast_dev_run.batches)
                                        : options_.limit_predict_batches.of(loader.size());
    stage_ = Stage::predict;
    num_eval_batches_ = n;
    model.recorded_modes_.capture(model);  // restored after on_predict_end (Lightning 2.2+)
    {
      FxScope fx(*this, "on_predict_model_eval");
      model.on_predict_model_eval();
    }
    NoGradGuard no_grad;
    EMBER_HOOKS(on_predict_start);
    std::unique_ptr<BatchStream> stream = loader.stream(0, n);
    for (int64_t b = 0; b < n; ++b) {
      std::optional<Batch> next = stream->next();
      if (!next) break;
      const Batch batch = precision_->convert_input(next->to(device_));
      batch_idx_ = b;
      for (BasePredictionWriter* w : writers)
        w->set_current_batch_indices(indices.at(static_cast<size_t>(b)));
      call_callbacks(
          "on_predict_batch_start",
          [&](Callback& c) { c.on_predict_batch_start(*this, model, batch, b); },
          [](const Callback&) { return true; });
      Tensor pred;
      {
        FxScope fx(*this, "predict_step");
        const auto amp = precision_->forward_context(device_);
        pred = model.predict_step(batch, b);
      }
      call_callbacks(
          "on_predict_batch_end",
          [&](Callback& c) { c.on_predict_batch_end(*this, model, pred, batch, b); },
          [](const Callback&) { return true; });
      out.push_back(pred);
    }
    EMBER_HOOKS(on_predict_end);
    model.restore_module_modes();
    if (datamodule_) datamodule_->teardown("predict");
    EMBER_HOOKS(teardown, std::string("predict"));
  } catch (...) {
    end_run();
    throw;
  }
  end_run();
  return out;
}

}  // namespace ember
