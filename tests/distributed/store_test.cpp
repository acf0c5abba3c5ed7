// TCPStore in one process: the server on a free port, clients on threads.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "distributed/store.h"

using namespace ember;
using namespace ember::distributed;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<TCPStore> master(std::chrono::milliseconds timeout = 5s) {
  return std::make_unique<TCPStore>(
      "127.0.0.1", TCPStoreOptions{.port = 0, .is_master = true, .timeout = timeout, .rank = 0});
}
std::unique_ptr<TCPStore> client(int port, int rank, std::chrono::milliseconds timeout = 5s) {
  return std::make_unique<TCPStore>(
      "127.0.0.1", TCPStoreOptions{.port = port, .timeout = timeout, .rank = rank});
}

}  // namespace

TEST(TCPStore, SetGetAddCompareSetAcrossClients) {
  auto m = master();
  ASSERT_GT(m->port(), 0);
  auto c = client(m->port(), 1);
  m->set("a", std::string("hello"));
  EXPECT_EQ(c->get_string("a"), "hello");
  EXPECT_EQ(c->add("n", 5), 5);
  EXPECT_EQ(m->add("n", -2), 3);
  EXPECT_EQ(c->get_string("n"), "3");  // torch stores counters as decimal strings
  const Bytes x{'x'}, y{'y'}, z{'z'};
  EXPECT_EQ(c->compare_set("cas", x, y), x);  // missing and expected not empty: unchanged
  EXPECT_FALSE(c->check({"cas"}));
  EXPECT_EQ(c->compare_set("cas", {}, y), y);  // missing and expected empty: set
  EXPECT_EQ(m->compare_set("cas", x, z), y);   // mismatch: unchanged
  EXPECT_EQ(m->compare_set("cas", y, z), z);
  EXPECT_TRUE(c->check({"a", "n", "cas"}));
  EXPECT_EQ(m->num_keys(), 3);
  EXPECT_TRUE(c->delete_key("a"));
  EXPECT_FALSE(c->delete_key("a"));
  EXPECT_FALSE(m->check({"a"}));
  // Binary values survive (zero bytes, all 256 values).
  Bytes all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<uint8_t>(i));
  c->set("bin", all);
  EXPECT_EQ(m->get("bin"), all);
}

TEST(TCPStore, GetAndWaitBlockUntilAnotherClientSets) {
  auto m = master();
  auto c = client(m->port(), 1);
  std::thread setter([&] {
    auto s = client(m->port(), 2);
    std::this_thread::sleep_for(100ms);
    s->set("late", std::string("v"));
    s->set("late2", std::string("w"));
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(c->get_string("late"), "v");
  m->wait({"late", "late2"});
  EXPECT_GE(std::chrono::steady_clock::now() - start, 90ms);
  setter.join();
}

TEST(TCPStore, GetOfAMissingKeyTimesOutNamingTheOpRankAndTime) {
  auto m = master(300ms);
  auto c = client(m->port(), 3, 300ms);
  const auto start = std::chrono::steady_clock::now();
  try {
    c->get("never");
    FAIL() << "get returned";
  } catch (const DistStoreError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("TCPStore.get"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("after 0."), std::string::npos) << msg;
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 290ms);
  EXPECT_LT(elapsed, 3s);
  // wait() with its own timeout; the connection recovers for the next request.
  EXPECT_THROW(c->wait({"never"}, 100ms), DistStoreError);
  c->set("k", std::string("v"));
  EXPECT_EQ(m->get_string("k"), "v");
}

TEST(TCPStore, UnreachableAddressFailsWithAClearError) {
  // A port nobody listens on: bind one, read its number, close it.
  int port;
  { port = master()->port(); }
  const auto start = std::chrono::steady_clock::now();
  try {
    client(port, 1, 500ms);
    FAIL() << "connected";
  } catch (const DistStoreError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot connect"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << msg;
  }
  EXPECT_GE(std::chrono::steady_clock::now() - start, 450ms);
  EXPECT_THROW(TCPStore("no-such-host.invalid", {.port = 1, .timeout = 200ms}), DistStoreError);
  EXPECT_THROW(TCPStore("127.0.0.1", {.port = 0}), ValueError);
}

TEST(PrefixStore, PrefixesKeys) {
  auto m = std::shared_ptr<TCPStore>(master());
  PrefixStore p("group1", m);
  p.set("k", std::string("v"));
  EXPECT_EQ(m->get_string("group1/k"), "v");
  EXPECT_EQ(p.add("c", 2), 2);
  EXPECT_TRUE(m->check({"group1/c"}));
  EXPECT_FALSE(p.check({"other"}));
}
