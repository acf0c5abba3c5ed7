// Small POSIX socket helpers of the TCP store (internal): whole-buffer sends and receives
// that honour a deadline, and the store's framing.
//
// A request is  u8 command, u32 argument count, then per argument u32 length + bytes;
// a reply is    u32 length + bytes. Integers are little-endian on the wire.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ember::distributed::detail {

using Clock = std::chrono::steady_clock;

enum StoreCommand : uint8_t {
  kSet = 1,
  kGet = 2,  // the reply waits until the key is set
  kAdd = 3,
  kCompareSet = 4,
  kWait = 5,  // the reply waits until every key is set
  kCheck = 6,
  kDelete = 7,
  kNumKeys = 8,
};

// Sends all of `data`; false when the peer is gone (no SIGPIPE).
bool send_all(int fd, const void* data, size_t n);
// Receives exactly n bytes before `deadline`. Returns "" on success, else why not
// ("timed out", "connection closed by the store", an errno string).
std::string recv_all(int fd, void* data, size_t n, Clock::time_point deadline);

void put_u32(std::vector<uint8_t>& out, uint32_t v);
uint32_t get_u32(const uint8_t* p);

// "Connection refused": strerror of errno, thread-safe.
std::string errno_str(int err);

}  // namespace ember::distributed::detail
