// Helpers for tests that need shared memory between forked processes.
#pragma once

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

}  // namespace ringserve::testing
