// ClientWatch: learns from the kernel when a client process exits, instead of asking /proc
// about every client on a timer. Each distinct client (pid + start time) with requests in the
// daemon gets a pidfd (pidfd_open, Linux 5.3+) in one epoll set; a pidfd becomes readable when
// its process exits, so one non-blocking epoll_wait per check finds every death since the
// last. That is one system call however many clients there are, against one /proc read per
// client per pass before (256 clients: ~1.3 ms every 100 ms on the loop thread).
//
// Reused pids: the pidfd is opened from the pid, then the process's start time is compared
// with the one the client wrote into its slot; a mismatch means the client already died and
// its pid went to someone else, and it is reported as exited. Where pidfd_open is unavailable
// (old kernel, out of descriptors) that client falls back to a /proc check every 100 ms.
//
// A client's pidfd outlives its last request for a while (up to kMaxIdleClients such clients):
// a client that sends one request after another would otherwise pay the daemon a pidfd_open,
// an epoll_ctl, a /proc read and a close per request. With 256 such clients on the Zen 3 host
// keeping it took the loop's intake from 23-26 to 12 us per step, and its whole cost per step
// down by about a quarter (docs/BENCHMARKS.md). An idle
// client is not watched (liveness kUnknown, its death reported to nobody): its pidfd only
// saves the next request those calls.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

namespace ringserve::daemon {

struct ClientId {
  int32_t pid = 0;
  uint64_t start_time = 0;  // clock ticks since boot (/proc/PID/stat field 22)
  bool operator==(const ClientId&) const = default;
};

class ClientWatch {
 public:
  ClientWatch();
  ~ClientWatch();
  ClientWatch(const ClientWatch&) = delete;
  ClientWatch& operator=(const ClientWatch&) = delete;

  // A request of `client` arrived (counted: one watch per request).
  void watch(const ClientId& client);
  // A request of `client` is gone. After the last one the client is no longer watched; its
  // pidfd is kept for its next request (closed at once when kMaxIdleClients are kept already).
  void unwatch(const ClientId& client);
  // True if a watched client was seen to exit since the last call: the caller then runs its
  // reaping pass. One non-blocking epoll_wait (plus, for fallback clients, /proc reads every
  // 100 ms).
  bool check(uint64_t now_ns);
  // Without a system call: whether a watched client is known to have exited; kUnknown for a
  // client not watched.
  enum class Liveness { kAlive, kExited, kUnknown };
  Liveness liveness(const ClientId& client) const;

  // Clients with requests.
  size_t watched() const { return clients_.size() - idle_; }

  static constexpr size_t kMaxIdleClients = 512;

 private:
  struct Hash {
    size_t operator()(const ClientId& c) const {
      return std::hash<uint64_t>()((static_cast<uint64_t>(static_cast<uint32_t>(c.pid)) << 32) ^
                                   c.start_time);
    }
  };
  struct Entry {
    int fd = -1;            // pidfd, or -1: checked through /proc every fallback interval
    uint32_t requests = 0;  // 0: idle (kept only for its pidfd)
    bool exited = false;
  };

  int epoll_fd_ = -1;
  std::unordered_map<ClientId, Entry, Hash> clients_;
  std::unordered_map<int, ClientId> by_fd_;
  size_t fallbacks_ = 0;  // entries with fd == -1 that have not exited
  uint64_t next_fallback_check_ns_ = 0;
  bool found_exited_ = false;  // watch() found its client gone; check() reports it
  size_t idle_ = 0;            // entries with requests == 0 kept for their pidfd
};

}  // namespace ringserve::daemon
