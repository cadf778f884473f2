// Helpers for tests that need shared memory between forked processes.
#pragma once

#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>

namespace ringserve::testing {

// Anonymous shared mapping, inherited by fork(): a stand-in segment for unit tests.
class SharedBuffer {
 public:
  explicit SharedBuffer(size_t bytes) : bytes_(bytes) {
    base_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (base_ == MAP_FAILED) std::abort();
  }
  ~SharedBuffer() { ::munmap(base_, bytes_); }
  void* data() const { return base_; }

 private:
  void* base_;
  size_t bytes_;
};

// Runs fn in a child process; the child exits with fn's return value (0 = success).
inline pid_t fork_child(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(fn());
  return pid;
}

// Waits for the child; returns its exit code, or 128 + signal number if killed.
inline int wait_child(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A throwaway identity: an id no account or group has (no /etc/passwd entry is needed to run
// as one, and nothing to clean up afterwards), at or above `from`.
inline uid_t unused_id(uid_t from) {
  uid_t id = from + static_cast<uid_t>(::getpid() % 3000);
  while (::getpwuid(id) != nullptr || ::getgrgid(id) != nullptr) ++id;
  return id;
}

// Runs `body` in a child process as uid `uid` (gid the same, no supplementary groups); returns
// its exit code, 90 if it could not switch, 128 + signal if it died. The caller must be root.
inline int as_user(uid_t uid, const std::function<int()>& body) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(uid) != 0 || ::setuid(uid) != 0) ::_exit(90);
    ::_exit(body());
  }
  return wait_child(child);
}
}  // namespace ringserve::testing
