// ember_gpu_bench: times ember's GPU rows (docs/gpu.md, "Benchmark rows against PyTorch")
// and prints one JSON line per row on stdout.
//
//   ember_gpu_bench [--device cuda|sim|cpu] [--small] [--groups matmul,sdpa,train_step]
//                   [--warmup N] [--runs N]
//
// --device cuda (the default) times with CUDA events; sim and cpu with the host clock.
// --small: tiny shapes and few runs, for sim and cpu (the ctest test ember_gpu_bench_sim).
// --warmup / --runs replace every group's counts. Exit status: 0 when every row was
// timed, 1 when a row failed (its line carries "error"), 2 for a bad command line.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "rows.h"
#include "timing.h"

using namespace ember;
using namespace ember::gpubench;

namespace ember::gpubench {

Sizes Sizes::small() {
  Sizes s;
  s.matmul_n = 64;
  s.attn_b = 1, s.attn_h = 2, s.attn_t = 48, s.attn_d = 32;
  s.batch = 2;
  s.matmul_warmup = s.attn_warmup = 1;
  s.matmul_runs = s.attn_runs = 3;
  // A step on sim takes seconds (the model's 7.4 M parameters go through the backward and
  // Adam one simulated thread at a time), more under the sanitizers: one, unwarmed.
  s.step_warmup = 0;
  s.step_runs = 1;
  return s;
}

}  // namespace ember::gpubench

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "ember_gpu_bench: %s\nusage: ember_gpu_bench [--device cuda|sim|cpu] [--small] "
               "[--groups matmul,sdpa,train_step] [--warmup N] [--runs N]\n",
               why.c_str());
  std::exit(2);
}

int positive(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    const int v = std::stoi(text, &used);
    if (used == text.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  usage(flag + " wants a count, not '" + text + "'");
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> items;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');)
    if (!item.empty()) items.push_back(item);
  return items;
}

nlohmann::json to_json(const Row& r, const std::string& device) {
  nlohmann::json j = {{"row", r.row},     {"impl", "ember"},  {"device", device},
                      {"shape", r.shape}, {"dtype", r.dtype}, {"warmup", r.warmup},
                      {"runs", r.runs}};
  if (r.error) {
    j["error"] = *r.error;
    return j;
  }
  const double ms = median(r.ms);
  j["ms"] = ms;
  j["min_ms"] = *std::min_element(r.ms.begin(), r.ms.end());
  if (r.flops > 0 && ms > 0) j["tflops"] = r.flops / (ms * 1e-3) / 1e12;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  std::string device_name = "cuda";
  bool small = false;
  std::vector<std::string> groups = {"matmul", "sdpa", "train_step"};
  int warmup = -1, runs = -1;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(flag + " wants a value");
      return argv[++i];
    };
    if (flag == "--device") device_name = value();
    else if (flag == "--small") small = true;
    else if (flag == "--groups") groups = split(value());
    else if (flag == "--warmup") warmup = positive(flag, value());
    else if (flag == "--runs") runs = positive(flag, value());
    else usage("unknown flag " + flag);
  }
  Device device = Device::cpu();
  if (device_name == "cuda") device = Device::cuda();
  else if (device_name == "sim") device = Device::sim();
  else if (device_name != "cpu") usage("--device must be cuda, sim or cpu, not " + device_name);
  for (const std::string& g : groups)
    if (g != "matmul" && g != "sdpa" && g != "train_step")
      usage("--groups takes matmul, sdpa and train_step, not " + g);
  if (runs == 0) usage("--runs must be at least 1");

  Sizes sizes = small ? Sizes::small() : Sizes{};
  if (warmup >= 0) sizes.matmul_warmup = sizes.attn_warmup = sizes.step_warmup = warmup;
  if (runs > 0) sizes.matmul_runs = sizes.attn_runs = sizes.step_runs = runs;
  if (!backend_available(device.type)) {
    std::fprintf(stderr, "ember_gpu_bench: device %s is not available%s\n", device_name.c_str(),
                 device.is_cuda() && !have_cuda_events() ? " (built without EMBER_CUDA)" : "");
    return 1;
  }

  // Each row is printed (and flushed) as soon as it is timed: a run cut short by a time
  // limit or a crash still leaves the rows before it.
  bool failed = false;
  const Emit emit = [&](const Row& r) {
    failed = failed || r.error.has_value();
    std::printf("%s\n", to_json(r, device_name).dump().c_str());
    std::fflush(stdout);
  };
  for (const std::string& g : groups) {
    if (g == "matmul") matmul_rows(device, sizes, emit);
    else if (g == "sdpa") attention_rows(device, sizes, emit);
    else train_step_rows(device, sizes, emit);
  }
  return failed ? 1 : 0;
}
