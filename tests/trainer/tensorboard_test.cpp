// The TensorBoard event files: CRC-32C, record framing, and a fit's scalars read back.
// (tensorboard_interop.py reads the same files with the tensorboard package.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "test_models.h"
#include "trainer/loggers/tfevents.h"

using namespace trainer_test;
namespace fs = std::filesystem;

TEST(TfEvents, Crc32cAndFraming) {
  EXPECT_EQ(tfevents::crc32c("123456789", 9), 0xE3069283u);  // the standard check value
  EXPECT_EQ(tfevents::crc32c("", 0), 0u);
  const std::string rec = tfevents::frame_record("abc");
  ASSERT_EQ(rec.size(), 8u + 4 + 3 + 4);
  EXPECT_EQ(rec.substr(12, 3), "abc");
}

TEST(TfEvents, AFitsScalarsReadBack) {
  const std::string root = temp_dir("tb");
  auto data = regression_data(32);
  DataLoader loader(data, {.batch_size = 8});
  Regressor model;
  auto tb = TensorBoardLogger::make(root);
  auto csv = CSVLogger::make(root);
  Trainer trainer(quiet({.max_epochs = 2,
                         .num_sanity_val_steps = 0,
                         .log_every_n_steps = 1,
                         .enable_checkpointing = false,
                         .default_root_dir = root,
                         .logger = std::vector<std::shared_ptr<Logger>>{tb, csv}}));
  trainer.fit(model, loader, loader);
  // Both loggers share version_0.
  EXPECT_EQ(tb->log_dir(), csv->log_dir());
  EXPECT_EQ(fs::path(tb->event_file()).parent_path().string(), root + "/lightning_logs/version_0");
  EXPECT_TRUE(fs::path(tb->event_file()).filename().string().starts_with("events.out.tfevents."));
  const tfevents::EventFile f = tfevents::read_event_file(tb->event_file());
  EXPECT_EQ(f.file_version, "brain.Event:2");
  std::vector<int64_t> train_steps;
  std::vector<float> train_values;
  int val_count = 0;
  for (const auto& s : f.scalars) {
    if (s.tag == "train_loss") {
      train_steps.push_back(s.step);
      train_values.push_back(s.value);
    }
    if (s.tag == "val_loss") ++val_count;
  }
  EXPECT_EQ(train_steps, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_EQ(train_values.size(), model.losses.size());
  for (size_t i = 0; i < model.losses.size(); ++i)
    EXPECT_EQ(train_values[i], static_cast<float>(model.losses[i]));
  EXPECT_EQ(val_count, 2);
  EXPECT_TRUE(fs::exists(root + "/lightning_logs/version_0/hparams.yaml"));

  // A damaged file is reported with the offset of the bad record.
  std::string bytes;
  {
    std::ifstream in(tb->event_file(), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bytes[bytes.size() - 7] ^= 0x40;
  const std::string broken = root + "/broken.tfevents";
  std::ofstream(broken, std::ios::binary) << bytes;
  EXPECT_THROW(tfevents::read_event_file(broken), ValueError);
}
