// /proc parsing for process identity. The comm field (2) may contain spaces and ')' so the
// fields after it are located from the *last* ')'.
#include "shm/process.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringserve::shm {
namespace {

struct ProcStat {
  char state = '\0';  // R, S, D, Z (zombie), X (dead), ...
  uint64_t start_time = 0;
};

bool read_proc_stat(pid_t pid, ProcStat* out) {
  if (pid <= 0) return false;
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] != ' ') return false;
  p += 2;
  out->state = *p;                            // field 3
  for (int field = 3; field < 22; ++field) {  // skip to field 22
    while (*p != ' ' && *p != '\0') ++p;
    if (*p == '\0') return false;
    ++p;
  }
  out->start_time = std::strtoull(p, nullptr, 10);
  return true;
}

}  // namespace

uint64_t process_start_time(pid_t pid) {
  ProcStat stat;
  return read_proc_stat(pid, &stat) ? stat.start_time : 0;
}

bool process_is_alive(pid_t pid, uint64_t start_time) {
  ProcStat stat;
  if (!read_proc_stat(pid, &stat)) return false;
  // A zombie can no longer touch memory: it counts as dead even before its parent reaps it.
  if (stat.state == 'Z' || stat.state == 'X') return false;
  return start_time == 0 || stat.start_time == start_time;
}

}  // namespace ringserve::shm
