// Server, intake and admission: requests come off the request ring (or, lost by the ring, from
// the slot sweep) through take_request()'s checks into the daemon's table and the scheduler's
// waiting line; admission moves them into the running set (QUEUED -> RUNNING) and gives them
// to the backend. Every refusal on the way ends the request with a specific error.
#include <spdlog/spdlog.h>

#include "daemon/request_intake.h"
#include "daemon/server.h"
#include "shm/atomics.h"
#include "shm/slot.h"

namespace ringserve::daemon {

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
  metrics_.count_received();
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
  if (s.text_request()) {
    answer_text_request(s, now);
    return;
  }
  if (!scheduler_.enqueue(&s)) {
    finish(s, shm::FinishReason::kRejected, shm::RequestError::kQueueFull,
           "the waiting line is full: " + std::to_string(scheduler_.waiting().size()) +
               " requests wait (scheduler.max_queue " +
               std::to_string(config_.scheduler.max_queue) + ")");
  }
}

void Server::admit(uint64_t now) {
  const auto ready = [this](Sequence& seq) { return backend_->ready(seq); };
  for (Sequence* seq : scheduler_.admit(now, ready)) {
    if (!shm::slot::admit(view_.slot(seq->slot), &seq->state_word)) {
      // The client overwrote its own slot: it is no longer a request we can serve.
      spdlog::warn("request {}: slot {} no longer holds it at admission (client overwrote it)",
                   seq->request_id, seq->slot);
      retire(*seq, SlotHandback::kLeave, shm::FinishReason::kError,
             shm::RequestError::kProtocolViolation);
      continue;
    }
    seq->admitted_ns = now;
    metrics_.record_queue_wait(now - seq->received_ns);
    shm::store(view_.slot(seq->slot)->admitted_ns, now);
    shm::store(view_.slot(seq->slot)->queue_position, 0u);
    metrics_.count_admitted();
    std::string message;
    const shm::RequestError error = backend_->start(*seq, &message);
    if (error != shm::RequestError::kNone) {
      spdlog::info("request {} rejected by the {} backend: {}", seq->request_id, backend_->name(),
                   message);
      finish(*seq, shm::FinishReason::kError, error, message);
      continue;
    }
    shm::store(view_.slot(seq->slot)->prompt_tokens,
               static_cast<uint32_t>(seq->prompt_token_count));
    shm::store(view_.slot(seq->slot)->prompt_cached_tokens,
               static_cast<uint32_t>(seq->prompt_cached_tokens));
  }
}

}  // namespace ringserve::daemon
