// InstanceLock: at most one daemon per name. An advisory flock(2) on
// LOCK_DIR/ringserve.NAME.lock, held for the daemon's lifetime. The kernel drops it when the
// process dies, however it dies, so it cannot go stale the way a pid file can. A clean exit
// also removes the file (a SIGKILLed daemon's file stays, harmless, and is reused).
//
// The lock lives in a directory only the daemon's user can write (daemon.lock_dir), not in
// /dev/shm: there any user could create the lock file of a name first and hold it, keeping
// the real daemon from ever starting. The directory must be owned by the daemon's effective
// uid, must not be a symlink, and must not be writable by group or others; a missing one is
// created 0700 (its parent must exist). The default:
//   - $RUNTIME_DIRECTORY set (systemd's RuntimeDirectory=, the packaged unit): its first entry
//   - root: /run/ringserve
//   - $XDG_RUNTIME_DIR set: $XDG_RUNTIME_DIR/ringserve
//   - otherwise /tmp/ringserve-UID (another user can create that first in the sticky /tmp;
//     the daemon then refuses to start, naming the owner, rather than trust it)
#pragma once

#include <string>

namespace ringserve::daemon {

class InstanceLock {
 public:
  InstanceLock() = default;
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // The directory used when daemon.lock_dir is "" (see above).
  static std::string default_dir();

  // False with *error when another live daemon holds the name, or the directory is not one
  // only we can write, or the lock file cannot be made. `lock_dir` "" = default_dir().
  bool acquire(const std::string& daemon_name, const std::string& lock_dir, std::string* error);

  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace ringserve::daemon
