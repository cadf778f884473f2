// InstanceLock: at most one daemon per name. An advisory flock(2) on
// /dev/shm/ringserve.NAME.lock, held for the daemon's lifetime. The kernel drops it when the
// process dies, however it dies, so it cannot go stale the way a pid file can. A clean exit
// also removes the file (a SIGKILLed daemon's file stays, harmless, and is reused).
#pragma once

#include <string>

namespace ringserve::daemon {

class InstanceLock {
 public:
  InstanceLock() = default;
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // False with *error when another live daemon holds the name, or the lock file cannot be made.
  bool acquire(const std::string& daemon_name, std::string* error);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace ringserve::daemon
