// Adaptive waiting on a shared futex word: a bounded spin, then sleep in the kernel.
//
// The sleeper announces itself in a `sleeping` flag before it re-checks its condition and
// sleeps; the writer publishes, then reads the flag and makes the wake system call only if it
// is set. So while the reader is spinning, a publish costs no system call. The flag and the
// publish form a Dekker pair (both sides use seq_cst), and the futex compares the word with
// the value read *before* the last check, so a publish between check and sleep is never lost.
#pragma once

#include <cstdint>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/layout.h"

namespace ringserve::shm {

struct WaitPolicy {
  WaitMode mode = WaitMode::kHybrid;
  uint64_t spin_ns = 20'000;  // hybrid: spin this long before sleeping
};

enum class WaitOutcome { kReady, kTimedOut };

// Waits until ready() returns true or the absolute CLOCK_MONOTONIC deadline passes.
// `word`: the futex word the writer changes on every publish; `sleeping`: the reader's flag.
template <class Ready>
WaitOutcome wait_until(Ready&& ready, uint32_t* word, uint32_t* sleeping, const WaitPolicy& policy,
                       uint64_t deadline_ns) {
  if (ready()) return WaitOutcome::kReady;
  if (policy.mode != WaitMode::kFutex) {
    const uint64_t spin_until = policy.mode == WaitMode::kSpin
                                    ? deadline_ns
                                    : deadline_after(monotonic_ns(), policy.spin_ns);
    for (uint32_t i = 1;; ++i) {
      if (ready()) return WaitOutcome::kReady;
      cpu_relax();
      // Reading the clock costs ~20 ns; do it every 64 spins.
      if ((i & 63) == 0 && monotonic_ns() >= spin_until) break;
    }
    if (policy.mode == WaitMode::kSpin) return WaitOutcome::kTimedOut;
  }
  for (;;) {
    store(*sleeping, 1u, std::memory_order_seq_cst);
    const uint32_t seen = load(*word, std::memory_order_seq_cst);
    if (ready()) {
      store(*sleeping, 0u, std::memory_order_relaxed);
      return WaitOutcome::kReady;
    }
    const FutexWaitResult r = futex_wait(word, seen, deadline_ns);
    store(*sleeping, 0u, std::memory_order_relaxed);
    if (ready()) return WaitOutcome::kReady;
    if (r == FutexWaitResult::kTimedOut ||
        (deadline_ns != kNoDeadline && monotonic_ns() >= deadline_ns)) {
      return WaitOutcome::kTimedOut;
    }
  }
}

}  // namespace ringserve::shm
