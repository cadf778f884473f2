#include "daemon/heartbeat.h"

#include <pthread.h>

#include <chrono>

#include "daemon/process_memory.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/layout.h"

namespace ringserve::daemon {

Heartbeat::Heartbeat(uint64_t* heartbeat_word, uint64_t* resident_word)
    : word_(heartbeat_word), resident_word_(resident_word) {
  shm::store(*word_, shm::monotonic_ns(), std::memory_order_relaxed);
  shm::store(*resident_word_, resident_bytes(), std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
  pthread_setname_np(thread_.native_handle(), "ringserved-beat");
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_cv_.notify_one();
  thread_.join();
}

void Heartbeat::run() {
  const auto tick = std::chrono::nanoseconds(shm::kHeartbeatIntervalNs / 2);
  uint64_t seen = iterations_.load(std::memory_order_relaxed);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_cv_.wait_for(lock, tick, [this] { return stopping_; })) {
    const uint64_t now_iterations = iterations_.load(std::memory_order_relaxed);
    if (now_iterations != seen || in_bounded_phase_.load(std::memory_order_relaxed)) {
      shm::store(*word_, shm::monotonic_ns(), std::memory_order_relaxed);
    }
    seen = now_iterations;
    shm::store(*resident_word_, resident_bytes(), std::memory_order_relaxed);
  }
}

}  // namespace ringserve::daemon
