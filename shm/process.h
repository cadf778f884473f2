// Process identity for liveness checks. A pid alone can be reused by an unrelated process after
// the original dies, so the protocol stores (pid, start time): the start time (clock ticks
// since boot, field 22 of /proc/PID/stat) of a reused pid differs.
#pragma once

#include <sys/types.h>
#include <cstdint>

namespace ringserve::shm {

// Start time of `pid` in clock ticks since boot; 0 if the process does not exist.
uint64_t process_start_time(pid_t pid);

// True while the process (pid, start_time) exists. start_time 0 matches any start time.
bool process_is_alive(pid_t pid, uint64_t start_time);

}  // namespace ringserve::shm
