// The daemon loop. One iteration: heartbeat, intake, reap (every 100 ms), cancels and
// deadlines, admission, one backend step for every running sequence whose client keeps up,
// flush tokens into rings, counters. With nothing to do it sleeps on the doorbell futex.
#include "daemon/server.h"

#include <unistd.h>

#include <algorithm>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "daemon/request_intake.h"
#include "daemon/token_output.h"
#include "daemon/wake_notifier.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/membarrier.h"
#include "shm/prefetch.h"
#include "shm/process.h"
#include "shm/slot.h"

namespace ringserve::daemon {
namespace {

constexpr uint64_t kReapIntervalNs = 100'000'000;
// A running request's live token count in its slot is refreshed at its 1st token and every
// this many after.
constexpr uint32_t kProgressEvery = 16;
// How often the loop asks the kernel about client deaths (ClientWatch::check).
constexpr uint64_t kDeathCheckNs = 5'000'000;
// The request ring is how a request arrives fast; the slot table is the truth. A request left
// SUBMITTED this long without arriving lost its ring position (a client scribbled on the ring,
// or its push failed) and is taken from the table.
constexpr uint64_t kOrphanSubmitNs = 200'000'000;
constexpr uint64_t kIdleWaitNs = 100'000'000;  // doorbell sleep between housekeeping
// Where the kernel has no membarrier: how often rings the clients must drain are re-checked.
constexpr uint64_t kBlockedPollNs = 1'000'000;

shm::WaitMode to_shm(config::WaitMode m) {
  switch (m) {
    case config::WaitMode::kSpin:
      return shm::WaitMode::kSpin;
    case config::WaitMode::kFutex:
      return shm::WaitMode::kFutex;
    case config::WaitMode::kHybrid:
      return shm::WaitMode::kHybrid;
  }
  return shm::WaitMode::kHybrid;
}

double ms_between(uint64_t from, uint64_t to) {
  return from == 0 || to < from ? 0.0 : static_cast<double>(to - from) / 1e6;
}

// During a model step the client processes run on the daemon's cores and evict what the loop
// touched (sequence.h), so each pass after the step would wait on one miss after another for
// every sequence. Asking for all of the step's lines first lets the misses overlap: the
// sequences' two lines, then (once those are on their way) the lines of their rings and the
// slot word the cancel check reads.
void prefetch_step_lines(const shm::SegmentView& view, const std::vector<Sequence*>& batch) {
  for (const Sequence* seq : batch) {
    shm::prefetch_write(seq);
    shm::prefetch_write(reinterpret_cast<const char*>(seq) + shm::kCacheLine);
  }
  for (const Sequence* seq : batch) {
    seq->writer.prefetch();
    shm::prefetch_read(&view.slot(seq->slot)->cancel_requested);
  }
}

}  // namespace

Server::Server(const config::Config& config, std::unique_ptr<Backend> backend)
    : config_(config),
      backend_(std::move(backend)),
      scheduler_(config.scheduler.max_concurrent, config.scheduler.max_queue,
                 config.scheduler.aging_ms, config.scheduler.max_priority) {
  wait_policy_.mode = to_shm(config.transport.wait_mode);
  wait_policy_.spin_ns = uint64_t{config.transport.spin_us} * 1000;
}

Server::~Server() = default;

bool Server::start(std::string* error) {
  const config::TransportSection& t = config_.transport;
  const shm::SegmentShape shape{t.slots, t.prompt_bytes, t.token_ring_entries};
  shm::SegmentAccess access{t.permissions, shm::SegmentAccess::kCreatorsGroup};
  if (!t.group.empty()) {
    const std::optional<uint32_t> gid = config::group_id(t.group);
    if (!gid) {  // checked when the config loaded; the group database can change since
      *error = "transport.group: no such group '" + t.group + "'";
      return false;
    }
    access.group_id = *gid;
  }
  std::string message;
  if (shm::Segment::create(config_.daemon.name, shape, access, &segment_, &message) !=
      shm::SegmentError::kOk) {
    *error = message;
    return false;
  }
  view_ = segment_->view();
  const shm::SegmentGeometry& g = view_.geometry();
  shm::SegmentHeader* h = view_.header();
  shm::write_geometry(h, shape);
  h->wait_mode = static_cast<uint32_t>(wait_policy_.mode);
  h->daemon_pid = static_cast<int32_t>(::getpid());
  h->spin_ns = static_cast<uint32_t>(wait_policy_.spin_ns);
  h->daemon_start_time = shm::process_start_time(::getpid());
  h->max_tokens_limit = config_.scheduler.max_tokens_limit;
  h->max_concurrent = config_.scheduler.max_concurrent;
  h->max_queue = config_.scheduler.max_queue;
  h->max_priority = config_.scheduler.max_priority;
  heartbeat_ = std::make_unique<Heartbeat>(&h->heartbeat_ns);
  requests_ =
      std::make_unique<shm::RequestRingConsumer>(view_.request_ring(), g.request_ring_capacity,
                                                 uint64_t{t.unpublished_timeout_ms} * 1'000'000);
  requests_->initialize();
  notifier_ = std::make_unique<WakeNotifier>();
  by_slot_.resize(shape.slot_count);
  submitted_word_.assign(shape.slot_count, 0);
  submitted_since_ns_.assign(shape.slot_count, 0);
  // Everything above becomes visible to a client that sees kReady (acquire).
  shm::store(h->state, static_cast<uint32_t>(shm::SegmentState::kReady), std::memory_order_seq_cst);
  spdlog::info(
      "ringserved '{}' ready: pid {}, {} slots x {} prompt bytes, token rings of {}, "
      "segment {} KiB, wait mode {}, backend {}, scheduler {} ({} running, {} waiting)",
      config_.daemon.name, ::getpid(), shape.slot_count, shape.prompt_capacity,
      shape.token_ring_capacity, g.segment_bytes / 1024,
      config::to_string(config_.transport.wait_mode), backend_->name(),
      config::to_string(config_.scheduler.mode), config_.scheduler.max_concurrent,
      config_.scheduler.max_queue);
  return true;
}

void Server::request_stop() {
  stop_requested_.store(true, std::memory_order_seq_cst);
  if (view_.base() != nullptr) {
    shm::fetch_add(view_.header()->doorbell_seq, 1u, std::memory_order_seq_cst);
    shm::futex_wake(&view_.header()->doorbell_seq, 1);
  }
}

void Server::run() {
  // The thread's CPU clock is a system call that takes the scheduler's run-queue lock (~1.1 us
  // on the Zen 3 VM, perf), read three times per stepped iteration: the end of one is the
  // start of the next.
  iteration_cpu_start_ = shm::thread_cpu_ns();
  while (run_once()) {
  }
  spdlog::info("ringserved '{}' stopped: {} requests completed, {} tokens generated",
               config_.daemon.name, stats_.completed, stats_.tokens_generated);
  notifier_.reset();  // its queued words point into the segment
  heartbeat_.reset();
  segment_.reset();  // unmaps and removes the segment
}

bool Server::run_once(bool may_sleep) {
  const uint64_t now = shm::monotonic_ns();
  heartbeat_->beat();
  if (stop_requested_.load(std::memory_order_relaxed) && !stopping_) begin_shutdown(now);
  intake(now);
  // A client's death is reported by the kernel (client_watch.h) and reaped at once; the
  // timed pass catches slots of clients that died before their request reached us, and
  // requests that are SUBMITTED in the table but never came off the ring.
  // Deaths are polled every kDeathCheckNs, not every iteration (an epoll_wait each time):
  // a dead client's requests are freed that much later, well inside the protocol's second.
  bool died = false;
  if (now >= next_death_check_ns_) {
    died = client_watch_.check(now);
    next_death_check_ns_ = now + kDeathCheckNs;
  }
  if (died || now >= next_reap_ns_) {
    sweep_slots(now);
    next_reap_ns_ = now + kReapIntervalNs;
  }
  // Waiting requests are checked before admission (a cancelled one must not take a place),
  // running ones right after the step: the step has just brought their sequences into the
  // cache, and a cancel that came during the step ends the stream in this iteration's
  // flush, not after the next step.
  check_cancels_and_deadlines(now, /*running=*/false);
  admit(now);
  const bool stepped = step();
  const uint64_t stepped_ns = shm::monotonic_ns();
  check_cancels_and_deadlines(stepped_ns, /*running=*/true);
  flush_all(stepped_ns);
  notifier_->flush();
  update_queue_positions(now);
  publish_stats();
  if (stopping_) {
    const bool idle = scheduler_.running().empty() && scheduler_.waiting().empty() && held_ == 0;
    if (idle || now >= drain_deadline_ns_) return false;
  }
  if (stepped) {
    // The daemon's own cost of this step: this thread's CPU time in the iteration minus the
    // backend's share. CPU time, not wall time, so being preempted by client processes is
    // not counted as the daemon's work (system calls such as futex wakes are).
    const uint64_t iteration_cpu_end = shm::thread_cpu_ns();
    const uint64_t iteration_cpu = iteration_cpu_end - iteration_cpu_start_;
    iteration_cpu_start_ = iteration_cpu_end;
    shm::SegmentHeader* h = view_.header();
    shm::store(h->steps, h->steps + 1, std::memory_order_relaxed);
    shm::store(h->wake_thread_ns, notifier_->thread_cpu_ns(), std::memory_order_relaxed);
    shm::store(h->backend_step_ns, h->backend_step_ns + last_backend_ns_,
               std::memory_order_relaxed);
    shm::store(
        h->daemon_step_ns,
        h->daemon_step_ns +
            (iteration_cpu > last_backend_cpu_ns_ ? iteration_cpu - last_backend_cpu_ns_ : 0),
        std::memory_order_relaxed);
  }
  // Sleep only when no running sequence can take a step: a flush that just emptied a paused
  // sequence's backlog makes it steppable again at once.
  const bool steppable = std::any_of(scheduler_.running().begin(), scheduler_.running().end(),
                                     [](const Sequence* s) { return s->pending.empty(); });
  if (!stepped) {
    if (!steppable && may_sleep) {
      heartbeat_->enter_bounded_phase();
      idle_wait(now);
      heartbeat_->leave_bounded_phase();
    }
    iteration_cpu_start_ = shm::thread_cpu_ns();  // the wait is not work
  }
  return true;
}

void Server::begin_shutdown(uint64_t now) {
  stopping_ = true;
  const uint64_t drain_ns = uint64_t{config_.scheduler.drain_timeout_ms} * 1'000'000;
  drain_deadline_ns_ = now + drain_ns;
  shm::store(view_.header()->state, static_cast<uint32_t>(shm::SegmentState::kStopping),
             std::memory_order_seq_cst);
  spdlog::info("stopping: {} running get up to {} ms to finish, {} waiting are rejected",
               scheduler_.running().size(), config_.scheduler.drain_timeout_ms,
               scheduler_.waiting().size());
  const std::deque<Sequence*> waiting = scheduler_.waiting();
  for (Sequence* seq : waiting) {
    finish(*seq, shm::FinishReason::kRejected, shm::RequestError::kShuttingDown,
           "the daemon is stopping and admits no more requests");
  }
}

void Server::intake(uint64_t now) {
  // Bounded: a flood of requests cannot starve the running sequences of their step.
  for (uint32_t i = 0; i < view_.geometry().request_ring_capacity; ++i) {
    uint32_t value = 0;
    const auto r = requests_->poll(now, &value);
    if (r == shm::RequestRingConsumer::PollResult::kValue) {
      accept(value, now);
    } else if (r == shm::RequestRingConsumer::PollResult::kSkipped) {
      spdlog::warn(
          "request ring: skipped a position claimed but never published (client died "
          "or stalled for {} ms)",
          config_.transport.unpublished_timeout_ms);
    } else {
      break;
    }
  }
}

void Server::accept(uint32_t slot_index, uint64_t now) {
  // A slot we already hold cannot be submitted again by an honest client.
  if (slot_index < by_slot_.size() && by_slot_[slot_index] != nullptr) return;
  std::unique_ptr<Sequence> seq;
  shm::RequestCheck check;
  const IntakeLimits limits{config_.scheduler.max_tokens_limit, config_.scheduler.max_priority};
  const IntakeOutcome outcome = take_request(view_, slot_index, limits, now, &seq, &check);
  if (outcome == IntakeOutcome::kIgnored) return;
  Sequence& s = *seq;
  s.request_id = next_request_id_++;
  shm::store(view_.slot(s.slot)->request_id, s.request_id);
  shm::store(view_.slot(s.slot)->received_ns, now);
  by_slot_[s.slot] = std::move(seq);
  ++held_;
  client_watch_.watch({s.owner_pid, s.owner_start_time});
  ++stats_.received;
  // Not in the scheduler yet, so finish() only queues the final entry.
  if (outcome == IntakeOutcome::kRejected) {
    spdlog::info("request {} rejected: {}", s.request_id, check.message);
    finish(s, shm::FinishReason::kError, check.error, check.message);
    return;
  }
  if (stopping_) {
    finish(s, shm::FinishReason::kRejected, shm::RequestError::kShuttingDown,
           "the daemon is stopping and admits no more requests");
    return;
  }
  if (!scheduler_.enqueue(&s)) {
    ++stats_.rejected;
    finish(s, shm::FinishReason::kRejected, shm::RequestError::kQueueFull,
           "the waiting line is full: " + std::to_string(scheduler_.waiting().size()) +
               " requests wait (scheduler.max_queue " +
               std::to_string(config_.scheduler.max_queue) + ")");
  }
}

void Server::record(shm::LatencyHistogram& histogram, uint64_t latency_ns) {
  // The daemon is the histograms' only writer: a plain load and store, not a locked add
  // (~40 ns each on this VM, 256 of them per step at 256 sequences).
  uint64_t& bucket = histogram.buckets[shm::histogram_bucket(latency_ns)];
  shm::store(bucket, shm::load(bucket, std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  shm::store(histogram.sum_ns, shm::load(histogram.sum_ns, std::memory_order_relaxed) + latency_ns,
             std::memory_order_relaxed);
}

void Server::finish(Sequence& seq, shm::FinishReason reason, shm::RequestError error,
                    std::string detail) {
  if (seq.finishing) return;
  const uint64_t now = shm::monotonic_ns();
  record(view_.metrics()->end_to_end, now > seq.received_ns ? now - seq.received_ns : 0);
  scheduler_.remove(&seq);
  backend_->release(seq);  // nothing to release for a request that never started
  seq.detail = std::move(detail);
  if (seq.running()) {
    // The rate at which running requests leave is the rate at which waiting ones get in:
    // a moving average of the interval between departures prices a queue position.
    if (last_departure_ns_ != 0) {
      const double interval = static_cast<double>(now - last_departure_ns_);
      departure_interval_ns_ =
          departure_interval_ns_ == 0 ? interval : 0.8 * departure_interval_ns_ + 0.2 * interval;
    }
    last_departure_ns_ = now;
  }
  queue_finish(seq, reason, error);
}

void Server::check_cancels_and_deadlines(uint64_t now, bool running) {
  // A copy: finish() takes a sequence out of the scheduler's lists.
  if (running) {
    to_check_.assign(scheduler_.running().begin(), scheduler_.running().end());
  } else {
    to_check_.assign(scheduler_.waiting().begin(), scheduler_.waiting().end());
  }
  for (Sequence* seq : to_check_) {
    const shm::SlotHeader* slot = view_.slot(seq->slot);
    // A client that let go of its stream without cancelling will not read what we make: the
    // same as a cancel (client_released shares the cancel word's cache line).
    if (shm::load(slot->cancel_requested, std::memory_order_relaxed) ==
            shm::cancel_token(seq->state_word) ||
        shm::load(slot->client_released, std::memory_order_relaxed) != 0) {
      finish(*seq, shm::FinishReason::kCancelled, shm::RequestError::kNone);
    } else if ((!seq->running() && now >= seq->queue_deadline_ns) ||
               now >= seq->total_deadline_ns) {
      finish(*seq, shm::FinishReason::kTimeout, shm::RequestError::kNone);
    }
  }
  to_check_.clear();
}

void Server::admit(uint64_t now) {
  for (Sequence* seq : scheduler_.admit(now)) {
    if (!shm::slot::admit(view_.slot(seq->slot), &seq->state_word)) {
      // The client overwrote its own slot: it is no longer a request we can serve.
      spdlog::warn("request {}: slot {} no longer holds it at admission (client overwrote it)",
                   seq->request_id, seq->slot);
      retire(*seq, SlotHandback::kLeave, shm::FinishReason::kError,
             shm::RequestError::kProtocolViolation);
      continue;
    }
    seq->admitted_ns = now;
    record(view_.metrics()->queue_wait, now - seq->received_ns);
    shm::store(view_.slot(seq->slot)->admitted_ns, now);
    shm::store(view_.slot(seq->slot)->queue_position, 0u);
    ++stats_.admitted;
    std::string message;
    const shm::RequestError error = backend_->start(*seq, &message);
    if (error != shm::RequestError::kNone) {
      spdlog::info("request {} rejected by the {} backend: {}", seq->request_id, backend_->name(),
                   message);
      finish(*seq, shm::FinishReason::kError, error, message);
    }
  }
}

bool Server::step() {
  batch_.clear();
  const std::vector<Sequence*>& running = scheduler_.running();
  if (config_.scheduler.mode == config::SchedulerMode::kInterleave) {
    // The seed's way: one sequence per model step, taking turns.
    for (size_t k = 0; k < running.size(); ++k) {
      const size_t i = (interleave_next_ + k) % running.size();
      if (running[i]->pending.empty()) {
        batch_.push_back(running[i]);
        interleave_next_ = i + 1;
        break;
      }
    }
  } else {
    for (Sequence* seq : running) {
      if (seq->pending.empty()) batch_.push_back(seq);  // a client behind on reading sits out
    }
  }
  if (batch_.empty()) return false;
  const uint64_t step_start_ns = shm::monotonic_ns();
  const uint64_t step_start_cpu = shm::thread_cpu_ns();
  backend_->step(batch_, &outputs_);
  last_backend_cpu_ns_ = shm::thread_cpu_ns() - step_start_cpu;
  // A model step takes milliseconds: first-token times are taken after it, not at its start.
  const uint64_t stepped_ns = shm::monotonic_ns();
  last_backend_ns_ = stepped_ns - step_start_ns;
  prefetch_step_lines(view_, batch_);
  for (size_t i = 0; i < batch_.size(); ++i) {
    Sequence& seq = *batch_[i];
    const StepOutput& out = outputs_[i];
    if (out.finish == shm::FinishReason::kError) {
      finish(seq, out.finish, out.error);
      continue;
    }
    if (!out.has_token) continue;  // still prefilling its prompt
    if (out.send_token) {
      if (seq.generated == 0) {
        seq.first_token_ns = stepped_ns;
        shm::store(view_.slot(seq.slot)->first_token_ns, stepped_ns);
        record(view_.metrics()->first_token, stepped_ns - seq.received_ns);
      } else {
        record(view_.metrics()->inter_token, stepped_ns - seq.last_token_ns);
      }
      seq.last_token_ns = stepped_ns;
      ++seq.generated;
      ++stats_.tokens_generated;
      // Live progress for `ringctl status`, every kProgressEvery tokens: a store per token
      // would touch one more cache line per sequence and step (sequence.h). The exact count
      // is stored at the end, with the finish fields.
      if (seq.generated % kProgressEvery == 1) {
        shm::store(view_.slot(seq.slot)->tokens_generated, seq.generated,
                   std::memory_order_relaxed);
      }
      emit_token(seq, out.token_id, out.text, stepped_ns);
    } else if (!out.text.empty()) {
      // Text held back for a possible stop string, released at the end.
      emit_token(seq, -1, out.text, stepped_ns);
    }
    if (out.finish != shm::FinishReason::kNone) {
      finish(seq, out.finish, shm::RequestError::kNone);
    }
  }
  return true;
}

void Server::flush_all(uint64_t now) {
  for (auto& owned : by_slot_) {
    if (owned == nullptr || (owned->pending.empty() && owned->writer.unpublished() == 0)) {
      continue;
    }
    Sequence& seq = *owned;
    const size_t backlog = seq.pending.size();
    bool wake = false;
    const FlushResult r = flush(view_, seq, now, &wake);
    if (wake) notifier_->add(seq.writer.futex_word());
    switch (r) {
      case FlushResult::kOpen:
        // Only a sequence that had a backlog can have been paused: paused_since_ns is off the
        // two lines a step touches (sequence.h), so the common case does not read it.
        if (backlog != 0 && seq.paused_since_ns != 0) {
          seq.paused_since_ns = 0;
          seq.writer.clear_room_request();
        }
        break;
      case FlushResult::kBlocked:
        // The pause is counted from the client's last read: a slow reader that keeps reading
        // is never stalled.
        if (seq.paused_since_ns == 0 || seq.pending.size() < backlog) seq.paused_since_ns = now;
        end_if_stalled(seq, now);
        break;
      case FlushResult::kFinal:
        retire(seq, SlotHandback::kFinalPublished);
        break;
      case FlushResult::kClientGone:
        retire(seq, SlotHandback::kWithoutFinalEntry, shm::FinishReason::kCancelled);
        break;
      case FlushResult::kCorrupt:
        spdlog::warn("request {}: the tail of slot {}'s token ring is impossible (scribbled)",
                     seq.request_id, seq.slot);
        retire(seq, SlotHandback::kWithoutFinalEntry, shm::FinishReason::kError,
               shm::RequestError::kProtocolViolation,
               "the token ring's tail counter was overwritten with an impossible value");
        break;
    }
  }
}

void Server::end_if_stalled(Sequence& seq, uint64_t now) {
  const uint64_t limit_ns = uint64_t{config_.scheduler.pause_timeout_ms} * 1'000'000;
  if (seq.finishing || now - seq.paused_since_ns < limit_ns) return;
  spdlog::info("request {}: its client has not read for {} ms; it gives up its place",
               seq.request_id, (now - seq.paused_since_ns) / 1'000'000);
  // What it made stays queued for the client; the final entry follows it.
  finish(seq, shm::FinishReason::kError, shm::RequestError::kClientStalled,
         "the client did not read its full token ring for " +
             std::to_string(config_.scheduler.pause_timeout_ms) +
             " ms (scheduler.pause_timeout_ms): the request gave up its running place after " +
             std::to_string(seq.generated) + " tokens");
}

void Server::retire(Sequence& seq, SlotHandback handback, shm::FinishReason reason,
                    shm::RequestError error, std::string detail) {
  finish(seq, reason, error, std::move(detail));  // a no-op for a request that had ended
  shm::SlotHeader* slot = view_.slot(seq.slot);
  const uint64_t now = shm::monotonic_ns();
  switch (handback) {
    case SlotHandback::kFinalPublished:
      if (shm::slot::finish(slot, &seq.state_word)) {
        shm::slot::free_if_released(slot, seq.state_word);
      }
      break;
    case SlotHandback::kWithoutFinalEntry:
      // The finish fields go only into a slot that still holds this request; the client sees
      // FINISHED without a final entry and reads them from there (PROTOCOL.md).
      if (shm::load(slot->state_word) != seq.state_word) break;
      seq.writer.clear_room_request();
      store_finish_fields(view_, seq, now);
      if (shm::slot::finish(slot, &seq.state_word)) {
        shm::slot::free_if_released(slot, seq.state_word);
      }
      break;
    case SlotHandback::kReclaim:
      shm::slot::reclaim(slot, seq.state_word);
      break;
    case SlotHandback::kLeave:
      break;
  }
  spdlog::info(
      "request {}: prompt {} tokens, generated {}, queue wait {:.3f} ms, ttft {:.3f} ms, "
      "total {:.3f} ms, finish {}",
      seq.request_id, seq.prompt_token_count, seq.generated,
      ms_between(seq.received_ns, seq.admitted_ns), ms_between(seq.received_ns, seq.first_token_ns),
      ms_between(seq.received_ns, now), shm::finish_reason_name(seq.finish_reason));
  switch (seq.finish_reason) {
    case shm::FinishReason::kStop:
    case shm::FinishReason::kLength:
      ++stats_.completed;
      break;
    case shm::FinishReason::kCancelled:
      ++stats_.cancelled;
      break;
    case shm::FinishReason::kRejected:
      break;  // counted at rejection
    default:
      ++stats_.failed;
      break;
  }
  client_watch_.unwatch({seq.owner_pid, seq.owner_start_time});
  --held_;
  by_slot_[seq.slot].reset();
}

void Server::sweep_slots(uint64_t now) {
  // Clients with requests here are known from their pidfds, without a system call; others (a
  // slot claimed but not yet submitted) take one /proc lookup per distinct (pid, start time).
  std::unordered_map<uint64_t, bool> alive_cache;
  auto alive = [&](int32_t pid, uint64_t start_time) {
    const ClientWatch::Liveness known = client_watch_.liveness({pid, start_time});
    if (known != ClientWatch::Liveness::kUnknown) return known == ClientWatch::Liveness::kAlive;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(pid)) << 32) ^ start_time;
    auto it = alive_cache.find(key);
    if (it != alive_cache.end()) return it->second;
    const bool a = shm::process_is_alive(pid, start_time);
    alive_cache.emplace(key, a);
    return a;
  };
  for (uint32_t i = 0; i < by_slot_.size(); ++i) {
    shm::SlotHeader* slot = view_.slot(i);
    if (by_slot_[i] != nullptr) {
      Sequence& seq = *by_slot_[i];
      if (shm::load(slot->state_word) != seq.state_word) {
        // Only the daemon moves a slot it holds, so someone overwrote this one: its owner has
        // been told (or will find the slot taken) and will not read or free it; holding the
        // request would keep the slot from every later request.
        spdlog::warn("request {}: slot {} was overwritten while the daemon held it; letting go",
                     seq.request_id, i);
        retire(seq, SlotHandback::kLeave, shm::FinishReason::kError,
               shm::RequestError::kProtocolViolation);
        continue;
      }
      if (alive(seq.owner_pid, seq.owner_start_time)) continue;
      spdlog::info("request {}: client pid {} died; freeing slot {}", seq.request_id, seq.owner_pid,
                   i);
      retire(seq, SlotHandback::kReclaim);
      continue;
    }
    // Slots we do not hold: claimed, submitted or finished by a client that died before
    // handing them on (or states only a scribbling client produces). Reclaim when the owner
    // is gone; a SUBMITTED slot freed here and popped later reads as not SUBMITTED and is
    // ignored.
    uint64_t word = shm::load(slot->state_word);
    const shm::SlotState state = shm::word_state(word);
    if (state == shm::SlotState::kFree) continue;
    // A fresh claimer writes owner_start_time only after its claim CAS, so for CLAIMED the
    // field may still be the previous owner's: check the pid alone then.
    const uint64_t start_time =
        state == shm::SlotState::kClaimed ? 0 : shm::load(slot->owner_start_time);
    if (alive(shm::word_pid(word), start_time)) {
      if (state == shm::SlotState::kQueued || state == shm::SlotState::kRunning) {
        // Only the daemon makes these states, and it holds every request it made them for: a
        // slot in one without a request here was lost (its state word or ring overwritten).
        // Its owner lives and waits on it: it is told, and frees the slot as after any end.
        spdlog::warn("slot {} is {} but the daemon holds no request for it; finishing it", i,
                     state == shm::SlotState::kQueued ? "QUEUED" : "RUNNING");
        store_finish_fields(
            view_, i, shm::FinishReason::kError, shm::RequestError::kProtocolViolation,
            "the daemon lost this request: its slot or token ring was overwritten", now);
        if (shm::slot::finish(slot, &word)) shm::slot::free_if_released(slot, word);
        continue;
      }
      if (state != shm::SlotState::kSubmitted) continue;
      if (submitted_word_[i] != word) {
        submitted_word_[i] = word;
        submitted_since_ns_[i] = now;
      } else if (now - submitted_since_ns_[i] >= kOrphanSubmitNs) {
        spdlog::warn(
            "slot {} was submitted {} ms ago but never came off the request ring; "
            "taking it from the slot table",
            i, (now - submitted_since_ns_[i]) / 1'000'000);
        submitted_word_[i] = 0;
        accept(i, now);
      }
      continue;
    }
    shm::slot::reclaim(slot, word);
  }
}

void Server::update_queue_positions(uint64_t now) {
  // Rewritten when the line changes, and with aging on also every reap interval: waiting
  // reorders the line by itself.
  const bool aged = config_.scheduler.aging_ms != 0 && !scheduler_.waiting().empty() &&
                    now >= positions_written_ns_ + kReapIntervalNs;
  if (positions_version_ == scheduler_.waiting_version() && !aged) return;
  positions_version_ = scheduler_.waiting_version();
  positions_written_ns_ = now;
  uint32_t position = 1;
  for (Sequence* seq : scheduler_.admission_order(now)) {
    const double estimate_ms = departure_interval_ns_ * position / 1e6;
    shm::store(view_.slot(seq->slot)->wait_estimate_ms,
               static_cast<uint32_t>(std::min(estimate_ms, 4e9)), std::memory_order_relaxed);
    shm::store(view_.slot(seq->slot)->queue_position, position++);
  }
}

void Server::publish_stats() {
  shm::SegmentHeader* h = view_.header();
  shm::store(h->backend_rows_in_use, backend_->rows_in_use(), std::memory_order_relaxed);
  shm::store(h->sequences_held, held_, std::memory_order_relaxed);
  stats_.running = static_cast<uint32_t>(scheduler_.running().size());
  stats_.waiting = static_cast<uint32_t>(scheduler_.waiting().size());
  shm::DaemonStats& out = view_.header()->stats;
  const auto relaxed = std::memory_order_relaxed;
  shm::store(out.running, stats_.running, relaxed);
  shm::store(out.waiting, stats_.waiting, relaxed);
  shm::store(out.received, stats_.received, relaxed);
  shm::store(out.admitted, stats_.admitted, relaxed);
  shm::store(out.rejected, stats_.rejected, relaxed);
  shm::store(out.completed, stats_.completed, relaxed);
  shm::store(out.cancelled, stats_.cancelled, relaxed);
  shm::store(out.failed, stats_.failed, relaxed);
  shm::store(out.tokens_generated, stats_.tokens_generated, relaxed);
}

void Server::idle_wait(uint64_t now) {
  // Sequences whose output waits for their client to read ask it for the doorbell when it
  // does (TokenRingWriter::request_room), so the daemon sleeps instead of polling their rings.
  blocked_.clear();
  uint64_t deadline = std::min(now + kIdleWaitNs, next_reap_ns_);
  const uint64_t pause_ns = uint64_t{config_.scheduler.pause_timeout_ms} * 1'000'000;
  for (const auto& owned : by_slot_) {
    if (owned == nullptr || owned->pending.empty()) continue;
    owned->writer.request_room();
    blocked_.push_back(owned.get());
    if (!owned->finishing) deadline = std::min(deadline, owned->paused_since_ns + pause_ns);
  }
  if (!blocked_.empty()) {
    // One heavy fence for all the flags (shm/membarrier.h): after it, a client that made room
    // before seeing its flag has its tail visible here. Without one, poll the rings every ms.
    if (!shm::heavy_fence()) deadline = std::min(deadline, now + kBlockedPollNs);
    for (const Sequence* seq : blocked_) {
      if (seq->writer.has_room(1)) return;  // room already: flush at once
    }
  }
  if (stopping_) deadline = std::min(deadline, drain_deadline_ns_);
  if (const uint64_t stall = requests_->stall_deadline_ns(); stall != 0) {
    deadline = std::min(deadline, stall);
  }
  shm::SegmentHeader* h = view_.header();
  const auto ready = [&] {
    return requests_->ready_to_poll() || stop_requested_.load(std::memory_order_relaxed) ||
           std::any_of(blocked_.begin(), blocked_.end(),
                       [](const Sequence* seq) { return seq->writer.has_room(1); });
  };
  shm::wait_until(ready, &h->doorbell_seq, &h->daemon_sleeping, wait_policy_, deadline);
}

std::string Server::check_invariants() const {
  uint32_t held = 0;
  uint32_t with_state = 0;
  for (uint32_t i = 0; i < by_slot_.size(); ++i) {
    const Sequence* seq = by_slot_[i].get();
    if (seq == nullptr) continue;
    ++held;
    if (seq->slot != i)
      return "sequence of slot " + std::to_string(seq->slot) + " held at " + std::to_string(i);
    if (seq->backend_state == nullptr) continue;
    ++with_state;
    const auto& running = scheduler_.running();
    if (std::find(running.begin(), running.end(), seq) == running.end()) {
      return "request " + std::to_string(seq->request_id) +
             " holds backend state but is not running";
    }
  }
  if (held != held_) {
    return "held_ is " + std::to_string(held_) + ", by_slot_ holds " + std::to_string(held);
  }
  if (backend_->rows_in_use() != with_state) {
    return "the backend has " + std::to_string(backend_->rows_in_use()) + " rows in use, " +
           std::to_string(with_state) + " sequences hold one";
  }
  const auto in_by_slot = [&](const Sequence* seq) {
    return seq->slot < by_slot_.size() && by_slot_[seq->slot].get() == seq;
  };
  for (const Sequence* seq : scheduler_.running()) {
    if (!in_by_slot(seq)) return "the scheduler runs a sequence the daemon does not hold";
  }
  for (const Sequence* seq : scheduler_.waiting()) {
    if (!in_by_slot(seq)) return "the scheduler has a waiting sequence the daemon does not hold";
  }
  return {};
}

}  // namespace ringserve::daemon
