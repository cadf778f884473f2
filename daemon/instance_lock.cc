#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ringserve::daemon {

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  // Remove the file while still holding the lock, so names do not pile up in /dev/shm. A
  // daemon that opened the file before the unlink and locks it after we close finds, in
  // acquire(), that the path no longer names what it locked, and starts over.
  ::unlink(path_.c_str());
  ::close(fd_);
}

bool InstanceLock::acquire(const std::string& daemon_name, std::string* error) {
  const std::string path = "/dev/shm/ringserve." + daemon_name + ".lock";
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = "cannot open lock file " + path + ": " + std::strerror(errno);
      return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK) {
        *error = "another ringserved named '" + daemon_name + "' is already running (";
        *error += path + " is locked)";
      } else {
        *error = "cannot lock " + path + ": " + std::strerror(err);
      }
      return false;
    }
    struct stat locked {};
    struct stat named {};
    if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &named) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      fd_ = fd;
      path_ = path;
      return true;
    }
    ::close(fd);  // a stopping daemon removed the file we locked: take the current one
  }
  *error = "cannot lock " + path + ": it keeps being replaced";
  return false;
}

}  // namespace ringserve::daemon
