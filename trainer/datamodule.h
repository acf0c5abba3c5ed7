// LightningDataModule: the data of a project in one place (download, split, loaders),
// handed to the Trainer's entry points instead of loaders.
//
//   struct Mnist : LightningDataModule {
//     void setup(const std::string& stage) override { if (stage == "fit") train = ...; }
//     std::shared_ptr<DataLoader> train_dataloader() override {
//       return std::make_shared<DataLoader>(train, DataLoaderOptions{.batch_size = 32});
//     }
//     LoaderList val_dataloader() override { return {val_a, val_b}; }   // one or several
//   };
//   trainer.fit(model, datamodule);
//
// The Trainer calls, as Lightning: prepare_data(), then setup(stage) (before the callbacks'
// and the module's setup), asks for the loaders of the stage, and ends with
// teardown(stage) (before the callbacks' and the module's teardown). docs/trainer.md
// "Data" lists the order within fit.
#pragma once

#include <memory>
#include <string>

#include "trainer/data.h"
#include "trainer/hparams.h"

namespace ember {

class LightningDataModule {
 public:
  virtual ~LightningDataModule() = default;

  // Once per entry point, before setup: download or write what every stage reads (in
  // Lightning, on one process of a node; ember runs one process).
  virtual void prepare_data() {}
  virtual void setup(const std::string& /*stage: fit, validate, test, predict*/) {}
  virtual void teardown(const std::string& /*stage*/) {}

  // The loaders of each stage. train_dataloader must be overridden for fit (else a
  // ValueError as Lightning's "must be implemented"); an empty val_dataloader skips
  // validation in fit. Each is called once per run that needs it.
  virtual std::shared_ptr<DataLoader> train_dataloader();
  virtual LoaderList val_dataloader() { return {}; }
  virtual LoaderList test_dataloader() { return {}; }
  virtual LoaderList predict_dataloader() { return {}; }

  // Opaque text saved in checkpoints under "datamodule" (empty: nothing saved), and
  // handed back to load_state_dict when a checkpoint that holds it is loaded.
  virtual std::string state_dict() const { return {}; }
  virtual void load_state_dict(const std::string& /*state*/) {}

  // Saved in checkpoints as "datamodule_hyper_parameters" and sent to the loggers with
  // the module's (Lightning merges the two; a name in both must agree).
  void save_hyperparameters(HParams hparams) { hparams_ = std::move(hparams); }
  const HParams& hparams() const { return hparams_; }

 private:
  HParams hparams_;
};

}  // namespace ember
