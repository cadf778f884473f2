// Heartbeat: keeps SegmentHeader::heartbeat_ns fresh for as long as the daemon's loop is
// responsive, so that clients can tell a stopped or hung daemon from a busy one.
//
// The loop cannot refresh it by itself: one model step can take seconds (a long prefill chunk
// on a large model), and a client must not call a daemon in such a step dead. So a small
// thread stores the time every kHeartbeatIntervalNs / 2 while the loop is either making
// progress (its iteration count moves) or is inside a model step or its idle sleep, both of
// which end by themselves. A SIGSTOPped daemon stops this thread too; a loop stuck anywhere
// else stops moving its count. Either way the heartbeat ages, and clients report "daemon not
// responding" (client-lib) once it is older than their bound.
//
// The same thread refreshes the segment's resident_bytes at every tick, whatever the loop
// does: a /proc read costs microseconds, which the loop's steps should not pay.
//
// Thread-safety: beat(), enter() and leave() are for the loop thread; the heartbeat thread
// only reads the atomics they write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace ringserve::daemon {

class Heartbeat {
 public:
  // The segment's heartbeat_ns and resident_bytes; they must outlive this object. Both are
  // stored once before the constructor returns.
  Heartbeat(uint64_t* heartbeat_word, uint64_t* resident_word);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Loop thread: one iteration is done.
  void beat() {
    iterations_.store(iterations_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // Loop thread: around a model step or the idle sleep, phases that end by themselves.
  void enter_bounded_phase() { in_bounded_phase_.store(true, std::memory_order_relaxed); }
  void leave_bounded_phase() { in_bounded_phase_.store(false, std::memory_order_relaxed); }

 private:
  void run();

  uint64_t* word_;
  uint64_t* resident_word_;
  std::atomic<uint64_t> iterations_{0};
  std::atomic<bool> in_bounded_phase_{false};
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ringserve::daemon
