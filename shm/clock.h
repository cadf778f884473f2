// CLOCK_MONOTONIC in nanoseconds: the one clock of the protocol. Every timestamp in the
// segment and every timeout is on it, so values written by one process compare with another's.
#pragma once

#include <cstdint>
#include <ctime>

namespace ringserve::shm {

inline uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// CPU time (user + system) of the calling thread: what the daemon counts as its own cost, so
// that being preempted by client processes is not.
inline uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// A deadline that never passes.
inline constexpr uint64_t kNoDeadline = UINT64_MAX;

// now + timeout, saturating at kNoDeadline.
inline uint64_t deadline_after(uint64_t now_ns, uint64_t timeout_ns) {
  return timeout_ns >= kNoDeadline - now_ns ? kNoDeadline : now_ns + timeout_ns;
}

}  // namespace ringserve::shm
