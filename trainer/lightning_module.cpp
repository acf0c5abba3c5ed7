#include "trainer/lightning_module.h"

#include "tensor/error.h"
#include "trainer/trainer.h"

namespace ember {

Tensor LightningModule::training_step(const Batch&, int64_t) {
  fail<ValueError>("training_step", name(), " does not override training_step, which fit needs");
}
void LightningModule::validation_step(const Batch&, int64_t) {
  fail<ValueError>("validation_step", name(),
                   " does not override validation_step, but a validation loader was given");
}
void LightningModule::test_step(const Batch&, int64_t) {
  fail<ValueError>("test_step", name(), " does not override test_step, which test needs");
}
Tensor LightningModule::predict_step(const Batch&, int64_t) {
  fail<ValueError>("predict_step", name(), " does not override predict_step, which predict needs");
}
OptimizerConfig LightningModule::configure_optimizers() {
  fail<ValueError>("configure_optimizers", name(),
                   " does not override configure_optimizers, which fit needs");
}

void LightningModule::log(const std::string& name, const Tensor& value, const LogOptions& options) {
  Trainer* t = live_trainer();
  if (!t) return;
  if (!value.defined()) fail<ValueError>("log", "'", name, "': the tensor is undefined");
  if (value.numel() != 1)
    fail<ValueError>("log", "'", name, "': only one-element tensors can be logged, got shape ",
                     str(value.sizes()));
  t->log_metric(name, value.detach(), options);  // read when shown or written, not now
}

void LightningModule::log(const std::string& name, double value, const LogOptions& options) {
  if (Trainer* t = live_trainer()) t->log_metric(name, value, options);
}

void LightningModule::log_dict(const std::map<std::string, Tensor>& values,
                               const LogOptions& options) {
  for (const auto& [k, v] : values) log(k, v, options);
}

void LightningModule::log_dict(const std::map<std::string, double>& values,
                               const LogOptions& options) {
  for (const auto& [k, v] : values) log(k, v, options);
}

Trainer& LightningModule::trainer() const {
  Trainer* t = live_trainer();
  if (!t) fail<ValueError>("LightningModule", name(), " is not attached to a Trainer");
  return *t;
}

int64_t LightningModule::current_epoch() const {
  Trainer* t = live_trainer();
  return t ? t->current_epoch() : 0;
}
int64_t LightningModule::global_step() const {
  Trainer* t = live_trainer();
  return t ? t->global_step() : 0;
}

}  // namespace ember
