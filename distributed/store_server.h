// The server side of TCPStore (internal): one thread that polls the listening socket, its
// clients and a wake-up pipe, keeps the map, and answers GET and WAIT requests whose keys
// are missing once another client sets them.
#pragma once

#include <thread>

namespace ember::distributed::detail {

class StoreServer {
 public:
  // Listens on every interface at `port` (0: a free one); throws DistStoreError when the
  // port cannot be bound.
  explicit StoreServer(int port);
  ~StoreServer();
  StoreServer(const StoreServer&) = delete;
  StoreServer& operator=(const StoreServer&) = delete;
  int port() const { return port_; }

 private:
  void run();
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};  // a byte on wake_[1] stops the thread
  int port_ = 0;
  std::thread thread_;
};

}  // namespace ember::distributed::detail
