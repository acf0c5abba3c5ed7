// One rank of a distributed test (collectives_test.cpp starts 2 or 3 of these with torchrun's
// variables). argv[1] names the scenario; the exit code says how it went (0: as expected),
// and stderr says why not.
//   collectives   every collective on f32/f64/i64, odd and even sizes, against references
//   early_exit    the last rank leaves after the rendezvous; the others must throw
//   hang          the last rank sleeps past the timeout; the others must throw
// EMBER_TEST_TIMEOUT_MS sets the group's timeout.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "distributed/process_group.h"
#include "tensor/ops.h"
#include "worker_main.h"

using namespace ember;
using namespace ember::distributed;
using DOp = ember::distributed::ReduceOp;

namespace {

// The value rank `r` holds at index i: random-looking, never zero, exact in every dtype's
// arithmetic only where noted.
double value(int r, int64_t i, uint64_t salt) {
  uint64_t x = (static_cast<uint64_t>(r) + 1) * 0x9E3779B97F4A7C15ull ^
               (static_cast<uint64_t>(i) + salt * 7919) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  const double u = static_cast<double>(x % 2000001) / 1000000.0 - 1.0;  // [-1, 1]
  return u == 0 ? 0.5 : u;
}

template <typename T>
Tensor make(int r, int64_t n, uint64_t salt, Device device = Device::cpu()) {
  std::vector<T> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double x = value(r, i, salt);
    // Integers: -1000..1000 and nonzero.
    v[static_cast<size_t>(i)] =
        std::is_integral_v<T> ? static_cast<T>(x * 1000 == 0 ? 1 : x * 1000) : static_cast<T>(x);
  }
  return from_vector(v, device);
}

template <typename T>
double tol() {
  return std::is_same_v<T, float> ? 1e-5 : std::is_same_v<T, double> ? 1e-12 : 0.0;
}

template <typename T>
void close_to(const char* what, const Tensor& got, const std::vector<double>& want) {
  const std::vector<T> g = got.to_vector<T>();
  EXPECT_W(g.size() == want.size(), "%s: %zu elements, want %zu", what, g.size(), want.size());
  for (size_t i = 0; i < g.size() && i < want.size(); ++i) {
    const double err = std::fabs(static_cast<double>(g[i]) - want[i]);
    if (err > tol<T>() * (1 + std::fabs(want[i]))) {
      EXPECT_W(false, "%s[%zu] = %.17g, want %.17g", what, i, static_cast<double>(g[i]), want[i]);
      return;
    }
  }
}

// The reference of a reduction over the ranks' inputs, in the element type's arithmetic.
template <typename T>
std::vector<double> reduced(int world, int64_t n, uint64_t salt, DOp op) {
  std::vector<std::vector<T>> inputs;
  for (int r = 0; r < world; ++r) inputs.push_back(make<T>(r, n, salt).template to_vector<T>());
  std::vector<double> out(static_cast<size_t>(n));
  for (size_t i = 0; i < out.size(); ++i) {
    T acc = inputs[0][i];
    for (size_t r = 1; r < inputs.size(); ++r) {
      const T x = inputs[r][i];
      if (op == DOp::max) {
        acc = std::max(acc, x);
      } else if (op == DOp::min) {
        acc = std::min(acc, x);
      } else if (op == DOp::product) {
        acc = acc * x;
      } else {
        acc = acc + x;
      }
    }
    out[i] = op == DOp::avg ? static_cast<double>(acc) / world : static_cast<double>(acc);
  }
  return out;
}

template <typename T>
void check_dtype(ProcessGroup& pg, Device device) {
  const int world = pg.world_size(), rank = pg.rank();
  uint64_t salt = 1;
  for (int64_t n : {1, 7, 1000, 4099}) {
    std::vector<DOp> ops{DOp::sum, DOp::max, DOp::min, DOp::product};
    if (!std::is_integral_v<T>) ops.push_back(DOp::avg);
    for (DOp op : ops) {
      ++salt;
      Tensor t = make<T>(rank, n, salt, device);
      pg.all_reduce(t, op)->wait();
      close_to<T>((std::string("all_reduce ") + to_string(op)).c_str(), t,
                  reduced<T>(world, n, salt, op));
    }
    // broadcast from the last rank
    ++salt;
    Tensor b = make<T>(rank, n, salt, device);
    pg.broadcast(b, world - 1)->wait();
    std::vector<double> want;
    for (T x : make<T>(world - 1, n, salt).template to_vector<T>()) want.push_back(x);
    close_to<T>("broadcast", b, want);
    // all_gather_into_tensor: the output poisoned first
    ++salt;
    Tensor in = make<T>(rank, n, salt, device);
    Tensor out = make<T>(99, n * world, 12345, device);
    pg.all_gather_into_tensor(out, in)->wait();
    want.clear();
    for (int r = 0; r < world; ++r) {
      for (T x : make<T>(r, n, salt).template to_vector<T>()) want.push_back(x);
    }
    close_to<T>("all_gather_into_tensor", out, want);
    // reduce_scatter_tensor: n elements per rank, the input unchanged
    ++salt;
    Tensor rs_in = make<T>(rank, n * world, salt, device);
    Tensor rs_out = make<T>(99, n, 12345, device);
    pg.reduce_scatter_tensor(rs_out, rs_in, DOp::sum)->wait();
    const auto full = reduced<T>(world, n * world, salt, DOp::sum);
    close_to<T>("reduce_scatter_tensor", rs_out,
                std::vector<double>(full.begin() + rank * n, full.begin() + (rank + 1) * n));
    std::vector<double> orig;
    for (T x : make<T>(rank, n * world, salt).template to_vector<T>()) orig.push_back(x);
    close_to<T>("reduce_scatter_tensor input", rs_in, orig);
  }
}

