#include "daemon/metrics.h"

#include <algorithm>
#include <cstdint>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/text_field.h"

namespace ringserve::daemon {
namespace {

// With aging on, the waiting line reorders by itself: its positions are rewritten this often
// even when no request came or went (the slot sweep's period: a status reader's refresh).
constexpr uint64_t kAgedPositionsRefreshNs = 100'000'000;

}  // namespace

void Metrics::publish_model(const ModelDescription& model) {
  shm::ModelInfo* m = view_.model_info();
  // Clients read these only after the ready state's release store: plain stores suffice.
  m->weight_bytes = model.weight_bytes;
  m->kv_cache_bytes = model.kv_cache_bytes;
  m->context_length = static_cast<uint32_t>(std::min<uint64_t>(model.context_length, UINT32_MAX));
  shm::write_text_field(m->format, model.format);
  shm::write_text_field(m->architecture, model.architecture);
  shm::write_text_field(m->device, model.device);
  shm::write_text_field(m->path, model.path, shm::KeepEnd::kTail);
}

void Metrics::record(shm::LatencyHistogram& histogram, uint64_t latency_ns) {
  // The daemon is the histograms' only writer: a plain load and store, not a locked add
  // (~40 ns each on this VM, 256 of them per step at 256 sequences).
  uint64_t& bucket = histogram.buckets[shm::histogram_bucket(latency_ns)];
  shm::store(bucket, shm::load(bucket, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  shm::store(histogram.sum_ns, shm::load(histogram.sum_ns, std::memory_order_relaxed) + latency_ns,
             std::memory_order_relaxed);
}

void Metrics::count_end(shm::FinishReason reason) {
  switch (reason) {
    case shm::FinishReason::kStop:
    case shm::FinishReason::kLength:
      ++stats_.completed;
      break;
    case shm::FinishReason::kCancelled:
      ++stats_.cancelled;
      break;
    case shm::FinishReason::kRejected:
      ++stats_.rejected;
      break;
    default:
      ++stats_.failed;
      break;
  }
}

void Metrics::restart_iteration_clock() {
  // The thread's CPU clock is a system call that takes the scheduler's run-queue lock (~1.1 us
  // on the Zen 3 VM, perf), read three times per stepped iteration: the end of one is the
  // start of the next, so it is restarted only where work did not go on (the loop's start,
  // an idle wait).
  iteration_cpu_start_ = shm::thread_cpu_ns();
}

void Metrics::record_stepped_iteration(uint64_t wake_thread_cpu_ns) {
  // The daemon's own cost of this step: this thread's CPU time in the iteration minus the
  // backend's share. CPU time, not wall time, so being preempted by client processes is
  // not counted as the daemon's work (system calls such as futex wakes are).
  const uint64_t iteration_cpu_end = shm::thread_cpu_ns();
  const uint64_t iteration_cpu = iteration_cpu_end - iteration_cpu_start_;
  iteration_cpu_start_ = iteration_cpu_end;
  shm::SegmentHeader* h = view_.header();
  shm::store(h->steps, h->steps + 1, std::memory_order_relaxed);
  shm::store(h->wake_thread_ns, wake_thread_cpu_ns, std::memory_order_relaxed);
  shm::store(h->backend_step_ns, h->backend_step_ns + last_backend_ns_, std::memory_order_relaxed);
  shm::store(h->daemon_step_ns,
             h->daemon_step_ns +
                 (iteration_cpu > last_backend_cpu_ns_ ? iteration_cpu - last_backend_cpu_ns_ : 0),
             std::memory_order_relaxed);
}

void Metrics::running_request_left(uint64_t now_ns) {
  // The rate at which running requests leave is the rate at which waiting ones get in:
  // a moving average of the interval between departures prices a queue position.
  if (last_departure_ns_ != 0) {
    const double interval = static_cast<double>(now_ns - last_departure_ns_);
    departure_interval_ns_ =
        departure_interval_ns_ == 0 ? interval : 0.8 * departure_interval_ns_ + 0.2 * interval;
  }
  last_departure_ns_ = now_ns;
}

void Metrics::publish_queue_positions(const Scheduler& scheduler, bool aging, uint64_t now_ns) {
  const bool aged = aging && !scheduler.waiting().empty() &&
                    now_ns >= positions_written_ns_ + kAgedPositionsRefreshNs;
  if (positions_version_ == scheduler.waiting_version() && !aged) return;
  positions_version_ = scheduler.waiting_version();
  positions_written_ns_ = now_ns;
  uint32_t position = 1;
  for (Sequence* seq : scheduler.admission_order(now_ns)) {
    const double estimate_ms = departure_interval_ns_ * position / 1e6;
    shm::store(view_.slot(seq->slot)->wait_estimate_ms,
               static_cast<uint32_t>(std::min(estimate_ms, 4e9)), std::memory_order_relaxed);
    shm::store(view_.slot(seq->slot)->queue_position, position++);
  }
}

void Metrics::publish(uint32_t running, uint32_t waiting, uint32_t backend_rows_in_use,
                      uint32_t sequences_held) {
  shm::SegmentHeader* h = view_.header();
  shm::store(h->backend_rows_in_use, backend_rows_in_use, std::memory_order_relaxed);
  shm::store(h->sequences_held, sequences_held, std::memory_order_relaxed);
  stats_.running = running;
  stats_.waiting = waiting;
  shm::DaemonStats& out = h->stats;
  const auto relaxed = std::memory_order_relaxed;
  shm::store(out.running, stats_.running, relaxed);
  shm::store(out.waiting, stats_.waiting, relaxed);
  publish_counters();
}

void Metrics::publish_kv_cache(const KvCacheStats& kv) {
  shm::KvCacheMetrics* out = view_.kv_cache();
  const auto relaxed = std::memory_order_relaxed;
  shm::store(out->block_positions, kv.block_positions, relaxed);
  shm::store(out->blocks_total, kv.blocks_total, relaxed);
  shm::store(out->blocks_in_use, kv.blocks_in_use, relaxed);
  shm::store(out->blocks_cached, kv.blocks_cached, relaxed);
  shm::store(out->prompt_tokens, kv.prompt_tokens, relaxed);
  shm::store(out->prompt_tokens_cached, kv.prompt_tokens_cached, relaxed);
  shm::store(out->preemptions, kv.preemptions, relaxed);
}

void Metrics::publish_counters() {
  shm::DaemonStats& out = view_.header()->stats;
  const auto relaxed = std::memory_order_relaxed;
  shm::store(out.received, stats_.received, relaxed);
  shm::store(out.admitted, stats_.admitted, relaxed);
  shm::store(out.rejected, stats_.rejected, relaxed);
  shm::store(out.completed, stats_.completed, relaxed);
  shm::store(out.cancelled, stats_.cancelled, relaxed);
  shm::store(out.failed, stats_.failed, relaxed);
  shm::store(out.tokens_generated, stats_.tokens_generated, relaxed);
}

}  // namespace ringserve::daemon
