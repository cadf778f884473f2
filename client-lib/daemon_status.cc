// Client: what the daemon reports about itself in its segment's header page and slot table:
// the model it serves and its memory, its counters and step costs, the latency histograms (as
// counts and as percentiles), and the requests it is running or keeping waiting. Every number is
// one relaxed read of memory the daemon keeps writing: a moment's snapshot, never a consistent set.
#include <algorithm>

#include "client-lib/connection.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/text_field.h"

namespace ringserve {
namespace {

// One relaxed read of a histogram the daemon keeps writing: each bucket is exact, the set of
// them a moment's snapshot.
LatencyHistogram read_histogram(const shm::LatencyHistogram& h) {
  static_assert(LatencyHistogram::kBuckets == shm::kHistogramBuckets);
  LatencyHistogram out;
  for (uint32_t i = 0; i < shm::kHistogramBuckets; ++i) {
    out.counts[i] = shm::load(h.buckets[i], std::memory_order_relaxed);
  }
  out.sum_ns = shm::load(h.sum_ns, std::memory_order_relaxed);
  return out;
}

LatencySummary summarize(const LatencyHistogram& h) {
  LatencySummary s;
  s.count = h.count();
  if (s.count == 0) return s;
  auto percentile = [&](double q) {
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(s.count - 1)) + 1;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < LatencyHistogram::kBuckets; ++i) {
      seen += h.counts[i];
      if (seen >= rank) return static_cast<double>(uint64_t{1} << i) / 1000.0;  // edge, in ms
    }
    return static_cast<double>(uint64_t{1} << (LatencyHistogram::kBuckets - 1)) / 1000.0;
  };
  s.p50_ms = percentile(0.50);
  s.p90_ms = percentile(0.90);
  s.p99_ms = percentile(0.99);
  return s;
}

// Written once before the segment was ready; the texts are read as untrusted bytes.
ModelInfo read_model_info(const shm::ModelInfo& m) {
  ModelInfo out;
  out.path = shm::read_text_field(m.path);
  out.architecture = shm::read_text_field(m.architecture);
  out.format = shm::read_text_field(m.format);
  out.device = shm::read_text_field(m.device);
  out.context_length = shm::load(m.context_length, std::memory_order_relaxed);
  out.weight_bytes = shm::load(m.weight_bytes, std::memory_order_relaxed);
  out.kv_cache_bytes = shm::load(m.kv_cache_bytes, std::memory_order_relaxed);
  return out;
}

}  // namespace

Status Client::metrics(DaemonMetrics* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  const shm::SegmentHeader* h = c.view.header();
  DaemonMetrics m;
  m.steps = shm::load(h->steps, std::memory_order_relaxed);
  m.backend_step_ns = shm::load(h->backend_step_ns, std::memory_order_relaxed);
  m.daemon_step_ns = shm::load(h->daemon_step_ns, std::memory_order_relaxed);
  m.wake_thread_ns = shm::load(h->wake_thread_ns, std::memory_order_relaxed);
  const shm::SegmentMetrics* segment = c.view.metrics();
  m.queue_wait = read_histogram(segment->queue_wait);
  m.time_to_first_token = read_histogram(segment->first_token);
  m.inter_token = read_histogram(segment->inter_token);
  m.end_to_end = read_histogram(segment->end_to_end);
  *out = m;
  return {};
}

Status Client::requests(std::vector<RequestSummary>* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  out->clear();
  const uint64_t now = shm::monotonic_ns();
  for (uint32_t i = 0; i < c.view.shape().slot_count; ++i) {
    const shm::SlotHeader* slot = c.view.slot(i);
    const uint64_t word = shm::load(slot->state_word);
    const shm::SlotState state = shm::word_state(word);
    if (state != shm::SlotState::kQueued && state != shm::SlotState::kRunning) continue;
    RequestSummary r;
    r.request_id = shm::load(slot->request_id, std::memory_order_relaxed);
    r.slot = i;
    r.owner_pid = shm::word_pid(word);
    r.running = state == shm::SlotState::kRunning;
    r.queue_position = r.running ? 0 : shm::load(slot->queue_position, std::memory_order_relaxed);
    r.wait_estimate_ms =
        r.running ? 0 : shm::load(slot->wait_estimate_ms, std::memory_order_relaxed);
    r.tokens_generated = shm::load(slot->tokens_generated, std::memory_order_relaxed);
    const uint64_t received = shm::load(slot->received_ns, std::memory_order_relaxed);
    r.age_ns = received != 0 && now > received ? now - received : 0;
    out->push_back(r);
  }
  std::sort(out->begin(), out->end(), [](const RequestSummary& a, const RequestSummary& b) {
    if (a.running != b.running) return a.running;
    return a.running ? a.request_id < b.request_id : a.queue_position < b.queue_position;
  });
  return {};
}

