#include "distributed/store_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "distributed/errors.h"
#include "distributed/socket_util.h"

namespace ember::distributed::detail {

namespace {

using Bytes = std::vector<uint8_t>;

struct Client {
  int fd;
  Bytes in;  // bytes received and not yet parsed
};

// A GET or WAIT whose keys were missing: answered when the last of them is set.
struct Waiter {
  int fd;
  uint8_t cmd;
  std::vector<std::string> keys;
};

Bytes str_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

class State {
 public:
  // Handles one request; false when the client must be dropped (bad frame, gone).
  bool handle(int fd, uint8_t cmd, const std::vector<std::string>& args) {
    switch (cmd) {
      case kSet:
        if (args.size() != 2) return false;
        data_[args[0]] = str_bytes(args[1]);
        return reply(fd, {}) && wake(args[0]);
      case kGet:
      case kWait:
        if (args.empty() || (cmd == kGet && args.size() != 1)) return false;
        if (all_set(args)) return answer(fd, cmd, args);
        waiters_.push_back({fd, cmd, args});
        return true;
      case kAdd: {
        if (args.size() != 2) return false;
        auto it = data_.find(args[0]);
        int64_t v =
            it == data_.end() ? 0 : std::stoll(std::string(it->second.begin(), it->second.end()));
        v += std::stoll(args[1]);
        data_[args[0]] = str_bytes(std::to_string(v));
        return reply(fd, data_[args[0]]) && wake(args[0]);
      }
      case kCompareSet: {
        if (args.size() != 3) return false;
        auto it = data_.find(args[0]);
        if (it == data_.end()) {
          if (!args[1].empty()) return reply(fd, str_bytes(args[1]));
          data_[args[0]] = str_bytes(args[2]);
        } else if (it->second == str_bytes(args[1])) {
          it->second = str_bytes(args[2]);
        }
        return reply(fd, data_[args[0]]) && wake(args[0]);
      }
      case kCheck: return reply(fd, str_bytes(all_set(args) ? "1" : "0"));
      case kDelete:
        if (args.size() != 1) return false;
        return reply(fd, str_bytes(data_.erase(args[0]) ? "1" : "0"));
      case kNumKeys: return reply(fd, str_bytes(std::to_string(data_.size())));
      default: return false;
    }
  }

  void drop(int fd) {
    std::erase_if(waiters_, [fd](const Waiter& w) { return w.fd == fd; });
  }

 private:
  bool all_set(const std::vector<std::string>& keys) const {
    for (const auto& key : keys) {
      if (!data_.count(key)) return false;
    }
    return true;
  }
  bool answer(int fd, uint8_t cmd, const std::vector<std::string>& keys) {
    return reply(fd, cmd == kGet ? data_.at(keys[0]) : Bytes{});
  }
  static bool reply(int fd, const Bytes& value) {
    Bytes out;
    put_u32(out, static_cast<uint32_t>(value.size()));
    out.insert(out.end(), value.begin(), value.end());
    return send_all(fd, out.data(), out.size());
  }
  // Answers the waiters that `key` completes. A waiter whose client is gone is dropped.
  bool wake(const std::string& key) {
    std::vector<Waiter> still;
    std::vector<Waiter> ready;
    for (auto& w : waiters_) {
      bool has_key = false;
      for (const auto& k : w.keys) has_key = has_key || k == key;
      (has_key && all_set(w.keys) ? ready : still).push_back(std::move(w));
    }
    waiters_ = std::move(still);
    for (const auto& w : ready) answer(w.fd, w.cmd, w.keys);
    return true;
  }

  std::map<std::string, Bytes> data_;
  std::vector<Waiter> waiters_;
};

// Parses complete requests off the front of c.in; false on a malformed frame.
bool parse(Client& c, State& state) {
  for (;;) {
    const Bytes& in = c.in;
    if (in.size() < 5) return true;
    const uint8_t cmd = in[0];
    const uint32_t nargs = get_u32(&in[1]);
    if (nargs > 1'000'000) return false;
    size_t pos = 5;
    std::vector<std::string> args;
    for (uint32_t i = 0; i < nargs; ++i) {
      if (in.size() < pos + 4) return true;
      const uint32_t len = get_u32(&in[pos]);
      pos += 4;
      if (in.size() < pos + len) return true;
      args.emplace_back(reinterpret_cast<const char*>(in.data() + pos), len);
      pos += len;
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(pos));
    bool ok;
    try {
      ok = state.handle(c.fd, cmd, args);
    } catch (const std::exception&) {  // add() on a value that is not an integer
      ok = false;
    }
    if (!ok) return false;
  }
}

}  // namespace

StoreServer::StoreServer(int port) {
  listen_fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool v6 = listen_fd_ >= 0;
  if (!v6) listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail<DistStoreError>("TCPStore", "socket: ", errno_str(errno));
  const int one = 1, zero = 0;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc;
  if (v6) {
    // Both IPv4 and IPv6 clients.
    ::setsockopt(listen_fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    rc = ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc != 0 || ::listen(listen_fd_, 1024) != 0) {
    const int err = errno;
    ::close(listen_fd_);
    fail<DistStoreError>("TCPStore", "cannot serve on port ", port, ": ", errno_str(err));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = v6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (::pipe2(wake_, O_CLOEXEC) != 0) {
    ::close(listen_fd_);
    fail<DistStoreError>("TCPStore", "pipe: ", errno_str(errno));
  }
  thread_ = std::thread([this] { run(); });
}

StoreServer::~StoreServer() {
  const char b = 1;
  if (::write(wake_[1], &b, 1) < 0) {
    // Nothing to do: the thread is then left to the process's exit.
  }
  if (thread_.joinable()) thread_.join();
  ::close(wake_[0]);
  ::close(wake_[1]);
  ::close(listen_fd_);
}

void StoreServer::run() {
  State state;
  std::vector<Client> clients;
  for (;;) {
    std::vector<pollfd> fds{{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& c : clients) fds.push_back({c.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) break;
    if (fds[1].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        clients.push_back({fd, {}});
      }
    }
    std::vector<int> gone;
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      Client& c = clients[i - 2];
      uint8_t buf[65536];
      const ssize_t k = ::recv(c.fd, buf, sizeof buf, 0);
      if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      bool ok = k > 0;
      if (ok) {
        c.in.insert(c.in.end(), buf, buf + k);
        ok = parse(c, state);
      }
      if (!ok) gone.push_back(c.fd);
    }
    for (int fd : gone) {
      state.drop(fd);
      ::close(fd);
      std::erase_if(clients, [fd](const Client& c) { return c.fd == fd; });
    }
  }
  for (const auto& c : clients) ::close(c.fd);
}

}  // namespace ember::distributed::detail
