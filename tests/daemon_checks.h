// What every attack test ends with (docs/SECURITY.md): the daemon lives, holds no KV row,
// request or slot any more, serves a full batch, and sleeps when idle. Shared by the hostile
// tests and the integration tests' scribbling test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "tests/daemon_process.h"

namespace ringserve::testing {

// The process's CPU time so far (user + system), from /proc/PID/stat.
double cpu_seconds(pid_t pid);

// True while the child `pid` has not exited (it is not reaped here).
bool process_running(pid_t pid);

// The daemon's own count of what it holds, from its segment header, and the slots not FREE.
// All ~0u when the segment cannot be opened.
struct Held {
  uint32_t rows = 0;       // backend KV rows in use
  uint32_t sequences = 0;  // requests the daemon holds a slot for
  uint32_t slots_in_use = 0;
};
Held held(const std::string& name);

// Expects (gtest) that the daemon is alive, gives every row, request and slot back within 3 s,
// serves `batch` concurrent client processes exactly their tokens, and uses under 10% of a core
// over the following idle second.
void expect_recovered(Daemon& daemon, int batch);

}  // namespace ringserve::testing
