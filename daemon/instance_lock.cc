#include "daemon/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringserve::daemon {
namespace {

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Opens `dir` (creating it 0700 if missing) and checks that only we can write to it. Returns
// the directory's descriptor, or -1 with *error. The checks are made on the descriptor, so a
// directory swapped for another after the check is not the one we use.
int open_private_dir(const std::string& dir, std::string* error) {
  if (dir.empty() || dir[0] != '/') {
    *error = "lock directory '" + dir + "' is not an absolute path";
    return -1;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *error = "cannot create lock directory " + dir + ": " + std::strerror(errno);
    return -1;
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    *error = "cannot open lock directory " + dir + ": " + std::strerror(err);
    if (err == ELOOP || err == ENOTDIR) *error += " (it must be a directory, not a symlink)";
    return -1;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = "cannot stat lock directory " + dir + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  const uid_t self = ::geteuid();
  if (st.st_uid != self) {
    *error = "lock directory " + dir + " belongs to uid " + std::to_string(st.st_uid) +
             ", not to this daemon's uid " + std::to_string(self) +
             ": another user could hold the lock and keep the daemon from starting. Remove it, "
             "or set daemon.lock_dir to a directory of this user";
    ::close(fd);
    return -1;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    *error = "lock directory " + dir + " has mode " + octal_mode(st.st_mode) +
             ": other users may write to it and hold the lock (chmod go-w " + dir +
             ", or set daemon.lock_dir to a directory only this user can write)";
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string InstanceLock::default_dir() {
  // systemd's RuntimeDirectory= (a list separated by ':'): made for this service's user alone.
  if (const char* service = std::getenv("RUNTIME_DIRECTORY");
      service != nullptr && service[0] == '/') {
    const std::string dirs = service;
    return dirs.substr(0, dirs.find(':'));
  }
  if (::geteuid() == 0) return "/run/ringserve";
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR");
      runtime != nullptr && runtime[0] == '/') {
    return std::string(runtime) + "/ringserve";
  }
  return "/tmp/ringserve-" + std::to_string(::geteuid());
}

InstanceLock::~InstanceLock() {
  if (fd_ < 0) return;
  // Remove the file while still holding the lock, so names do not pile up. A daemon that
  // opened the file before the unlink and locks it after we close finds, in acquire(), that
  // the path no longer names what it locked, and starts over.
  ::unlink(path_.c_str());
  ::close(fd_);
}

bool InstanceLock::acquire(const std::string& daemon_name, const std::string& lock_dir,
                           std::string* error) {
  const std::string dir = lock_dir.empty() ? default_dir() : lock_dir;
  const int dir_fd = open_private_dir(dir, error);
  if (dir_fd < 0) return false;
  const std::string file = "ringserve." + daemon_name + ".lock";
  const std::string path = dir + "/" + file;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = ::openat(dir_fd, file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      *error = "cannot open lock file " + path + ": " + std::strerror(errno);
      ::close(dir_fd);
      return false;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd);
      ::close(dir_fd);
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
    if (::fstat(fd, &locked) == 0 &&
        ::fstatat(dir_fd, file.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      ::close(dir_fd);
      fd_ = fd;
      path_ = path;
      return true;
    }
    ::close(fd);  // a stopping daemon removed the file we locked: take the current one
  }
  ::close(dir_fd);
  *error = "cannot lock " + path + ": it keeps being replaced";
  return false;
}

}  // namespace ringserve::daemon
