#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringserve::daemon {

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock; the file stays (removing it would race)
}

bool InstanceLock::acquire(const std::string& daemon_name, std::string* error) {
  const std::string path = "/dev/shm/ringserve." + daemon_name + ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    *error = "cannot open lock file " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      *error = "another ringserved named '" + daemon_name + "' is already running (" + path +
               " is locked)";
    } else {
      *error = "cannot lock " + path + ": " + std::strerror(err);
    }
    return false;
  }
  return true;
}

}  // namespace ringserve::daemon
