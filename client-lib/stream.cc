// Stream: reading one request's token ring.
//
// Waiting is shm::wait_until on the ring's head word, in slices of kLivenessCheckIntervalNs:
// between slices the stream checks that the daemon still lives, so a client never waits
// forever on a dead daemon. The end of the stream is an entry flagged kTokenFinal; the slot's
// finish_reason and error_code were stored before it was published.
#include <algorithm>

#include "client-lib/connection.h"
#include "shm/token_ring.h"

namespace ringserve {

Stream::Stream(std::shared_ptr<Connection> connection, uint32_t slot, uint64_t state_word)
    : connection_(std::move(connection)), slot_(slot), state_word_(state_word) {}

Stream::~Stream() {
  if (!released_) {
    if (!done_) cancel();
    release_slot();
  }
}

void Stream::cancel() {
  // May race with next() finishing on another thread; the token names this request's
  // generation, so even a late store cannot cancel whoever claims the slot next.
  shm::store(connection_->view.slot(slot_)->cancel_requested, shm::cancel_token(state_word_));
}

RequestInfo Stream::info() const {
  if (released_) return final_info_;
  const shm::SlotHeader* s = connection_->view.slot(slot_);
  RequestInfo info;
  info.request_id = shm::load(s->request_id);
  info.queue_position = shm::load(s->queue_position);
  info.wait_estimate_ms = info.queue_position != 0 ? shm::load(s->wait_estimate_ms) : 0;
  info.submit_ns = shm::load(s->submit_ns);
  info.received_ns = shm::load(s->received_ns);
  info.admitted_ns = shm::load(s->admitted_ns);
  info.first_token_ns = shm::load(s->first_token_ns);
  info.finished_ns = shm::load(s->finished_ns);
  return info;
}

// Gives the slot back. If the daemon has finished (state FINISHED with our generation), we
// free it; otherwise we set client_released and the daemon frees it when it finishes. Both
// sides store their flag/state seq_cst and then look at the other's, so at least one of them
// sees that the slot is done with; the FINISHED -> FREE CAS makes sure only one frees it.
void Stream::release_slot() {
  final_info_ = info();
  released_ = true;
  shm::SlotHeader* s = connection_->view.slot(slot_);
  shm::store(s->client_released, 1u, std::memory_order_seq_cst);
  uint64_t word = shm::load(s->state_word, std::memory_order_seq_cst);
  if (shm::word_generation(word) != shm::word_generation(state_word_) ||
      shm::word_state(word) != shm::SlotState::kFinished) {
    return;
  }
  shm::compare_exchange(s->state_word, word, shm::with_state(word, shm::SlotState::kFree));
}

Status Stream::finish() {
  done_ = true;
  const shm::SlotHeader* s = connection_->view.slot(slot_);
  const auto reason = static_cast<FinishReason>(std::min<uint32_t>(shm::load(s->finish_reason), 6));
  const auto error = static_cast<shm::RequestError>(shm::load(s->error_code));
  finish_reason_ = reason;
  release_slot();
  switch (reason) {
    case FinishReason::kStop:
    case FinishReason::kLength:
    case FinishReason::kCancelled:
      return {ErrorCode::kEndOfStream, to_string(reason)};
    case FinishReason::kTimeout:
      return {ErrorCode::kTimeout, "the request's queue or total deadline passed"};
    default: {
      const ErrorCode code = error_code_from_request_error(error);
      if (code == ErrorCode::kQueueFull) {
        return {code, "the waiting line of daemon '" + connection_->name + "' is full"};
      }
      if (code == ErrorCode::kOk) return {ErrorCode::kInternal, "request failed without a code"};
      return {code, "the daemon rejected the request"};
    }
  }
}

Status Stream::next(Token* token, std::chrono::nanoseconds timeout) {
  if (done_) return {ErrorCode::kEndOfStream, to_string(finish_reason_)};
  Connection& c = *connection_;
  shm::TokenRingHeader* ring_header = c.view.token_ring(slot_);
  const uint32_t capacity = c.view.shape().token_ring_capacity;
  const auto* entries = reinterpret_cast<const shm::TokenEntry*>(ring_header + 1);
  const uint64_t start = shm::monotonic_ns();
  const uint64_t deadline =
      timeout == kWaitForever ? shm::kNoDeadline
                              : shm::deadline_after(start, static_cast<uint64_t>(timeout.count()));
  token->text.clear();
  for (;;) {
    // Drain entries of one token (continued pieces are joined).
    while (shm::load(ring_header->head) != tail_) {
      const shm::TokenEntry& e = entries[tail_ & (capacity - 1)];
      const uint16_t flags = e.flags;
      if (flags & shm::kTokenFinal) {
        ++tail_;
        shm::store(ring_header->tail, tail_);
        return finish();
      }
      const uint32_t length = std::min<uint32_t>(e.text_length, shm::kTokenTextCapacity);
      token->text.append(e.text, length);
      token->id = e.token_id;
      token->published_ns = e.published_ns;
      ++tail_;
      shm::store(ring_header->tail, tail_);
      if (!(flags & shm::kTokenContinued)) return {};
    }
    const uint64_t now = shm::monotonic_ns();
    if (now >= deadline) {
      return {ErrorCode::kTimeout, "no token within the timeout"};
    }
    const uint64_t slice = std::min(deadline, now + kLivenessCheckIntervalNs);
    const auto ready = [&] { return shm::load(ring_header->head) != tail_; };
    if (shm::wait_until(ready, &ring_header->head, &ring_header->client_sleeping, c.wait_policy,
                        slice) == shm::WaitOutcome::kTimedOut &&
        !c.daemon_alive()) {
      if (ready()) continue;  // it published before dying
      done_ = true;
      finish_reason_ = FinishReason::kError;
      final_info_ = info();
      released_ = true;  // nobody is left to free it; the segment dies with the daemon
      return daemon_gone_status(c);
    }
  }
}

}  // namespace ringserve
