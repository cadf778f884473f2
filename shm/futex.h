// Linux futex on a 32-bit word in shared memory. Shared (not FUTEX_PRIVATE_FLAG): the waiter
// and the waker are different processes mapping the same page, and the kernel keys a shared
// futex by the backing object, not the virtual address.
#pragma once

#include <cstdint>

namespace ringserve::shm {

enum class FutexWaitResult { kWoken, kValueChanged, kTimedOut, kInterrupted };

// Sleeps while *word == expected, until woken or until the absolute CLOCK_MONOTONIC deadline
// (kNoDeadline: no timeout). Spurious returns are possible; callers re-check their condition.
FutexWaitResult futex_wait(uint32_t* word, uint32_t expected, uint64_t deadline_ns);

// Wakes up to `count` waiters on word; returns how many were woken.
int futex_wake(uint32_t* word, int count = 1);

}  // namespace ringserve::shm
