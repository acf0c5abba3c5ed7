// The profiler's reports of the last session: the key_averages table and the Chrome trace.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "tensor/file_io.h"
#include "tensor/profiler.h"

namespace ember::profiler {

std::vector<EventStats> key_averages(SortBy sort_by) {
  std::vector<EventStats> stats;
  std::unordered_map<std::string, size_t> row;
  for (const Event& e : events()) {
    auto [it, added] = row.try_emplace(e.name, stats.size());
    if (added) stats.push_back({e.name, e.kind, 0, 0, 0, 0, 0});
    EventStats& s = stats[it->second];
    s.calls += 1;
    s.total_ns += e.duration_ns;
    s.self_ns += e.self_ns;
    s.self_bytes += e.self_bytes;
    s.total_bytes += e.total_bytes;
  }
  auto key = [sort_by](const EventStats& s) {
    switch (sort_by) {
      case SortBy::total: return s.total_ns;
      case SortBy::self: return s.self_ns;
      case SortBy::calls: return s.calls;
      case SortBy::self_bytes: return s.self_bytes;
      case SortBy::total_bytes: return s.total_bytes;
    }
    return s.total_ns;
  };
  // Ties keep the order of first appearance.
  std::stable_sort(stats.begin(), stats.end(),
                   [&](const EventStats& a, const EventStats& b) { return key(a) > key(b); });
  return stats;
}

namespace {

// As torch's table: microseconds below a millisecond, then ms, then s.
std::string format_time(double ns) {
  char buf[32];
  const double us = ns / 1e3;
  if (us >= 1e6) std::snprintf(buf, sizeof buf, "%.3fs", us / 1e6);
  else if (us >= 1e3) std::snprintf(buf, sizeof buf, "%.3fms", us / 1e3);
  else std::snprintf(buf, sizeof buf, "%.3fus", us);
  return buf;
}

std::string format_bytes(int64_t bytes) {
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024)
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%" PRId64 " B", bytes);
  return buf;
}

std::string format_percent(double part, double whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return buf;
}

// Right-aligns `s` in `width` columns (left-aligns the first column).
void cell(std::string& out, const std::string& s, size_t width, bool left = false) {
  const std::string pad(width > s.size() ? width - s.size() : 0, ' ');
  out += left ? s + pad : pad + s;
  out += "  ";
}

// Microseconds with exactly the nanoseconds' three decimals, so a nested event's
// interval stays inside its parent's after the conversion.
std::string micros(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
  return buf;
}

}  // namespace

std::string to_string(const TransferCounts& c) {
  return "h2d=" + std::to_string(c.h2d) + " (" + format_bytes(c.h2d_bytes) +
         ") d2h=" + std::to_string(c.d2h) + " (" + format_bytes(c.d2h_bytes) +
         ") syncs=" + std::to_string(c.syncs);
}

std::string table(SortBy sort_by, int64_t top_n) {
  std::vector<EventStats> stats = key_averages(sort_by);
  double self_total = 0;
  for (const EventStats& s : stats) self_total += static_cast<double>(s.self_ns);
  if (top_n >= 0 && static_cast<size_t>(top_n) < stats.size())
    stats.resize(static_cast<size_t>(top_n));

  constexpr size_t kMaxName = 55;  // longer names are cut, as torch's table does
  size_t name_width = 4;
  for (const EventStats& s : stats)
    name_width = std::max(name_width, std::min(s.name.size(), kMaxName));
  const std::vector<std::string> headers = {"Self CPU %", "Self CPU",     "CPU total %",
                                            "CPU total",  "CPU time avg", "# of Calls",
                                            "Self Alloc", "Alloc"};
  constexpr size_t kWidth = 12;

  std::string rule;
  cell(rule, std::string(name_width, '-'), name_width);
  for (size_t i = 0; i < headers.size(); ++i) cell(rule, std::string(kWidth, '-'), kWidth);
  rule.resize(rule.size() - 2);
  rule += '\n';

  std::string out = rule;
  cell(out, "Name", name_width, true);
  for (const std::string& h : headers) cell(out, h, kWidth);
  out.resize(out.size() - 2);
  out += '\n';
  out += rule;
  for (const EventStats& s : stats) {
    std::string name = s.name.size() > kMaxName ? s.name.substr(0, kMaxName - 3) + "..." : s.name;
    cell(out, name, name_width, true);
    cell(out, format_percent(static_cast<double>(s.self_ns), self_total), kWidth);
    cell(out, format_time(static_cast<double>(s.self_ns)), kWidth);
    cell(out, format_percent(static_cast<double>(s.total_ns), self_total), kWidth);
    cell(out, format_time(static_cast<double>(s.total_ns)), kWidth);
    cell(out, format_time(static_cast<double>(s.total_ns) / static_cast<double>(s.calls)), kWidth);
    cell(out, std::to_string(s.calls), kWidth);
    cell(out, format_bytes(s.self_bytes), kWidth);
    cell(out, format_bytes(s.total_bytes), kWidth);
    out.resize(out.size() - 2);
    out += '\n';
  }
  out += rule;
  out += "Self CPU time total: " + format_time(self_total) + "\n";
  // Copies and synchronizations, per device that made any (cpu makes none: its memory is
  // the host's).
  for (int d = 0; d < kNumDeviceTypes; ++d) {
    const Device device(static_cast<DeviceType>(d));
    const TransferCounts c = transfer_counts(device.type);
    if (c == TransferCounts{}) continue;
    out += "Transfers (" + (device.is_cuda() ? std::string("cuda") : device.str()) +
           "): " + to_string(c) + "\n";
  }
  return out;
}

std::string chrome_trace_json() {
  const std::string pid = std::to_string(::getpid());
  std::string out = "{\"traceEvents\":[";
  bool first = true;
  for (const Event& e : events()) {
    out += first ? "\n" : ",\n";
    first = false;
    out += "{\"name\":" +
           nlohmann::json(e.name).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
           ",\"cat\":\"" + to_string(e.kind) + "\",\"ph\":\"X\",\"ts\":" + micros(e.start_ns) +
           ",\"dur\":" + micros(e.duration_ns) + ",\"pid\":" + pid +
           ",\"tid\":" + std::to_string(e.thread) + ",\"args\":{\"self_us\":" + micros(e.self_ns) +
           ",\"self_bytes\":" + std::to_string(e.self_bytes) +
           ",\"bytes\":" + std::to_string(e.total_bytes) + "}}";
  }
  out += "\n],\"displayTimeUnit\":\"ms\"}\n";
  return out;
}

void export_chrome_trace(const std::string& path) {
  write_file_atomically(path, chrome_trace_json(), "profiler.export_chrome_trace");
}

}  // namespace ember::profiler