int collectives(ProcessGroup& pg) {
  check_dtype<float>(pg, Device::cpu());
  check_dtype<double>(pg, Device::cpu());
  check_dtype<int64_t>(pg, Device::cpu());
  check_dtype<float>(pg, Device::sim());
  // Several collectives in flight, then waited on in reverse: they run in call order.
  std::vector<Tensor> ts;
  std::vector<std::shared_ptr<Work>> works;
  for (int k = 0; k < 5; ++k) {
    ts.push_back(make<double>(pg.rank(), 333 + k, 500 + k));
    works.push_back(pg.all_reduce(ts.back(), DOp::sum));
  }
  for (int k = 4; k >= 0; --k) works[static_cast<size_t>(k)]->wait();
  for (int k = 0; k < 5; ++k) {
    EXPECT_W(works[static_cast<size_t>(k)]->is_completed(), "work %d not completed", k);
    close_to<double>("async all_reduce", ts[static_cast<size_t>(k)],
                     reduced<double>(pg.world_size(), 333 + k, 500 + k, DOp::sum));
  }
  pg.barrier()->wait();
  // Argument errors are thrown at the call, on every rank alike.
  bool threw = false;
  try {
    pg.all_reduce(make<int64_t>(0, 3, 1), DOp::avg);
  } catch (const DTypeError&) {
    threw = true;
  }
  EXPECT_W(threw, "avg of i64 accepted");
  threw = false;
  try {
    pg.all_gather_into_tensor(make<float>(0, 5, 1), make<float>(0, 3, 1));
  } catch (const ShapeError&) {
    threw = true;
  }
  EXPECT_W(threw, "all_gather_into_tensor of a wrong output size accepted");
  pg.barrier()->wait();
  return test::worker_result();
}

// The last rank is gone (or asleep): the others' all_reduce must throw DistBackendError
// naming the op, the rank and the elapsed time, within the timeout and some slack.
int peer_lost(ProcessGroup& pg, bool exit_early) {
  const int last = pg.world_size() - 1;
  if (pg.rank() == last) {
    if (exit_early) std::_Exit(0);  // no destructors: as a crash would
    std::this_thread::sleep_for(pg.timeout() + std::chrono::seconds(2));
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  try {
    Tensor t = make<float>(pg.rank(), 100000, 1);
    pg.all_reduce(t)->wait();
    EXPECT_W(false, "all_reduce returned");
  } catch (const DistBackendError& e) {
    const std::string msg = e.what();
    std::fprintf(stderr, "rank %d threw as expected: %s\n", pg.rank(), msg.c_str());
    const std::string rank = "rank " + std::to_string(pg.rank()) + " of ";
    EXPECT_W(msg.find("all_reduce") == 0, "message: %s", msg.c_str());
    EXPECT_W(msg.find(rank) != std::string::npos, "message: %s", msg.c_str());
    EXPECT_W(msg.find(" s (timeout ") != std::string::npos, "message: %s", msg.c_str());
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_W(elapsed < pg.timeout() + std::chrono::seconds(3), "took %.3f s",
           std::chrono::duration<double>(elapsed).count());
  // The group is unusable afterwards, and says so.
  bool threw = false;
  try {
    pg.barrier()->wait();
  } catch (const DistBackendError&) {
    threw = true;
  }
  EXPECT_W(threw, "barrier after a failed collective returned");
  return test::worker_result();
}

}  // namespace

int main(int argc, char** argv) {
  return test::worker_main(
      argc, argv,
      {{"collectives", [](std::shared_ptr<ProcessGroup> pg) { return collectives(*pg); }},
       {"early_exit", [](std::shared_ptr<ProcessGroup> pg) { return peer_lost(*pg, true); }},
       {"hang", [](std::shared_ptr<ProcessGroup> pg) { return peer_lost(*pg, false); }}});
}
