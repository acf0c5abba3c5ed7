#include "trainer/datamodule.h"

#include "tensor/error.h"

namespace ember {

std::shared_ptr<DataLoader> LightningDataModule::train_dataloader() {
  fail<ValueError>("fit", "train_dataloader() must be implemented in the LightningDataModule ",
                   "to be used with Trainer::fit");
}

}  // namespace ember
