// ember_ops: argument parsing, --list and the check mode (ops_perf.cpp times cases).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <regex>
#include <string>
#include <vector>

#include "registry/device_checks.h"
#include "registry/grad_checks.h"
#include "registry/ops_driver.h"
#include "tensor/sanitizer.h"

// Sanitizer builds replace malloc, so M_PERTURB does nothing there: ASan's own fill
// poisons fresh allocations instead (as in tests/tensor/op_cases_cpu_test.cpp).
#if EMBER_HAS_ASAN
extern "C" const char* __asan_default_options() {
  return "malloc_fill_byte=254:max_malloc_fill_size=2147483647";
}
#endif

namespace ember::cases {

std::string full_name(const OpCase& c) { return c.family + "/" + c.name; }

bool cuda_built() {
#if EMBER_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

int report_missing_cuda() {
  const char* req = std::getenv("EMBER_REQUIRE_CUDA");
  const bool required = req != nullptr && req[0] == '1';
  std::printf("cuda: %s; cuda cases %s\n",
              cuda_built() ? "built in, but no GPU and driver are visible"
                           : "not built into this binary (EMBER_CUDA=OFF)",
              required ? "FAIL (EMBER_REQUIRE_CUDA=1)" : "skipped");
  return required ? 1 : 0;
}

namespace {

using Clock = std::chrono::steady_clock;

// One check of a case on one device (or gradcheck); "" when it passes.
struct Run {
  std::string label;
  std::string report;
};

std::vector<Run> check_one(const OpCase& c, const std::vector<Device>& devices,
                           Device grad_device) {
  std::vector<Run> runs;
  for (const Device& d : devices) {
    if (d.is_cpu()) {
      runs.push_back({"cpu", check_case(c, d)});
    } else if (d.type == DeviceType::sim) {
      runs.push_back({"sim:sequential", check_sim(c, sim::Schedule::sequential)});
      runs.push_back({"sim:shuffled", check_sim(c, sim::Schedule::shuffled)});
    } else {
      runs.push_back({d.str(), check_device(c, d)});
    }
  }
  if (gradcheck_applies(c)) {
    runs.push_back({"gradcheck", gradcheck_case(c, grad_device)});
    if (gradgradcheck_applies(c))
      runs.push_back({"gradgradcheck", gradgradcheck_case(c, grad_device)});
  }
  return runs;
}

// Indents every line of a report under its case (trailing blank lines dropped).
std::string indent(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  std::string out = "    ";
  for (char ch : s) {
    out += ch;
    if (ch == '\n') out += "    ";
  }
  return out + '\n';
}

}  // namespace

int run_checks(const std::vector<const OpCase*>& cases, const DriverOptions& opt) {
  std::vector<Device> devices;
  if (!opt.device.empty()) {
    devices.push_back(Device(std::string_view(opt.device)));
  } else {
    devices = {Device::cpu(), Device::sim()};
    if (cuda_built()) devices.push_back(Device::cuda());
  }
  int status = 0;
  for (size_t i = 0; i < devices.size();) {
    if (devices[i].is_cuda() && !backend_available(DeviceType::cuda)) {
      status = report_missing_cuda();
      devices.erase(devices.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  if (devices.empty()) {
    std::printf("ops: 0 cases run, %zu skipped\n", cases.size());
    return status;
  }
  if (!poison_host_allocations()) std::printf("note: host allocations are not poisoned here\n");
  // Gradients are checked once per case, on the first device: the cpu by default,
  // through the device's kernels when --device names one.
  const Device grad_device = devices.front();
  std::string names;
  for (const Device& d : devices) names += (names.empty() ? "" : " ") + d.str();
  std::printf("ops: %zu cases on %s (sim in both schedules; gradcheck in f64 on %s)\n",
              cases.size(), names.c_str(), grad_device.str().c_str());
  std::fflush(stdout);

  auto t0 = Clock::now();
  int passed = 0, failed = 0, grad_checked = 0;
  for (const OpCase* c : cases) {
    std::vector<Run> runs = check_one(*c, devices, grad_device);
    std::string labels, reports;
    for (const Run& r : runs) {
      labels += (labels.empty() ? "" : " ") + r.label;
      if (!r.report.empty()) reports += "  [" + r.label + "]\n" + indent(r.report);
      if (r.label == "gradcheck") ++grad_checked;
    }
    const bool ok = reports.empty();
    (ok ? passed : failed) += 1;
    std::printf("%s %s  (%s)\n%s", ok ? "PASS" : "FAIL", full_name(*c).c_str(), labels.c_str(),
                reports.c_str());
    std::fflush(stdout);
  }
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("ops: %d passed, %d failed of %zu cases (%d gradchecked) on %s in %.1f s\n", passed,
              failed, cases.size(), grad_checked, names.c_str(), secs);
  return failed > 0 ? 1 : status;
}

}  // namespace ember::cases

namespace {

void usage(FILE* f) {
  std::fprintf(f,
               "usage: ember_ops [--list] [--device cpu|sim|cuda] [--filter REGEX] [--perf]\n"
               "                 [--min-time SECONDS] [--min-runs N]\n"
               "  --list      print the selected cases, one family/case a line\n"
               "  --device    only this device (check: default every built device; perf: cpu)\n"
               "  --filter    select the cases whose family/case matches REGEX (searched)\n"
               "  --perf      time each case (default --min-time 0.2 and --min-runs 3);\n"
               "              --skip-peaks leaves the machine's peaks unmeasured\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ember;
  using namespace ember::cases;
  DriverOptions opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--list") {
      opt.list = true;
    } else if (a == "--perf") {
      opt.perf = true;
    } else if (a == "--device" && has_value) {
      opt.device = argv[++i];
      if (opt.device != "cpu" && opt.device != "sim" && opt.device != "cuda") {
        std::fprintf(stderr, "ember_ops: unknown device '%s'\n", opt.device.c_str());
        return 2;
      }
    } else if (a == "--filter" && has_value) {
      opt.filter = argv[++i];
    } else if (a == "--min-time" && has_value) {
      opt.min_time = std::atof(argv[++i]);
    } else if (a == "--min-runs" && has_value) {
      opt.min_runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--skip-peaks") {
      opt.skip_peaks = true;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  try {
    std::regex re;
    try {
      re = std::regex(opt.filter.empty() ? std::string(".") : opt.filter);
    } catch (const std::regex_error& e) {
      std::fprintf(stderr, "ember_ops: bad --filter '%s': %s\n", opt.filter.c_str(), e.what());
      return 2;
    }
    std::vector<const OpCase*> selected;
    for (const OpCase& c : op_cases())
      if (opt.filter.empty() || std::regex_search(full_name(c), re)) selected.push_back(&c);
    if (opt.list) {
      for (const OpCase* c : selected) std::printf("%s\n", full_name(*c).c_str());
      return 0;
    }
    if (selected.empty()) {
      std::fprintf(stderr, "ember_ops: no case matches --filter '%s'\n", opt.filter.c_str());
      return 1;
    }
    return opt.perf ? run_perf(selected, opt) : run_checks(selected, opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember_ops: %s\n", e.what());
    return 1;
  }
}
