#include "report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

namespace ember_bench {
namespace {

double seconds_per_iteration(const benchmark::BenchmarkReporter::Run& run) {
  return run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The value of the first "key : value" line of a /proc or /etc file.
std::string field(const char* path, const std::string& key, char sep) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const size_t at = line.find(sep);
    if (at == std::string::npos) continue;
    std::string v = line.substr(at + 1);
    const auto strip = [](char c) { return c == ' ' || c == '\t' || c == '"'; };
    while (!v.empty() && strip(v.front())) v.erase(v.begin());
    while (!v.empty() && strip(v.back())) v.pop_back();
    return v;
  }
  return {};
}

std::optional<double> per_second(double amount, std::optional<double> seconds) {
  if (!seconds || *seconds <= 0) return std::nullopt;
  return amount / *seconds;
}

nlohmann::ordered_json number_or_null(std::optional<double> v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

// v with 4 significant digits in fixed notation ("40.42", "0.0004912"); "-" when absent.
std::string significant(std::optional<double> v) {
  if (!v) return "-";
  const double mag = *v == 0 ? 0 : std::floor(std::log10(std::abs(*v)));
  const int decimals = static_cast<int>(std::clamp(3 - mag, 0.0, 12.0));
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << *v;
  return s.str();
}

std::optional<double> scaled(std::optional<double> v, double factor) {
  return v ? std::optional<double>(*v * factor) : std::nullopt;
}

std::optional<double> ratio(const Row& r) {
  if (!r.ember_s || !r.libtorch_s || *r.libtorch_s <= 0) return std::nullopt;
  return *r.ember_s / *r.libtorch_s;
}

}  // namespace

void CollectingReporter::ReportRuns(const std::vector<Run>& runs) {
  ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    // function_name is the registered name; benchmark_name() appends "/real_time".
    const std::string& name = run.run_name.function_name;
    if (run.error_occurred) {
      errors_.push_back(name + ": " + run.error_message);
    } else if (run.run_type == Run::RT_Iteration) {
      iteration_seconds_[name].push_back(seconds_per_iteration(run));
    } else if (run.aggregate_name == "median") {
      median_seconds_[name] = seconds_per_iteration(run);
    }
  }
}

std::optional<double> CollectingReporter::seconds(const std::string& benchmark) const {
  if (auto it = median_seconds_.find(benchmark); it != median_seconds_.end()) return it->second;
  if (auto it = iteration_seconds_.find(benchmark); it != iteration_seconds_.end()) {
    return median(it->second);
  }
  return std::nullopt;
}

std::vector<Row> collect_rows(const CollectingReporter& reporter) {
  std::vector<Row> rows;
  for (const Workload& w : workloads()) {
    Row r{&w, reporter.seconds("ember/" + w.name), reporter.seconds("libtorch/" + w.name)};
    if (r.ember_s || r.libtorch_s) rows.push_back(r);  // skip workloads filtered out
  }
  return rows;
}

void print_rooflines(std::ostream& os, const Rooflines& roofs) {
  const auto line = [&os](const char* label, const Roofline& r) {
    os << "roofline, " << label << ": peak f32 " << significant(r.flops * 1e-9)
       << " GFLOP/s (FMA loop), memory " << significant(r.bytes * 1e-9) << " GB/s (copy "
       << significant(r.copy_bytes * 1e-9) << ", triad " << significant(r.triad_bytes * 1e-9)
       << ", update " << significant(r.update_bytes * 1e-9) << ")\n";
  };
  line((std::to_string(roofs.threads) + " threads").c_str(), roofs.all);
  if (roofs.threads != 1) line("1 thread", roofs.one);
}

