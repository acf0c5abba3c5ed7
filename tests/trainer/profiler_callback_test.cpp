// ProfilerCallback: a window of training batches recorded with ember::profiler, the
// table and the trace beside the logs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_models.h"

using namespace trainer_test;
namespace fs = std::filesystem;

namespace {

// The ranges outside any other event (ops run between steps too: loading the next batch,
// reducing logged metrics).
std::vector<std::string> top_level_ranges() {
  std::vector<std::string> out;
  for (const auto& e : profiler::events())
    if (e.depth == 0 && e.kind == profiler::EventKind::user) out.push_back(e.name);
  return out;
}

}  // namespace

TEST(ProfilerCallback, RecordsTheWindowOfBatchesAndWritesTheTraceBesideTheLogs) {
  auto data = regression_data();  // 64 samples: 8 batches of 8
  DataLoader train(data, {.batch_size = 8});
  Regressor model;
  auto prof = ProfilerCallback::make({.skip_first = 2, .active = 3, .out = nullptr});
  Trainer trainer(quiet(
      {.max_epochs = 1, .default_root_dir = temp_dir("profiler_window"), .callbacks = {prof}}));
  trainer.fit(model, train);

  EXPECT_FALSE(profiler::is_enabled());
  EXPECT_EQ(top_level_ranges(),
            (std::vector<std::string>{"ProfilerStep#2", "ProfilerStep#3", "ProfilerStep#4"}));
  // Each step holds the Trainer's phases, and the backward nodes run inside "backward".
  std::map<std::string, int> phases;
  for (const auto& e : profiler::events()) {
    if (e.depth == 1 && e.kind == profiler::EventKind::user) phases[e.name] += 1;
    if (e.kind == profiler::EventKind::backward) {
      EXPECT_GE(e.depth, 2) << e.name;
    }
  }
  const std::map<std::string, int> want = {
      {"training_step", 3}, {"zero_grad", 3}, {"backward", 3}, {"optimizer_step", 3}};
  EXPECT_EQ(phases, want);
  int64_t nodes = 0, forward_matmuls = 0;
  for (const auto& e : profiler::events()) {
    nodes += e.kind == profiler::EventKind::backward;
    // ProfilerStep#i > training_step > the linear layer's matmul, once a batch
    forward_matmuls += e.name == "ember::matmul" && e.depth == 2;
  }
  EXPECT_GT(nodes, 0);
  EXPECT_EQ(forward_matmuls, 3);

  const fs::path trace = fs::path(trainer.log_dir()) / "trace.json";
  EXPECT_EQ(prof->trace_path(), trace.string());
  ASSERT_TRUE(fs::exists(trace));
  std::ifstream in(trace);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str().rfind("{\"traceEvents\":[", 0), 0u);
  EXPECT_NE(text.str().find("\"name\":\"ProfilerStep#3\""), std::string::npos);
  EXPECT_NE(prof->table().find("ProfilerStep#2"), std::string::npos);
  EXPECT_NE(prof->table().find("Self CPU time total"), std::string::npos);
}

TEST(ProfilerCallback, AFitEndingInsideTheWindowReportsWhatItRecorded) {
  auto data = regression_data();
  DataLoader train(data, {.batch_size = 8});
  Regressor model;
  const std::string dir = temp_dir("profiler_short");
  auto prof = ProfilerCallback::make(
      {.skip_first = 6, .active = 5, .dirpath = dir, .filename = "p.json", .out = nullptr});
  Trainer trainer(
      quiet({.max_epochs = 1, .default_root_dir = dir, .callbacks = {prof}, .logger = false}));
  trainer.fit(model, train);
  EXPECT_FALSE(profiler::is_enabled());
  EXPECT_EQ(top_level_ranges(), (std::vector<std::string>{"ProfilerStep#6", "ProfilerStep#7"}));
  EXPECT_EQ(prof->trace_path(), (fs::path(dir) / "p.json").string());
  EXPECT_TRUE(fs::exists(prof->trace_path()));
}

TEST(ProfilerCallback, AFitEndingBeforeTheWindowRecordsNothing) {
  auto data = regression_data(16);
  DataLoader train(data, {.batch_size = 8});
  Regressor model;
  auto prof = ProfilerCallback::make({.skip_first = 5, .active = 1, .out = nullptr});
  Trainer trainer(
      quiet({.max_epochs = 2, .default_root_dir = temp_dir("profiler_none"), .callbacks = {prof}}));
  trainer.fit(model, train);
  EXPECT_FALSE(profiler::is_enabled());
  EXPECT_TRUE(prof->trace_path().empty());
  EXPECT_TRUE(prof->table().empty());
  EXPECT_FALSE(fs::exists(fs::path(trainer.log_dir()) / "trace.json"));
}

TEST(ProfilerCallback, RefusesAnEmptyWindow) {
  EXPECT_THROW(ProfilerCallback({.active = 0}), ValueError);
  EXPECT_THROW(ProfilerCallback({.skip_first = -1}), ValueError);
}
