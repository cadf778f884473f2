// Asymmetric fences: a Dekker pair whose one side runs per token and whose other side runs
// rarely. The frequent side (a client handing ring room back) orders its store before its load
// with a compiler barrier only; the rare side (the daemon about to sleep on rings its clients
// must drain) pays for both with membarrier(2), which makes every running thread of every
// registered process execute a full memory barrier before it returns. A full fence per token on
// the client side cost ~0.17 us of token delivery (p50, spin mode, Zen 5); this costs nothing
// there and ~1 us per daemon sleep.
//
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <atomic>

namespace ringserve::shm {

// Set by register_for_heavy_fence() when the kernel took the registration.
inline std::atomic<bool> g_registered_for_heavy_fence{false};

// Client processes: registers this process for the daemon's heavy fence (once per process;
// later calls are free). False when the kernel cannot (no membarrier, or a seccomp filter):
// the daemon then cannot rely on it, see heavy_fence().
bool register_for_heavy_fence();

// Daemon: a full memory barrier on every running thread of every registered process (the
// other half of light_fence()). False when the kernel has none: the caller must not sleep
// unboundedly on what a light_fence() side would announce.
bool heavy_fence();

// Client: the cheap half. Orders the caller's earlier stores before its later loads against
// a concurrent heavy_fence(): a compiler barrier, the heavy side's barrier doing the rest, in a
// registered process; a full fence in one that could not register.
inline void light_fence() {
  if (g_registered_for_heavy_fence.load(std::memory_order_relaxed)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

}  // namespace ringserve::shm
