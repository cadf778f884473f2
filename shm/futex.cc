// futex(2) wrappers. FUTEX_WAIT_BITSET takes an absolute timeout on CLOCK_MONOTONIC (without
// FUTEX_CLOCK_REALTIME), so a wait interrupted by a signal and restarted keeps its deadline.
#include "shm/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "shm/clock.h"

namespace ringserve::shm {

FutexWaitResult futex_wait(uint32_t* word, uint32_t expected, uint64_t deadline_ns) {
  timespec abs{};
  timespec* timeout = nullptr;
  if (deadline_ns != kNoDeadline) {
    abs.tv_sec = static_cast<time_t>(deadline_ns / 1'000'000'000ULL);
    abs.tv_nsec = static_cast<long>(deadline_ns % 1'000'000'000ULL);
    timeout = &abs;
  }
  const long rc = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, timeout, nullptr,
                          FUTEX_BITSET_MATCH_ANY);
  if (rc == 0) return FutexWaitResult::kWoken;
  switch (errno) {
    case EAGAIN:
      return FutexWaitResult::kValueChanged;
    case ETIMEDOUT:
      return FutexWaitResult::kTimedOut;
    default:
      return FutexWaitResult::kInterrupted;
  }
}

int futex_wake(uint32_t* word, int count) {
  const long rc = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  return rc < 0 ? 0 : static_cast<int>(rc);
}

}  // namespace ringserve::shm
