#include "daemon/client_watch.h"

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>

#include "shm/process.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // the same number on every Linux architecture
#endif

namespace ringserve::daemon {
namespace {

constexpr uint64_t kFallbackIntervalNs = 100'000'000;

int pidfd_open(int32_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
}

}  // namespace

ClientWatch::ClientWatch() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)) {}

ClientWatch::~ClientWatch() {
  for (const auto& [fd, client] : by_fd_) ::close(fd);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void ClientWatch::watch(const ClientId& client) {
  Entry& e = clients_[client];
  if (e.requests++ > 0) return;
  if (e.fd >= 0) {
    // Idle, pidfd kept: it is this very process (same pid and start time), still in the epoll
    // set, so if it has exited the next check() reports it like any watched client.
    --idle_;
    return;
  }
  const int fd = epoll_fd_ >= 0 ? pidfd_open(client.pid) : -1;
  if (fd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) == 0) {
      e.fd = fd;
      by_fd_[fd] = client;
    } else {
      ::close(fd);
    }
  }
  // The pidfd names whatever process has the pid now: it must be the one that wrote the slot.
  // (pidfd_open failing with ESRCH also lands here: the process is gone.)
  if (!shm::process_is_alive(client.pid, client.start_time)) {
    e.exited = true;
    found_exited_ = true;  // reported by the next check()
  }
  if (e.fd < 0 && !e.exited) ++fallbacks_;
}

void ClientWatch::unwatch(const ClientId& client) {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second.requests == 0 || --it->second.requests > 0) return;
  const Entry& e = it->second;
  if (e.fd >= 0 && !e.exited && idle_ < kMaxIdleClients) {
    ++idle_;
    return;
  }
  if (e.fd >= 0) {
    by_fd_.erase(e.fd);
    ::close(e.fd);  // closing removes it from the epoll set
  } else if (!e.exited) {
    --fallbacks_;
  }
  clients_.erase(it);
}

bool ClientWatch::check(uint64_t now_ns) {
  bool any = found_exited_;
  found_exited_ = false;
  if (!by_fd_.empty()) {
    std::array<epoll_event, 64> events{};
    for (;;) {
      const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 0);
      for (int i = 0; i < n; ++i) {
        const int fd = events[static_cast<size_t>(i)].data.fd;
        auto it = by_fd_.find(fd);
        if (it == by_fd_.end()) continue;
        auto client = clients_.find(it->second);
        if (client == clients_.end()) continue;
        if (client->second.requests == 0) {
          // An idle client exited: nothing of it to reap, just forget it.
          ::close(fd);
          clients_.erase(client);
          by_fd_.erase(it);
          --idle_;
          continue;
        }
        client->second.exited = true;
        // Level-triggered: stop watching it, or every check would report it again. The entry
        // stays (exited) until its last request is unwatched.
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
        any = true;
      }
      if (n < static_cast<int>(events.size())) break;
    }
  }
  if (fallbacks_ > 0 && now_ns >= next_fallback_check_ns_) {
    next_fallback_check_ns_ = now_ns + kFallbackIntervalNs;
    for (auto& [client, e] : clients_) {
      if (e.fd >= 0 || e.exited) continue;
      if (!shm::process_is_alive(client.pid, client.start_time)) {
        e.exited = true;
        --fallbacks_;
        any = true;
      }
    }
  }
  return any;
}

ClientWatch::Liveness ClientWatch::liveness(const ClientId& client) const {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second.requests == 0) return Liveness::kUnknown;
  return it->second.exited ? Liveness::kExited : Liveness::kAlive;
}

}  // namespace ringserve::daemon
