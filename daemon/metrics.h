// Metrics: what the daemon tells the outside about itself, published in the segment's header
// page for `ringctl status`, `ringctl metrics` and Client::status()/metrics() to read: the
// model it serves, the request counters, the latency histograms, the cost of a step (backend
// and daemon), and for every waiting request its place in the line and an estimate of how
// long it will wait. (The resident size is the heartbeat thread's: daemon/heartbeat.h.)
//
// Thread-safety: the daemon's loop thread is the only writer, so every number is a plain load
// and a relaxed store (a reader takes a moment's snapshot of each); not safe to call from any
// other thread.
#pragma once

#include <cstdint>

#include "daemon/backend.h"
#include "daemon/scheduler.h"
#include "shm/layout.h"
#include "shm/segment.h"

namespace ringserve::daemon {

class Metrics {
 public:
  // The segment the metrics are published in; nothing is recorded or published before.
  void attach(const shm::SegmentView& view) { view_ = view; }

  // The segment's ModelInfo; once, before the segment is marked ready.
  void publish_model(const ModelDescription& model);

  // Request counters, published by publish(). A request is counted once when it arrives, once
  // when admitted, and once when it ends (count_end(), from Server::finish, before its final
  // entry can reach the client), so `received` is always the sum of the four ends and of the
  // requests not ended yet.
  void count_received() { ++stats_.received; }
  void count_admitted() { ++stats_.admitted; }
  void count_token() { ++stats_.tokens_generated; }
  void count_end(shm::FinishReason reason);
  const shm::DaemonStats& stats() const { return stats_; }

  // Latencies (SegmentMetrics): arrival to admission, to the first token, between tokens, and
  // arrival to the end. Written at once, not at publish().
  void record_queue_wait(uint64_t ns) { record(view_.metrics()->queue_wait, ns); }
  void record_first_token(uint64_t ns) { record(view_.metrics()->first_token, ns); }
  void record_inter_token(uint64_t ns) { record(view_.metrics()->inter_token, ns); }
  void record_end_to_end(uint64_t ns) { record(view_.metrics()->end_to_end, ns); }

  // The cost of a step. restart_iteration_clock() marks the start of an iteration's work (the
  // loop's start, and the end of an idle wait, which is not work); record_backend_step() is
  // the backend's share of the iteration; record_stepped_iteration() closes an iteration that
  // ran a step and adds it to the header's totals.
  void restart_iteration_clock();
  void record_backend_step(uint64_t wall_ns, uint64_t cpu_ns) {
    last_backend_ns_ = wall_ns;
    last_backend_cpu_ns_ = cpu_ns;
  }
  void record_stepped_iteration(uint64_t wake_thread_cpu_ns);

  // A running request ended at `now_ns`: one more sample of the rate at which running places
  // free up, which prices a place in the waiting line.
  void running_request_left(uint64_t now_ns);

  // Stores each waiting request's place in admission order and its wait estimate into its slot
  // when the line changed (and, with aging, at least every 100 ms: waiting alone reorders it).
  void publish_queue_positions(const Scheduler& scheduler, bool aging, uint64_t now_ns);

  // Stores the counters and gauges into the header; once per loop iteration.
  void publish(uint32_t running, uint32_t waiting, uint32_t backend_rows_in_use,
               uint32_t sequences_held);
  // Stores the backend's KV cache numbers (KvCacheMetrics); once per loop iteration.
  void publish_kv_cache(const KvCacheStats& kv);
  // Stores the request counters alone. The loop calls it before it publishes final entries,
  // so a client that read its request's end (an acquire of its ring's head, which the
  // daemon's release store of the head orders after these stores) already sees it counted.
  void publish_counters();

 private:
  static void record(shm::LatencyHistogram& histogram, uint64_t latency_ns);

  shm::SegmentView view_;
  shm::DaemonStats stats_{};
  uint64_t iteration_cpu_start_ = 0;  // this thread's CPU clock at the start of an iteration
  uint64_t last_backend_ns_ = 0;      // time inside the last backend step
  uint64_t last_backend_cpu_ns_ = 0;  // this thread's CPU time inside it
  uint64_t last_departure_ns_ = 0;    // a running request ended
  double departure_interval_ns_ = 0;  // moving average between such ends; 0 = not known yet
  uint64_t positions_version_ = ~0ULL;
  uint64_t positions_written_ns_ = 0;
};

}  // namespace ringserve::daemon
