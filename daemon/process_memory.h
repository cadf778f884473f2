// The daemon process's resident set size, as the kernel counts it (/proc/self/statm: file
// pages, anonymous memory and shared memory such as the segment, all mapped and in RAM).
//
// One open, read and close of a small /proc file: microseconds, so it is read from the
// heartbeat thread a few times a second and never from the loop.
//
// Thread-safety: any thread.
#pragma once

#include <cstdint>
#include <string>

namespace ringserve::daemon {

// Bytes resident now; 0 if /proc cannot be read.
uint64_t resident_bytes();

// "12.3 MiB": how the daemon's log shows a size.
std::string format_mib(uint64_t bytes);

}  // namespace ringserve::daemon
