#include "daemon/wake_notifier.h"

#include <pthread.h>

#include "shm/clock.h"
#include "shm/futex.h"

namespace ringserve::daemon {

WakeNotifier::WakeNotifier(size_t inline_limit)
    : inline_limit_(inline_limit), thread_([this] { run(); }) {}

WakeNotifier::~WakeNotifier() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_one();
  thread_.join();
  // Wakes still queued are dropped with the segment: their clients see the daemon going away
  // through its state and heartbeat, not through a wake.
}

void WakeNotifier::flush() {
  if (queued_.empty()) return;
  if (queued_.size() <= inline_limit_) {
    for (uint32_t* word : queued_) shm::futex_wake(word, 1);
    queued_.clear();
    return;
  }
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    handed_.insert(handed_.end(), queued_.begin(), queued_.end());
  }
  queued_.clear();
  work_.notify_one();
}

void WakeNotifier::run() {
  pthread_setname_np(pthread_self(), "ringserved-wake");
  std::vector<uint32_t*> words;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !handed_.empty(); });
    if (stopping_) return;
    words.swap(handed_);
    lock.unlock();
    const uint64_t start = shm::thread_cpu_ns();
    for (uint32_t* word : words) shm::futex_wake(word, 1);
    words.clear();
    thread_cpu_ns_.fetch_add(shm::thread_cpu_ns() - start, std::memory_order_relaxed);
    lock.lock();
  }
}

}  // namespace ringserve::daemon
