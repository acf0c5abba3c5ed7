// ember::profiler: what it records (ops, backward nodes, ranges), self and total times,
// bytes, threads, the table and the Chrome trace.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>

#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/profiler.h"
#include "tensor/storage.h"

namespace {

using namespace ember;
namespace fs = std::filesystem;

std::vector<profiler::Event> named(const std::string& name) {
  std::vector<profiler::Event> out;
  for (const auto& e : profiler::events())
    if (e.name == name) out.push_back(e);
  return out;
}

std::map<std::string, int64_t> calls_of(profiler::EventKind kind) {
  std::map<std::string, int64_t> out;
  for (const auto& s : profiler::key_averages())
    if (s.kind == kind) out[s.name] = s.calls;
  return out;
}

// The events directly inside `parent`: its thread, one level deeper, within its interval.
std::vector<profiler::Event> children(const profiler::Event& parent) {
  std::vector<profiler::Event> out;
  for (const auto& e : profiler::events())
    if (e.thread == parent.thread && e.depth == parent.depth + 1 && e.start_ns >= parent.start_ns &&
        e.start_ns + e.duration_ns <= parent.start_ns + parent.duration_ns)
      out.push_back(e);
  return out;
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

fs::path scratch(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("ember_profiler_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}

TEST(Profiler, CountsEachOpOfASmallGraphOnce) {
  Tensor a = randn({8}).requires_grad_(), b = randn({8}).requires_grad_(),
         c = randn({8}).requires_grad_();
  profiler::start();
  Tensor y = (a * b + c).sum();
  profiler::stop();
  const std::map<std::string, int64_t> want = {
      {"ember::add", 1}, {"ember::mul", 1}, {"ember::sum", 1}};
  EXPECT_EQ(calls_of(profiler::EventKind::op), want);
  for (const auto& e : profiler::events()) EXPECT_EQ(e.depth, 0) << e.name;

  profiler::start();
  y.backward();
  profiler::stop();
  const auto nodes = calls_of(profiler::EventKind::backward);
  EXPECT_EQ(nodes.at("MulBackward"), 1);
  EXPECT_EQ(nodes.at("AddBackward"), 1);
  EXPECT_EQ(nodes.at("SumBackward"), 1);
  EXPECT_EQ(nodes.at("AccumulateGrad"), 3);
  // MulBackward computes g*b and g*a: two muls nested inside it, none outside.
  const auto mul_node = named("MulBackward");
  ASSERT_EQ(mul_node.size(), 1u);
  int64_t muls_inside = 0;
  for (const auto& e : children(mul_node[0])) muls_inside += e.name == "ember::mul";
  EXPECT_EQ(muls_inside, 2);
  EXPECT_EQ(named("ember::mul").size(), 2u);
  EXPECT_TRUE(a.grad().defined());
}

TEST(Profiler, AnOpInsideAnotherOpIsPartOfIt) {
  // add of f32 and f64 casts the f32 operand and expands both inside the add.
  Tensor a = randn({16}), b = randn({16}, TensorOptions{.dtype = DType::f64});
  profiler::start();
  Tensor y = a + b;
  profiler::stop();
  const auto events = profiler::events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "ember::add");
  EXPECT_EQ(events[0].kind, profiler::EventKind::op);
  EXPECT_EQ(events[0].self_ns, events[0].duration_ns);
  EXPECT_EQ(y.dtype(), DType::f64);
}

TEST(Profiler, ViewsAndCastsTheUserCallsAreOps) {
  Tensor x = randn({3, 4});
  profiler::start();
  Tensor y = x.transpose(0, 1).reshape({12}).to(DType::f64);  // reshape copies: a transposed input
  profiler::stop();
  std::vector<std::string> names;
  for (const auto& e : profiler::events()) names.push_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ember::transpose", "ember::reshape", "ember::to"}));
  EXPECT_EQ(named("ember::reshape")[0].self_bytes, 12 * 4);
  EXPECT_EQ(named("ember::to")[0].self_bytes, 12 * 8);
}

TEST(Profiler, SelfTimeIsTotalMinusNestedEvents) {
  Tensor x = randn({64, 64});
  profiler::start();
  {
    profiler::Range outer("outer");
    sleep_ms(3);
    Tensor y = x.matmul(x);
    {
      profiler::Range inner("inner");
      sleep_ms(6);
      y = y + x;
    }
  }
  profiler::stop();
  const auto outer = named("outer"), inner = named("inner");
  ASSERT_EQ(outer.size(), 1u);
  ASSERT_EQ(inner.size(), 1u);
  EXPECT_EQ(outer[0].kind, profiler::EventKind::user);
  EXPECT_EQ(inner[0].depth, 1);

  const auto kids = children(outer[0]);
  ASSERT_EQ(kids.size(), 2u);  // matmul and the inner range, not the add inside it
  int64_t child_sum = 0;
  for (const auto& k : kids) child_sum += k.duration_ns;
  EXPECT_GE(outer[0].duration_ns, child_sum);
  EXPECT_EQ(outer[0].self_ns, outer[0].duration_ns - child_sum);
  // The sleeps are where the time went: 3 ms of the outer range's own, 6 ms inside inner.
  EXPECT_GE(outer[0].self_ns, 3'000'000);
  EXPECT_GE(inner[0].duration_ns, 6'000'000);
  EXPECT_GE(inner[0].self_ns, 6'000'000);
  EXPECT_LT(outer[0].self_ns, outer[0].duration_ns - 6'000'000);

  const auto add = named("ember::add");
  ASSERT_EQ(add.size(), 1u);
  EXPECT_EQ(add[0].depth, 2);
  EXPECT_EQ(children(inner[0]).size(), 1u);
}

TEST(Profiler, BytesGoToTheInnermostEvent) {
  Tensor x = randn({256});  // 1 KiB of f32
  profiler::start();
  {
    profiler::Range r("range");
    Storage direct(Device::cpu(), 1000);  // allocated by the range itself
    Tensor y = x + x;                     // allocated by the add
    Tensor z = x.matmul(x);               // a 0-dim result: 4 bytes
  }
  profiler::stop();
  const auto r = named("range"), add = named("ember::add"), mm = named("ember::matmul");
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(add.size(), 1u);
  ASSERT_EQ(mm.size(), 1u);
  EXPECT_EQ(add[0].self_bytes, 1024);
  EXPECT_EQ(add[0].total_bytes, 1024);
  EXPECT_GE(mm[0].self_bytes, 4);
  EXPECT_EQ(r[0].self_bytes, 1000);
  EXPECT_EQ(r[0].total_bytes, 1000 + 1024 + mm[0].total_bytes);

  const auto stats = profiler::key_averages(profiler::SortBy::self_bytes);
  ASSERT_FALSE(stats.empty());
  EXPECT_EQ(stats[0].name, "ember::add");
}

TEST(Profiler, RecordsNothingWhenStopped) {
  Tensor x = randn({4});
  EXPECT_FALSE(profiler::is_enabled());
  Tensor y = x + x;  // before any session of this test
  profiler::start();
  EXPECT_TRUE(profiler::is_enabled());
  profiler::stop();
  EXPECT_FALSE(profiler::is_enabled());
  {
    profiler::Range r("after");
    y = x * x;
    y.sum();
  }
  EXPECT_TRUE(profiler::events().empty());
  EXPECT_TRUE(profiler::key_averages().empty());
  profiler::stop();  // stopping a stopped profiler does nothing
  EXPECT_TRUE(profiler::events().empty());
}

TEST(Profiler, StartTwiceThrowsAndGuardScopesASession) {
  Tensor x = randn({4});
  {
    profiler::Guard guard;
    EXPECT_THROW(profiler::start(), ValueError);
    Tensor y = x - x;
  }
  EXPECT_FALSE(profiler::is_enabled());
  EXPECT_EQ(calls_of(profiler::EventKind::op), (std::map<std::string, int64_t>{{"ember::sub", 1}}));
  // A new session forgets the last one.
  profiler::start();
  profiler::stop();
  EXPECT_TRUE(profiler::events().empty());
}

TEST(Profiler, AnEventOpenAcrossStopIsDropped) {
  profiler::start();
  {
    profiler::Range open("open_across_stop");
    profiler::stop();
  }
  EXPECT_TRUE(profiler::events().empty());
  // A range held outside the stack, left open by an inner range that closed first, is
  // dropped and does not disturb what follows.
  profiler::start();
  auto leaked = std::make_unique<std::optional<profiler::Range>>();
  {
    profiler::Range outer("outer");
    leaked->emplace("leaked");
  }
  leaked.reset();
  { profiler::Range after("after"); }
  profiler::stop();
  ASSERT_EQ(named("outer").size(), 1u);
  EXPECT_TRUE(named("leaked").empty());
  ASSERT_EQ(named("after").size(), 1u);
  EXPECT_EQ(named("after")[0].depth, 0);
}

TEST(Profiler, EventsFromTwoThreads) {
  Tensor x = randn({32});
  profiler::start();
  std::thread worker([&] {
    profiler::Range r("worker");
    for (int i = 0; i < 3; ++i) Tensor y = x + x;
  });
  {
    profiler::Range r("main");
    for (int i = 0; i < 2; ++i) Tensor y = x * x;
  }
  worker.join();
  profiler::stop();
  const auto w = named("worker"), m = named("main");
  ASSERT_EQ(w.size(), 1u);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(w[0].thread, m[0].thread);
  const auto adds = named("ember::add"), muls = named("ember::mul");
  ASSERT_EQ(adds.size(), 3u);
  ASSERT_EQ(muls.size(), 2u);
  for (const auto& e : adds) {
    EXPECT_EQ(e.thread, w[0].thread);
    EXPECT_EQ(e.depth, 1);
  }
  for (const auto& e : muls) EXPECT_EQ(e.thread, m[0].thread);
  EXPECT_EQ(children(w[0]).size(), 3u);
  EXPECT_EQ(children(m[0]).size(), 2u);
}

TEST(Profiler, ManyThreadsRecordEveryEvent) {
  constexpr int kThreads = 4, kRanges = 200;
  profiler::start();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([] {
      for (int i = 0; i < kRanges; ++i) profiler::Range r("tick");
    });
  for (auto& t : threads) t.join();
  profiler::stop();
  const auto stats = profiler::key_averages();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].calls, kThreads * kRanges);
}

// The table's rows in the order asked for, with torch's columns.
TEST(Profiler, TableSortsRowsAndKeepsTheTopN) {
  profiler::start();
  {
    profiler::Range r("slow_once");
    sleep_ms(8);
  }
  for (int i = 0; i < 3; ++i) {
    profiler::Range r("fast_thrice");
    sleep_ms(1);
  }
  profiler::stop();

  const std::string by_total = profiler::table();
  for (const char* col : {"Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total",
                          "CPU time avg", "# of Calls", "Self Alloc", "Alloc"})
    EXPECT_NE(by_total.find(col), std::string::npos) << col;
  EXPECT_NE(by_total.find("Self CPU time total: "), std::string::npos);
  ASSERT_NE(by_total.find("slow_once"), std::string::npos);
  ASSERT_NE(by_total.find("fast_thrice"), std::string::npos);
  EXPECT_LT(by_total.find("slow_once"), by_total.find("fast_thrice"));

  const std::string by_calls = profiler::table(profiler::SortBy::calls);
  EXPECT_LT(by_calls.find("fast_thrice"), by_calls.find("slow_once"));
  // The calls column of the fast row reads 3.
  const size_t row = by_calls.find("fast_thrice");
  const std::string line = by_calls.substr(row, by_calls.find('\n', row) - row);
  EXPECT_NE(line.find("  3  "), std::string::npos) << line;

  const std::string top1 = profiler::table(profiler::SortBy::total, 1);
  EXPECT_NE(top1.find("slow_once"), std::string::npos);
  EXPECT_EQ(top1.find("fast_thrice"), std::string::npos);

  const auto stats = profiler::key_averages();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].name, "slow_once");
  EXPECT_EQ(stats[1].calls, 3);
  EXPECT_GE(stats[0].total_ns, 8'000'000);
}

