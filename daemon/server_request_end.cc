// Server, how a request ends: the checks that end one from outside the step (cancels,
// deadlines, a client that stopped reading), finish() that takes it out of the scheduler and
// the backend and queues its final entry, and retire(), the one way out: every end, whatever
// ended it, hands the slot back, counts the end and frees the Sequence there.
#include <spdlog/spdlog.h>

#include "daemon/server.h"
#include "daemon/token_output.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/slot.h"

namespace ringserve::daemon {
namespace {

double ms_between(uint64_t from, uint64_t to) {
  return from == 0 || to < from ? 0.0 : static_cast<double>(to - from) / 1e6;
}

}  // namespace

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

void Server::finish(Sequence& seq, shm::FinishReason reason, shm::RequestError error,
                    std::string detail) {
  if (seq.finishing) return;
  const uint64_t now = shm::monotonic_ns();
  // Tokenize and detokenize answers are not generations: their microseconds would only dilute
  // the end-to-end latencies of those. They are counted (received, completed or failed).
  if (!seq.text_request()) {
    metrics_.record_end_to_end(now > seq.received_ns ? now - seq.received_ns : 0);
  }
  scheduler_.remove(&seq);
  if (seq.running()) {
    // Prompt chunks that started after admission may have found more of it in the cache.
    shm::store(view_.slot(seq.slot)->prompt_cached_tokens,
               static_cast<uint32_t>(seq.prompt_cached_tokens));
  }
  backend_->release(seq);  // nothing to release for a request that never started
  seq.detail = std::move(detail);
  if (seq.running()) metrics_.running_request_left(now);
  queue_finish(seq, reason, error);
  metrics_.count_end(reason);
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
  if (seq.text_request()) {
    spdlog::info("request {}: {} of {} tokens in {:.3f} ms, finish {}", seq.request_id,
                 (seq.params.flags & shm::kRequestTokenize) != 0 ? "tokenize" : "detokenize",
                 seq.prompt_token_count, ms_between(seq.received_ns, now),
                 shm::finish_reason_name(seq.finish_reason));
  } else {
    spdlog::info(
        "request {}: prompt {} tokens ({} from the prefix cache), generated {}, queue wait {:.3f} "
        "ms, ttft {:.3f} ms, total {:.3f} ms, finish {}",
        seq.request_id, seq.prompt_token_count, seq.prompt_cached_tokens, seq.generated,
        ms_between(seq.received_ns, seq.admitted_ns),
        ms_between(seq.received_ns, seq.first_token_ns), ms_between(seq.received_ns, now),
        shm::finish_reason_name(seq.finish_reason));
  }
  client_watch_.unwatch({seq.owner_pid, seq.owner_start_time});
  --held_;
  by_slot_[seq.slot].reset();
}

}  // namespace ringserve::daemon
