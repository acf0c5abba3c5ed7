#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "distributed/socket_util.h"
#include "distributed/store.h"
#include "distributed/store_server.h"

namespace ember::distributed {

using detail::Clock;

namespace {

Bytes str_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// One non-blocking connect to `ai`, waiting at most `wait`; the connected socket or -1
// with `why` set.
int try_connect(const addrinfo* ai, std::chrono::milliseconds wait, std::string& why) {
  const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0) {
    why = detail::errno_str(errno);
    return -1;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd pfd{fd, POLLOUT, 0};
    rc = ::poll(&pfd, 1, static_cast<int>(wait.count()));
    if (rc == 0) {
      why = "connect timed out";
      ::close(fd);
      return -1;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err == 0 ? 0 : -1;
    errno = err;
  }
  if (rc != 0) {
    why = detail::errno_str(errno);
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, flags);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

TCPStore::TCPStore(std::string host, TCPStoreOptions options)
    : Store(options.timeout), host_(std::move(host)), port_(options.port), rank_(options.rank) {
  if (options.port < 0 || options.port > 65535 || (options.port == 0 && !options.is_master)) {
    fail<ValueError>("TCPStore", "port must be in 1..65535 (0 only for the master), got ",
                     options.port);
  }
  if (options.is_master) {
    server_ = std::make_unique<detail::StoreServer>(options.port);
    port_ = server_->port();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  connect_locked("TCPStore", Clock::now(), timeout());
}

TCPStore::~TCPStore() {
  if (fd_ >= 0) ::close(fd_);
  server_.reset();  // the server thread stops after this rank's last request
}

void TCPStore::fail_op(const char* op, Clock::time_point start, std::chrono::milliseconds timeout,
                       const std::string& why) const {
  fail<DistStoreError>(op, "rank ", rank_, ": ", why, " (store ", host_, ":", port_, ") after ",
                       detail::seconds_str(Clock::now() - start), " (timeout ",
                       detail::seconds_str(timeout), ")");
}

void TCPStore::connect_locked(const char* op, Clock::time_point start,
                              std::chrono::milliseconds timeout) {
  const auto deadline = start + timeout;
  std::string why;
  // The server may not be up yet (ranks start in any order): retry until the deadline.
  for (;;) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int gai = ::getaddrinfo(host_.c_str(), std::to_string(port_).c_str(), &hints, &res);
    if (gai != 0) {
      why = std::string("cannot resolve the host: ") + ::gai_strerror(gai);
    } else {
      for (const addrinfo* ai = res; ai && fd_ < 0; ai = ai->ai_next) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        fd_ = try_connect(
            ai, std::clamp(left, std::chrono::milliseconds(1), std::chrono::milliseconds(1000)),
            why);
      }
      ::freeaddrinfo(res);
    }
    if (fd_ >= 0) return;
    const auto now = Clock::now();
    if (now >= deadline) fail_op(op, start, timeout, "cannot connect: " + why);
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(50), deadline - now));
  }
}

Bytes TCPStore::request(const char* op, uint8_t cmd, const std::vector<Bytes>& args,
                        std::chrono::milliseconds timeout) {
  const auto start = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) connect_locked(op, start, timeout);
  Bytes out{cmd};
  detail::put_u32(out, static_cast<uint32_t>(args.size()));
  for (const auto& a : args) {
    detail::put_u32(out, static_cast<uint32_t>(a.size()));
    out.insert(out.end(), a.begin(), a.end());
  }
  std::string why;
  uint8_t len_bytes[4];
  Bytes reply;
  if (!detail::send_all(fd_, out.data(), out.size())) {
    why = "the store is gone: " + detail::errno_str(errno);
  } else if (why = detail::recv_all(fd_, len_bytes, 4, start + timeout); why.empty()) {
    reply.resize(detail::get_u32(len_bytes));
    why = detail::recv_all(fd_, reply.data(), reply.size(), start + timeout);
  }
  if (!why.empty()) {
    ::close(fd_);  // out of step with the server now
    fd_ = -1;
    if (why == "timed out") {
      why = cmd == detail::kGet || cmd == detail::kWait ? "no rank set the key(s) in time"
                                                        : "no answer";
    }
    fail_op(op, start, timeout, why);
  }
  return reply;
}

void TCPStore::set(const std::string& key, const Bytes& value) {
  request("TCPStore.set", detail::kSet, {str_bytes(key), value}, timeout());
}

Bytes TCPStore::get(const std::string& key) {
  return request("TCPStore.get", detail::kGet, {str_bytes(key)}, timeout());
}

int64_t TCPStore::add(const std::string& key, int64_t amount) {
  Bytes r = request("TCPStore.add", detail::kAdd,
                    {str_bytes(key), str_bytes(std::to_string(amount))}, timeout());
  return std::stoll(std::string(r.begin(), r.end()));
}

Bytes TCPStore::compare_set(const std::string& key, const Bytes& expected, const Bytes& desired) {
  return request("TCPStore.compare_set", detail::kCompareSet, {str_bytes(key), expected, desired},
                 timeout());
}

void TCPStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  if (keys.empty()) return;
  std::vector<Bytes> args;
  for (const auto& key : keys) args.push_back(str_bytes(key));
  request("TCPStore.wait", detail::kWait, args, timeout);
}

bool TCPStore::check(const std::vector<std::string>& keys) {
  std::vector<Bytes> args;
  for (const auto& key : keys) args.push_back(str_bytes(key));
  return request("TCPStore.check", detail::kCheck, args, timeout()) == str_bytes("1");
}

bool TCPStore::delete_key(const std::string& key) {
  return request("TCPStore.delete_key", detail::kDelete, {str_bytes(key)}, timeout()) ==
         str_bytes("1");
}

int64_t TCPStore::num_keys() {
  Bytes r = request("TCPStore.num_keys", detail::kNumKeys, {}, timeout());
  return std::stoll(std::string(r.begin(), r.end()));
}

// ---- PrefixStore ----------------------------------------------------------------------------

PrefixStore::PrefixStore(std::string prefix, std::shared_ptr<Store> store)
    : Store(store->timeout()), prefix_(std::move(prefix)), store_(std::move(store)) {}

std::vector<std::string> PrefixStore::k(const std::vector<std::string>& keys) const {
  std::vector<std::string> out;
  for (const auto& key : keys) out.push_back(k(key));
  return out;
}
void PrefixStore::set(const std::string& key, const Bytes& value) { store_->set(k(key), value); }
Bytes PrefixStore::get(const std::string& key) { return store_->get(k(key)); }
int64_t PrefixStore::add(const std::string& key, int64_t amount) {
  return store_->add(k(key), amount);
}
Bytes PrefixStore::compare_set(const std::string& key, const Bytes& expected,
                               const Bytes& desired) {
  return store_->compare_set(k(key), expected, desired);
}
void PrefixStore::wait(const std::vector<std::string>& keys, std::chrono::milliseconds timeout) {
  store_->wait(k(keys), timeout);
}
bool PrefixStore::check(const std::vector<std::string>& keys) { return store_->check(k(keys)); }
bool PrefixStore::delete_key(const std::string& key) { return store_->delete_key(k(key)); }

}  // namespace ember::distributed
