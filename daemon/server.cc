// The daemon loop. One iteration: heartbeat, intake, reap (every 100 ms), cancels and
// deadlines, admission, one backend step for every running sequence whose client keeps up,
// flush tokens into rings, counters. With nothing to do it sleeps on the doorbell futex.
// Here: the loop itself, start and stop, the idle wait, and the bookkeeping's self-check.
#include "daemon/server.h"

#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "daemon/process_memory.h"
#include "daemon/wake_notifier.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/membarrier.h"
#include "shm/process.h"

namespace ringserve::daemon {
namespace {

constexpr uint64_t kReapIntervalNs = 100'000'000;
// How often the loop asks the kernel about client deaths (ClientWatch::check).
constexpr uint64_t kDeathCheckNs = 5'000'000;
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

}  // namespace

Server::Server(const config::Config& config, std::unique_ptr<Backend> backend)
    : config_(config),
      backend_(std::move(backend)),
      scheduler_(config.scheduler.max_concurrent, config.scheduler.max_queue,
                 config.scheduler.aging_ms, config.scheduler.max_priority, config.scheduler.mode) {
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
  heartbeat_ = std::make_unique<Heartbeat>(&h->heartbeat_ns, &h->resident_bytes);
  requests_ =
      std::make_unique<shm::RequestRingConsumer>(view_.request_ring(), g.request_ring_capacity,
                                                 uint64_t{t.unpublished_timeout_ms} * 1'000'000);
  requests_->initialize();
  notifier_ = std::make_unique<WakeNotifier>();
  by_slot_.resize(shape.slot_count);
  submitted_word_.assign(shape.slot_count, 0);
  submitted_since_ns_.assign(shape.slot_count, 0);
  metrics_.attach(view_);
  const ModelDescription model = backend_->model();
  metrics_.publish_model(model);
  // Everything above becomes visible to a client that sees kReady (acquire).
  shm::store(h->state, static_cast<uint32_t>(shm::SegmentState::kReady), std::memory_order_seq_cst);
  spdlog::info(
      "ringserved '{}' ready: pid {}, {} slots x {} prompt bytes, token rings of {}, "
      "segment {} KiB, wait mode {}, backend {} ({} {}), scheduler {} ({} running, {} "
      "waiting), resident {}",
      config_.daemon.name, ::getpid(), shape.slot_count, shape.prompt_capacity,
      shape.token_ring_capacity, g.segment_bytes / 1024,
      config::to_string(config_.transport.wait_mode), backend_->name(), model.path, model.format,
      config::to_string(config_.scheduler.mode), config_.scheduler.max_concurrent,
      config_.scheduler.max_queue, format_mib(shm::load(h->resident_bytes)));
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
  metrics_.restart_iteration_clock();
  while (run_once()) {
  }
  // The bookkeeping every ending must have kept (slots, counters, and the backend's: KV cache
  // blocks all free or cached, no reference left): a broken one is a bug, said loudly at the
  // end of every run (the soak test fails on it).
  if (const std::string broken = check_invariants(); !broken.empty()) {
    spdlog::error("bookkeeping broken at stop: {}", broken);
  }
  const KvCacheStats kv = backend_->kv_cache();
  spdlog::info(
      "ringserved '{}' stopped: {} requests completed, {} tokens generated; KV cache {} blocks in "
      "use, {} cached, prompt tokens {} of which {} from the prefix cache, {} preemptions",
      config_.daemon.name, metrics_.stats().completed, metrics_.stats().tokens_generated,
      kv.blocks_in_use, kv.blocks_cached, kv.prompt_tokens, kv.prompt_tokens_cached,
      kv.preemptions);
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
  metrics_.publish_counters();  // the ends finish() counted, before flush_all shows them
  flush_all(stepped_ns);
  notifier_->flush();
  metrics_.publish_queue_positions(scheduler_, config_.scheduler.aging_ms != 0, now);
  metrics_.publish(static_cast<uint32_t>(scheduler_.running().size()),
                   static_cast<uint32_t>(scheduler_.waiting().size()), backend_->rows_in_use(),
                   held_);
  metrics_.publish_kv_cache(backend_->kv_cache());
  if (stopping_) {
    const bool idle = scheduler_.running().empty() && scheduler_.waiting().empty() && held_ == 0;
    if (idle) return false;
    if (now >= drain_deadline_ns_) {
      end_undrained();
      return false;
    }
  }
  if (stepped) metrics_.record_stepped_iteration(notifier_->thread_cpu_ns());
  // Sleep only when no running sequence can take a step: a flush that just emptied a paused
  // sequence's backlog makes it steppable again at once.
  if (!stepped) {
    if (!scheduler_.has_steppable() && may_sleep) {
      heartbeat_->enter_bounded_phase();
      idle_wait(now);
      heartbeat_->leave_bounded_phase();
    }
    metrics_.restart_iteration_clock();  // the wait is not work
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

void Server::end_undrained() {
  // Said to each client as `shutting down`, with what it made so far before it: its stream
  // ends the normal way instead of finding the daemon gone.
  const std::string why = "the daemon stopped: its drain (scheduler.drain_timeout_ms = " +
                          std::to_string(config_.scheduler.drain_timeout_ms) +
                          ") ran out before this request finished";
  const std::vector<Sequence*> running = scheduler_.running();  // finish() edits the original
  for (Sequence* seq : running) {
    finish(*seq, shm::FinishReason::kError, shm::RequestError::kShuttingDown, why);
  }
  spdlog::warn("drain ran out: {} running requests ended with 'shutting down'", running.size());
  metrics_.publish_counters();
  // One last try to publish the final entries; a client whose ring is full and who reads
  // nothing finds the daemon gone instead.
  flush_all(shm::monotonic_ns());
  notifier_->flush();
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
  uint64_t not_ended = 0;
  for (uint32_t i = 0; i < by_slot_.size(); ++i) {
    const Sequence* seq = by_slot_[i].get();
    if (seq == nullptr) continue;
    ++held;
    if (!seq->finishing) ++not_ended;
    if (seq->slot != i)
      return "sequence of slot " + std::to_string(seq->slot) + " held at " + std::to_string(i);
    if (!backend_->started(*seq)) continue;
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
  const shm::DaemonStats& stats = metrics_.stats();
  const uint64_t ended = stats.completed + stats.cancelled + stats.failed + stats.rejected;
  if (stats.received != ended + not_ended) {
    return "received " + std::to_string(stats.received) + " requests, counted " +
           std::to_string(ended) + " ends with " + std::to_string(not_ended) + " not ended";
  }
  if (backend_->rows_in_use() != with_state) {
    return "the backend has " + std::to_string(backend_->rows_in_use()) + " rows in use, " +
           std::to_string(with_state) + " sequences hold one";
  }
  if (std::string problem = backend_->check(); !problem.empty()) return problem;
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
