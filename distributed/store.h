// The key-value store the ranks of a job meet at (torch.distributed's Store, TCPStore and
// PrefixStore): rendezvous, the backends' address exchange (Gloo's pairs, NCCL's unique id)
// and small agreements between ranks (counters, barriers) go through it.
//
//   TCPStore store("10.0.0.1", {.port = 29500, .is_master = rank == 0, .rank = rank});
//   store.set("x", "42");
//   std::string v = store.get_string("x");   // blocks until some rank sets "x"
//
// One rank (rank 0 under init_process_group) serves it from a thread; every rank, the
// server's own included, is a client over TCP. Every blocking call waits at most the
// store's timeout (30 minutes by default) and then throws DistStoreError naming the
// operation, the rank and the elapsed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "distributed/errors.h"

namespace ember::distributed {

using Bytes = std::vector<uint8_t>;

class Store {
 public:
  explicit Store(std::chrono::milliseconds timeout = kDefaultTimeout) : timeout_(timeout) {}
  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  virtual void set(const std::string& key, const Bytes& value) = 0;
  // The value of `key`, waiting until some rank sets it (at most timeout()).
  virtual Bytes get(const std::string& key) = 0;
  // Adds `amount` to the integer stored at `key` (0 when missing) and returns the sum.
  virtual int64_t add(const std::string& key, int64_t amount) = 0;
  // Sets `key` to `desired` if its value is `expected` (or it is missing and `expected` is
  // empty); returns the value after the call (torch's compare_set).
  virtual Bytes compare_set(const std::string& key, const Bytes& expected,
                            const Bytes& desired) = 0;
  // Waits until every key is set, at most `timeout`.
  virtual void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) = 0;
  void wait(const std::vector<std::string>& keys) { wait(keys, timeout_); }
  // Whether every key is set now (no waiting).
  virtual bool check(const std::vector<std::string>& keys) = 0;
  // Removes `key`; whether it was there.
  virtual bool delete_key(const std::string& key) = 0;
  virtual int64_t num_keys() = 0;

  // Strings for convenience (the bytes of the string, no terminator).
  void set(const std::string& key, const std::string& value) {
    set(key, Bytes(value.begin(), value.end()));
  }
  std::string get_string(const std::string& key) {
    Bytes b = get(key);
    return std::string(b.begin(), b.end());
  }

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  std::chrono::milliseconds timeout_;
};

struct TCPStoreOptions {
  int port = 29500;  // 0 with is_master: any free port (see TCPStore::port())
  bool is_master = false;
  std::chrono::milliseconds timeout = kDefaultTimeout;
  // Only for error messages: the rank of this process (-1: unknown).
  int rank = -1;
};

namespace detail {
class StoreServer;
}

// A Store over TCP. With is_master the constructor also starts the server (listening on
// every interface) before connecting to it; a client retries connecting until the timeout,
// so ranks may start in any order.
class TCPStore : public Store {
 public:
  TCPStore(std::string host, TCPStoreOptions options = {});
  ~TCPStore() override;

  void set(const std::string& key, const Bytes& value) override;
  Bytes get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t amount) override;
  Bytes compare_set(const std::string& key, const Bytes& expected, const Bytes& desired) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys) override;
  bool delete_key(const std::string& key) override;
  int64_t num_keys() override;
  using Store::set;
  using Store::wait;

  const std::string& host() const { return host_; }
  int port() const { return port_; }  // the bound port when the server picked one

 private:
  // Sends one request and reads its reply, waiting at most `timeout`; `op` names it in
  // errors. A request that timed out leaves the connection out of step: it is closed and
  // the next request reconnects.
  Bytes request(const char* op, uint8_t cmd, const std::vector<Bytes>& args,
                std::chrono::milliseconds timeout);
  void connect_locked(const char* op, std::chrono::steady_clock::time_point start,
                      std::chrono::milliseconds timeout);
  [[noreturn]] void fail_op(const char* op, std::chrono::steady_clock::time_point start,
                            std::chrono::milliseconds timeout, const std::string& why) const;

  std::string host_;
  int port_;
  int rank_;
  std::unique_ptr<detail::StoreServer> server_;
  std::mutex mutex_;  // one request at a time on the connection
  int fd_ = -1;
};

// Prefixes every key with "<prefix>/": several process groups (or runs) share one store.
class PrefixStore : public Store {
 public:
  PrefixStore(std::string prefix, std::shared_ptr<Store> store);
  void set(const std::string& key, const Bytes& value) override;
  Bytes get(const std::string& key) override;
  int64_t add(const std::string& key, int64_t amount) override;
  Bytes compare_set(const std::string& key, const Bytes& expected, const Bytes& desired) override;
  void wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) override;
  bool check(const std::vector<std::string>& keys) override;
  bool delete_key(const std::string& key) override;
  int64_t num_keys() override { return store_->num_keys(); }
  using Store::set;
  using Store::wait;
  const std::shared_ptr<Store>& underlying() const { return store_; }

 private:
  std::string k(const std::string& key) const { return prefix_ + "/" + key; }
  std::vector<std::string> k(const std::vector<std::string>& keys) const;
  std::string prefix_;
  std::shared_ptr<Store> store_;
};

}  // namespace ember::distributed
