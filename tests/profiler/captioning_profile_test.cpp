// examples/captioning --profile: the main job prints the profiler table and writes a
// Chrome trace beside its logs. Runs the built example (EMBER_CAPTIONING_BIN) on a tiny
// configuration.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace {

namespace fs = std::filesystem;

// Runs `cmd` through the shell; returns its exit status and fills `output` (stdout and stderr).
int run(const std::string& cmd, std::string& output) {
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  return ::pclose(pipe);
}

TEST(ProfilerExample, CaptioningProfilePrintsTheTableAndWritesATrace) {
  const fs::path root =
      fs::temp_directory_path() / ("ember_profiler_captioning_" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string cmd =
      std::string(EMBER_CAPTIONING_BIN) +
      " --profile --profile-skip 1 --profile-steps 2 --max-steps 3 --train-size 64"
      " --val-size 32 --batch-size 8 --decoder simple --threads 1 --default-root-dir " +
      root.string();
  std::string out;
  ASSERT_EQ(run(cmd, out), 0) << out;

  for (const char* col :
       {"Name", "Self CPU %", "CPU total", "# of Calls", "Alloc", "Self CPU time total"})
    EXPECT_NE(out.find(col), std::string::npos) << col << " not in\n" << out;
  for (const char* row : {"ProfilerStep#1", "ProfilerStep#2", "backward", "ember::matmul"})
    EXPECT_NE(out.find(row), std::string::npos) << row << " not in\n" << out;

  // One transfers line per recorded step; the cpu device copies nothing.
  size_t lines = 0;
  for (size_t at = out.find("transfers per training step: "); at != std::string::npos;
       at = out.find("transfers per training step: ", at + 1)) {
    ++lines;
    EXPECT_EQ(out.compare(at, 56, "transfers per training step: h2d=0 d2h=0 syncs=0 (Profil"), 0)
        << out.substr(at, 80);
  }
  EXPECT_EQ(lines, 2u) << out;

  const fs::path trace = root / "lightning_logs" / "version_0" / "trace.json";
  EXPECT_NE(out.find("Chrome trace: " + trace.string()), std::string::npos) << out;
  ASSERT_TRUE(fs::exists(trace)) << out;
  std::ifstream in(trace);
  const nlohmann::json json = nlohmann::json::parse(in);
  std::set<std::string> cats, steps;
  for (const auto& e : json.at("traceEvents")) {
    EXPECT_EQ(e.at("ph"), "X");
    EXPECT_GE(e.at("dur").get<double>(), 0.0);
    cats.insert(e.at("cat").get<std::string>());
    const std::string name = e.at("name").get<std::string>();
    if (name.starts_with("ProfilerStep#")) steps.insert(name);
  }
  EXPECT_EQ(cats, (std::set<std::string>{"op", "backward", "user_range"}));
  EXPECT_EQ(steps, (std::set<std::string>{"ProfilerStep#1", "ProfilerStep#2"}));
  fs::remove_all(root);
}

}  // namespace