Status Client::status(DaemonStatus* out) const {
  const Connection& c = *connection_;
  if (!c.daemon_alive()) return daemon_gone_status(c);
  const shm::SegmentHeader* h = c.view.header();
  DaemonStatus st;
  // What connect checked, not the live header: a rewritten slot_count must not make us read
  // past the slot table.
  st.pid = c.daemon_pid;
  st.layout_version = shm::kLayoutVersion;
  st.wait_mode = shm::wait_mode_name(c.daemon_wait_mode);
  st.slots = c.view.shape().slot_count;
  for (uint32_t i = 0; i < st.slots; ++i) {
    if (shm::word_state(shm::load(c.view.slot(i)->state_word)) != shm::SlotState::kFree) {
      ++st.slots_in_use;
    }
  }
  st.max_concurrent = h->max_concurrent;
  st.max_queue = h->max_queue;
  st.running = shm::load(h->stats.running);
  st.waiting = shm::load(h->stats.waiting);
  st.received = shm::load(h->stats.received);
  st.admitted = shm::load(h->stats.admitted);
  st.rejected = shm::load(h->stats.rejected);
  st.completed = shm::load(h->stats.completed);
  st.cancelled = shm::load(h->stats.cancelled);
  st.failed = shm::load(h->stats.failed);
  st.tokens_generated = shm::load(h->stats.tokens_generated);
  st.heartbeat_age_ns = c.heartbeat_age_ns();
  st.model = read_model_info(*c.view.model_info());
  const shm::KvCacheMetrics* kv = c.view.kv_cache();
  const auto relaxed = std::memory_order_relaxed;
  st.kv_cache.block_positions = shm::load(kv->block_positions, relaxed);
  st.kv_cache.blocks_total = shm::load(kv->blocks_total, relaxed);
  st.kv_cache.blocks_in_use = shm::load(kv->blocks_in_use, relaxed);
  st.kv_cache.blocks_cached = shm::load(kv->blocks_cached, relaxed);
  st.kv_cache.prompt_tokens = shm::load(kv->prompt_tokens, relaxed);
  st.kv_cache.prompt_tokens_cached = shm::load(kv->prompt_tokens_cached, relaxed);
  st.kv_cache.preemptions = shm::load(kv->preemptions, relaxed);
  st.resident_bytes = shm::load(h->resident_bytes, std::memory_order_relaxed);
  st.steps = shm::load(h->steps, std::memory_order_relaxed);
  if (st.steps != 0) {
    st.backend_ms_per_step =
        static_cast<double>(shm::load(h->backend_step_ns, std::memory_order_relaxed)) / 1e6 /
        static_cast<double>(st.steps);
    st.daemon_us_per_step =
        static_cast<double>(shm::load(h->daemon_step_ns, std::memory_order_relaxed)) / 1e3 /
        static_cast<double>(st.steps);
    st.wake_thread_us_per_step =
        static_cast<double>(shm::load(h->wake_thread_ns, std::memory_order_relaxed)) / 1e3 /
        static_cast<double>(st.steps);
  }
  const shm::SegmentMetrics* m = c.view.metrics();
  st.queue_wait = summarize(read_histogram(m->queue_wait));
  st.time_to_first_token = summarize(read_histogram(m->first_token));
  st.inter_token = summarize(read_histogram(m->inter_token));
  st.end_to_end = summarize(read_histogram(m->end_to_end));
  *out = st;
  return {};
}

}  // namespace ringserve
