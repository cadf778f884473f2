// Scheduler: a bounded waiting line in front of a bounded set of running sequences.
// Admission takes the waiting sequence with the highest effective priority, the earliest
// arrival among equals (plain FIFO when every request has priority 0). The effective priority
// is the request's priority (clamped to -max_priority..max_priority) plus one for every
// `aging_ms` it has waited, so a low-priority request cannot starve: after (difference x
// aging_ms) it ties with, then beats, newer high-priority ones.
//
// The bound: a request of priority p that arrived at t is never passed by a request arriving at
// or after t + (max_priority - p) x aging_ms. Such a later request b, of priority at most
// max_priority, has at any time waited at least that many levels less, and a tie goes to the
// earlier arrival. So however many top-priority requests a client keeps sending, p waits at
// most (max_priority - p) x aging_ms plus the admission of the requests already waiting at that
// point (at most max_queue). With the defaults (max_priority 10, aging_ms 100): 1 s for
// priority 0, 2 s for -10. aging_ms = 0 (strict priority) has no such bound.
//
// Of the running sequences, select_step() picks those that take the next model step: every one
// whose client keeps up (batch mode, continuous batching), or one at a time, round-robin
// (interleave mode, the seed's behaviour, kept as a baseline).
//
// Not thread-safe: owned by the daemon's loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "config/config.h"
#include "daemon/sequence.h"

namespace ringserve::daemon {

class Scheduler {
 public:
  // aging_ms: 0 = no aging (strict priority, FIFO within one). max_priority: priorities beyond
  // +-max_priority count as +-max_priority (intake rejects them; this keeps the bound anyway).
  // mode: how select_step() picks among the running.
  Scheduler(uint32_t max_concurrent, uint32_t max_queue, uint32_t aging_ms = 0,
            uint32_t max_priority = 2147483647,
            config::SchedulerMode mode = config::SchedulerMode::kBatch)
      : max_concurrent_(max_concurrent),
        max_queue_(max_queue),
        aging_ms_(aging_ms),
        max_priority_(max_priority),
        mode_(mode) {}

  // Adds an arrived request (its received_ns is its arrival). False when it would have to wait
  // and the waiting line is full.
  bool enqueue(Sequence* seq);

  // Moves waiting sequences into the running set while there is room, best first, and while
  // `ready` says the next one can start (the backend has room for it: Backend::ready); at the
  // first that cannot, stops, so that it keeps its place at the head of the line. Returns
  // those moved.
  std::vector<Sequence*> admit(uint64_t now_ns,
                               const std::function<bool(Sequence&)>& ready = nullptr);

  // Forgets a sequence wherever it is (finished, cancelled, owner died).
  void remove(Sequence* seq);

  // Replaces *batch with the running sequences that take the next model step. A sequence with
  // output still queued for its client (a client behind on reading) sits out until the flush
  // has emptied its backlog.
  void select_step(std::vector<Sequence*>* batch);
  // Whether select_step() would pick any sequence now.
  bool has_steppable() const;

  const std::vector<Sequence*>& running() const { return running_; }
  const std::deque<Sequence*>& waiting() const { return waiting_; }  // in arrival order
  // The waiting line in the order admit() would take it now.
  std::vector<Sequence*> admission_order(uint64_t now_ns) const;
  // Bumped whenever the waiting line changes, so queue positions are rewritten only then.
  uint64_t waiting_version() const { return waiting_version_; }

 private:
  int64_t effective_priority(const Sequence& seq, uint64_t now_ns) const;
  bool before(const Sequence& a, const Sequence& b, uint64_t now_ns) const;

  uint32_t max_concurrent_;
  uint32_t max_queue_;
  uint32_t aging_ms_;
  uint32_t max_priority_;
  config::SchedulerMode mode_;
  size_t interleave_next_ = 0;  // interleave mode: where the next turn starts in running_
  std::vector<Sequence*> running_;
  std::deque<Sequence*> waiting_;
  uint64_t waiting_version_ = 0;
};

}  // namespace ringserve::daemon
