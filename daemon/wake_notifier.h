// WakeNotifier: makes the futex-wake system calls for clients that sleep on their token rings,
// off the loop thread. A wake costs the waker a system call plus the kernel's try_to_wake_up
// (an inter-processor interrupt on a VM): about 2 us each, measured. With hundreds of sleeping
// clients that is most of an iteration, and nothing else in the iteration depends on it; so
// the loop queues the words it published to, and a notifier thread makes the calls while the
// loop goes on with the next model step. A handful of wakes are made inline: handing them over
// would cost as much as making them.
//
// Safety: a wake is only ever a hint. A word whose slot was freed and reused before its wake
// gets a spurious wake, which every waiter tolerates (it re-checks its ring). Words point into
// the segment, so the notifier must be stopped (destroyed) before the segment is unmapped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ringserve::daemon {

class WakeNotifier {
 public:
  // At most `inline_limit` queued wakes are made on the calling thread by flush().
  explicit WakeNotifier(size_t inline_limit = 8);
  ~WakeNotifier();
  WakeNotifier(const WakeNotifier&) = delete;
  WakeNotifier& operator=(const WakeNotifier&) = delete;

  // Loop thread: queue a FUTEX_WAKE of one waiter on `word`.
  void add(uint32_t* word) { queued_.push_back(word); }
  // Loop thread: make the queued wakes inline if few, else hand them to the notifier thread.
  void flush();
  // CPU time the notifier thread has spent making wakes (user + system), for the stats.
  uint64_t thread_cpu_ns() const { return thread_cpu_ns_.load(std::memory_order_relaxed); }

 private:
  void run();

  const size_t inline_limit_;
  std::vector<uint32_t*> queued_;  // loop thread only
  std::mutex mutex_;
  std::condition_variable work_;
  std::vector<uint32_t*> handed_;  // guarded by mutex_
  bool stopping_ = false;          // guarded by mutex_
  std::atomic<uint64_t> thread_cpu_ns_{0};
  std::thread thread_;  // last: started after everything it uses
};

}  // namespace ringserve::daemon