void print_table(std::ostream& os, const std::vector<Row>& rows, const Rooflines& roofs) {
  const auto col = [&os](const std::string& s, int width) { os << std::setw(width) << s; };
  os << "\n" << std::left << std::setw(16) << "workload" << std::right;
  for (const char* h : {"ember ms", "libtorch ms", "ratio", "ember roof", "torch roof",
                        "ember GB/s", "ember TFLOP/s", "torch GB/s", "torch TFLOP/s"}) {
    col(h, 15);
  }
  os << "\n";
  for (const Row& r : rows) {
    const Workload& w = *r.workload;
    os << std::left << std::setw(16) << w.name << std::right;
    col(significant(scaled(r.ember_s, 1e3)), 15);
    col(significant(scaled(r.libtorch_s, 1e3)), 15);
    col(significant(ratio(r)), 15);
    col(significant(roofline_fraction(roofs.of(w), w.flops, w.bytes, r.ember_s)), 15);
    col(significant(roofline_fraction(roofs.of(w), w.flops, w.bytes, r.libtorch_s)), 15);
    col(significant(scaled(per_second(w.bytes, r.ember_s), 1e-9)), 15);
    col(significant(scaled(per_second(w.flops, r.ember_s), 1e-12)), 15);
    col(significant(scaled(per_second(w.bytes, r.libtorch_s), 1e-9)), 15);
    col(significant(scaled(per_second(w.flops, r.libtorch_s), 1e-12)), 15);
    os << "\n";
  }
  os << "ratio = ember ms / libtorch ms (below 1: ember is faster); roof = the fraction of the "
        "roofline reached: max(FLOPs / peak, bytes / bandwidth) / time\n";
}

std::string machine_description() {
  std::string cpu = field("/proc/cpuinfo", "model name", ':');
  if (cpu.empty()) cpu = "unknown cpu";
  std::ostringstream s;
  s << cpu << ", " << std::thread::hardware_concurrency() << " cores";
  utsname u{};
  if (uname(&u) == 0) s << ", " << u.sysname << " " << u.release << " " << u.machine;
  if (std::string os = field("/etc/os-release", "PRETTY_NAME", '='); !os.empty()) s << ", " << os;
  return s.str();
}

std::optional<double> load_average() {
  std::ifstream in("/proc/loadavg");
  double load = 0;
  if (in >> load) return load;
  return std::nullopt;
}

namespace {
nlohmann::ordered_json roofline_json(const Roofline& r) {
  return {{"peak_gflops", r.flops * 1e-9},
          {"bandwidth_gbps", r.bytes * 1e-9},
          {"copy_gbps", r.copy_bytes * 1e-9},
          {"triad_gbps", r.triad_bytes * 1e-9},
          {"update_gbps", r.update_bytes * 1e-9}};
}
}  // namespace

void write_json(const std::string& path, const std::vector<Row>& rows, const Rooflines& roofs,
                const std::vector<PeakRss>& peaks) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    const Workload& w = *r.workload;
    results.push_back({
        {"name", w.name},
        {"ember_ms", number_or_null(scaled(r.ember_s, 1e3))},
        {"libtorch_ms", number_or_null(scaled(r.libtorch_s, 1e3))},
        {"ratio", number_or_null(ratio(r))},
        {"threads", w.threads == 0 ? roofs.threads : w.threads},
        {"ember_roofline",
         number_or_null(roofline_fraction(roofs.of(w), w.flops, w.bytes, r.ember_s))},
        {"libtorch_roofline",
         number_or_null(roofline_fraction(roofs.of(w), w.flops, w.bytes, r.libtorch_s))},
        {"ember_gbps", number_or_null(scaled(per_second(w.bytes, r.ember_s), 1e-9))},
        {"ember_tflops", number_or_null(scaled(per_second(w.flops, r.ember_s), 1e-12))},
        {"libtorch_gbps", number_or_null(scaled(per_second(w.bytes, r.libtorch_s), 1e-9))},
        {"libtorch_tflops", number_or_null(scaled(per_second(w.flops, r.libtorch_s), 1e-12))},
        {"flops", w.flops},
        {"bytes", w.bytes},
    });
  }
  nlohmann::ordered_json roofline = roofline_json(roofs.all);
  roofline["threads"] = roofs.threads;
  roofline["one_thread"] = roofline_json(roofs.one);
  nlohmann::ordered_json doc = {{"machine", machine_description()},
                                {"threads", roofs.threads},
                                {"libtorch_version", torch_side::version()},
                                {"libtorch_blas", torch_side::blas()},
                                {"roofline", roofline},
                                {"results", results}};
  for (const PeakRss& p : peaks)
    doc[p.workload + "_peak_rss_mb"] = {{"ember", p.ember_mb},
                                        {"libtorch", p.libtorch_mb},
                                        {"ember_base", p.ember_base_mb},
                                        {"libtorch_base", p.libtorch_base_mb},
                                        {"ember_alone", p.ember_alone_mb},
                                        {"libtorch_alone", p.libtorch_alone_mb},
                                        {"iterations", p.iterations}};
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace ember_bench
