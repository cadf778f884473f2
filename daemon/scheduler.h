// Scheduler (transport stage): a bounded waiting line in front of a bounded set of running
// sequences, admission in arrival order. The full scheduler (priorities, aging, chunked
// prefill, interleave mode) builds on this interface.
//
// Not thread-safe: owned by the daemon's loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "daemon/sequence.h"

namespace ringserve::daemon {

class Scheduler {
 public:
  Scheduler(uint32_t max_concurrent, uint32_t max_queue)
      : max_concurrent_(max_concurrent), max_queue_(max_queue) {}

  // Adds an arrived request. False when it would have to wait and the waiting line is full.
  bool enqueue(Sequence* seq);

  // Moves waiting sequences into the running set while there is room; returns those moved.
  std::vector<Sequence*> admit();

  // Forgets a sequence wherever it is (finished, cancelled, owner died).
  void remove(Sequence* seq);

  const std::vector<Sequence*>& running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }
  // Bumped whenever the waiting line changes, so queue positions are rewritten only then.
  uint64_t waiting_version() const { return waiting_version_; }

 private:
  uint32_t max_concurrent_;
  uint32_t max_queue_;
  std::vector<Sequence*> running_;
  std::deque<Sequence*> waiting_;
  uint64_t waiting_version_ = 0;
};

}  // namespace ringserve::daemon