TEST(Profiler, ChromeTraceIsJsonWithNestedCompleteEvents) {
  Tensor a = randn({16, 16}).requires_grad_();
  profiler::start();
  {
    profiler::Range step("step \"1\"");  // a name that needs escaping
    Tensor loss = (a.matmul(a).relu() * 2.0).sum();
    loss.backward();
  }
  profiler::stop();
  const fs::path path = scratch("trace.json");
  profiler::export_chrome_trace(path.string());

  std::ifstream in(path);
  const nlohmann::json trace = nlohmann::json::parse(in);
  const auto& events = trace.at("traceEvents");
  ASSERT_EQ(events.size(), profiler::events().size());
  ASSERT_GT(events.size(), 5u);
  const nlohmann::json* step = nullptr;
  for (const auto& e : events) {
    for (const char* key : {"name", "cat", "ph", "ts", "dur", "pid", "tid", "args"})
      ASSERT_TRUE(e.contains(key)) << key;
    EXPECT_EQ(e["ph"], "X");
    EXPECT_EQ(e["pid"].get<int64_t>(), static_cast<int64_t>(::getpid()));
    EXPECT_GE(e["dur"].get<double>(), 0.0);
    if (e["name"] == "step \"1\"") step = &e;
  }
  ASSERT_NE(step, nullptr);
  EXPECT_EQ((*step)["cat"], "user_range");
  // Events of one thread nest or are disjoint, and every other event lies inside the step.
  constexpr double kEps = 0.0005;  // half a nanosecond, in microseconds
  const double s0 = (*step)["ts"].get<double>(), s1 = s0 + (*step)["dur"].get<double>();
  std::set<std::string> cats;
  for (const auto& e : events) {
    cats.insert(e["cat"].get<std::string>());
    const double t0 = e["ts"].get<double>(), t1 = t0 + e["dur"].get<double>();
    EXPECT_GE(t0, s0 - kEps) << e["name"];
    EXPECT_LE(t1, s1 + kEps) << e["name"];
    for (const auto& o : events) {
      if (&o == &e || o["tid"] != e["tid"]) continue;
      const double u0 = o["ts"].get<double>(), u1 = u0 + o["dur"].get<double>();
      const bool disjoint = u1 <= t0 + kEps || t1 <= u0 + kEps;
      const bool nested =
          (u0 >= t0 - kEps && u1 <= t1 + kEps) || (t0 >= u0 - kEps && t1 <= u1 + kEps);
      EXPECT_TRUE(disjoint || nested) << e["name"] << " and " << o["name"] << " overlap";
    }
  }
  EXPECT_EQ(cats, (std::set<std::string>{"op", "backward", "user_range"}));
  // Written whole: no temporary left beside it.
  for (const auto& f : fs::directory_iterator(path.parent_path()))
    EXPECT_EQ(f.path().filename().string().find(".tmp"), std::string::npos) << f.path();
  EXPECT_THROW(
      profiler::export_chrome_trace((path.parent_path() / "no_such_dir" / "t.json").string()),
      Error);
  fs::remove_all(path.parent_path());
}

}  // namespace
