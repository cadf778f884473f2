// Stream: reading one request's token ring.
//
// Waiting is shm::wait_until on the ring's head word, in slices of kLivenessCheckIntervalNs.
// Between slices the stream looks at what could keep the next entry from ever coming: the
// daemon's death (kDaemonGone), its slot no longer carrying this request (kProtocolError), the
// daemon having finished the request without a final entry (it does when it cannot write one:
// the ring's tail was corrupt, or it reclaimed a slot it held no request for), a heartbeat
// older than daemon_timeout (kDaemonNotResponding; the stream goes on), and the request's own
// total deadline, which holds even when the daemon does not run. The end of the stream is
// otherwise an entry flagged kTokenFinal; the slot's finish fields (finish_reason, error_code
// and the detail message) were stored before it was published.
#include <algorithm>
#include <cstdio>

#include "client-lib/connection.h"
#include "shm/request_check.h"
#include "shm/slot.h"
#include "shm/token_ring.h"

namespace ringserve {

Stream::Stream(std::shared_ptr<Connection> connection, uint32_t slot, uint64_t state_word,
               std::unique_ptr<StreamReader> reader, uint64_t deadline_ns)
    : connection_(std::move(connection)),
      slot_(slot),
      state_word_(state_word),
      reader_(std::move(reader)),
      deadline_ns_(deadline_ns) {}

Stream::~Stream() {
  if (!released_) {
    if (!done_) cancel();
    release_slot();
  }
}

void Stream::cancel() {
  // May race with next() finishing on another thread; the token names this request's
  // generation, so even a late store (after the slot was freed, or taken away from us) cannot
  // cancel whoever claims the slot next.
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
  if (info.admitted_ns != 0) {
    info.prompt_tokens = shm::load(s->prompt_tokens);
    info.prompt_cached_tokens = shm::load(s->prompt_cached_tokens);
  }
  return info;
}

// Gives the slot back (shm::slot::release: frees it if the daemon has finished, else leaves
// client_released for the daemon to free it when it does).
void Stream::release_slot() {
  final_info_ = info();
  released_ = true;
  shm::slot::release(connection_->view.slot(slot_), state_word_);
}

// Ends the stream without a final entry: `release` gives the slot back; without it the slot
// is left alone (it is no longer ours, or nobody is left to free it).
Status Stream::end_here(FinishReason reason, Status status, bool release) {
  done_ = true;
  finish_reason_ = reason;
  if (release) {
    release_slot();
  } else {
    final_info_ = info();
    released_ = true;
  }
  return status;
}

Status Stream::finish() {
  done_ = true;
  const Connection& c = *connection_;
  const shm::SlotHeader* s = c.view.slot(slot_);
  const auto reason = static_cast<FinishReason>(std::min<uint32_t>(shm::load(s->finish_reason), 6));
  const auto error = static_cast<shm::RequestError>(shm::load(s->error_code));
  finish_reason_ = reason;
  // The daemon's words on why the request failed, at the start of the prompt area. Copied
  // before the slot is released (its next owner overwrites the area), and clamped to the
  // area connect checked: the length is the daemon's, but the memory is ours to bound.
  std::string detail;
  if (reason != FinishReason::kStop && reason != FinishReason::kLength &&
      reason != FinishReason::kCancelled) {
    const uint32_t length = std::min(shm::load(s->detail_length), c.view.shape().prompt_capacity);
    detail.assign(c.view.prompt(slot_), length);
    if (!shm::is_valid_utf8(detail)) detail.clear();  // a message, or none
  }
  release_slot();
  switch (reason) {
    case FinishReason::kStop:
    case FinishReason::kLength:
    case FinishReason::kCancelled:
      return {ErrorCode::kEndOfStream, to_string(reason)};
    case FinishReason::kTimeout:
      return {ErrorCode::kTimeout,
              detail.empty() ? "the request's queue or total deadline passed" : detail};
    default: {
      const ErrorCode code = error_code_from_request_error(error);
      if (!detail.empty()) return {code == ErrorCode::kOk ? ErrorCode::kInternal : code, detail};
      if (code == ErrorCode::kQueueFull) {
        return {code, "the waiting line of daemon '" + c.name + "' is full"};
      }
      if (code == ErrorCode::kOk) return {ErrorCode::kInternal, "request failed without a code"};
      return {code, "the daemon rejected the request"};
    }
  }
}

// After a wait slice without an entry: whether the request can still end the normal way.
// OK: go on waiting. *finished: the daemon finished the request without a final entry; the
// caller ends it as if it had read one. Any other status ends next() (done() says whether the
// stream ended too).
Status Stream::check_while_waiting(bool* finished) {
  *finished = false;
  Connection& c = *connection_;
  if (!c.daemon_alive()) {
    if (reader_->ring.available() > 0) return {};  // it published before dying
    // Nobody is left to free the slot; the segment dies with the daemon.
    return end_here(FinishReason::kError, daemon_gone_status(c), /*release=*/false);
  }
  // The slot first, then the ring: the daemon publishes its last entry before it stores
  // FINISHED, so once we have seen FINISHED an empty ring stays empty.
  const uint64_t word = shm::load(c.view.slot(slot_)->state_word);
  const shm::SlotState state = shm::word_state(word);
  const bool ours = shm::word_generation(word) == shm::word_generation(state_word_) &&
                    shm::word_pid(word) == shm::word_pid(state_word_) &&
                    (state == shm::SlotState::kSubmitted || state == shm::SlotState::kQueued ||
                     state == shm::SlotState::kRunning || state == shm::SlotState::kFinished);
  if (!ours) {
    return end_here(FinishReason::kError,
                    {ErrorCode::kProtocolError,
                     "request slot " + std::to_string(slot_) + " was taken away from this stream"},
                    /*release=*/false);
  }
  if (reader_->ring.available() > 0) return {};
  if (state == shm::SlotState::kFinished) {
    *finished = true;
    return {};
  }
  const uint64_t now = shm::monotonic_ns();
  if (now >= deadline_ns_) {
    cancel();  // for the daemon, when it runs again; it frees the slot then
    char late[96];
    std::snprintf(late, sizeof late, "the request's total_timeout_ms passed %.1f s ago",
                  static_cast<double>(now - deadline_ns_ + kDeadlineGraceNs) / 1e9);
    Status why = c.check_responding();
    std::string message = late;
    message += why.ok() ? " without the daemon ending it" : " (" + why.message() + ")";
    return end_here(FinishReason::kTimeout, {ErrorCode::kTimeout, message}, /*release=*/true);
  }
  return c.check_responding();
}

Status Stream::next(Token* token, std::chrono::nanoseconds timeout) {
  if (done_) return {ErrorCode::kEndOfStream, to_string(finish_reason_)};
  Connection& c = *connection_;
  shm::TokenRingReader& ring = reader_->ring;
  const uint64_t start = shm::monotonic_ns();
  const uint64_t deadline =
      timeout == kWaitForever ? shm::kNoDeadline
                              : shm::deadline_after(start, static_cast<uint64_t>(timeout.count()));
  for (;;) {
    // Drain the entries of one token (continued pieces are joined; a piece whose rest is not
    // published yet waits in reader_->partial, so a timeout in between loses nothing).
    bool popped = false;
    bool final_entry = false;
    bool whole_token = false;
    // A head more than a ring ahead of our tail, or a token that never ends, is no daemon's
    // doing (a client with access scribbled on our ring): reading on would copy garbage for up
    // to 2^32 entries.
    if (ring.available() > c.view.shape().token_ring_capacity ||
        reader_->partial.size() > kMaxTokenTextBytes) {
      return end_here(FinishReason::kError,
                      {ErrorCode::kProtocolError, "token ring " + std::to_string(slot_) +
                                                      " holds values no daemon writes (scribbled)"},
                      /*release=*/true);
    }
    while (!final_entry && !whole_token && ring.available() > 0) {
      // Read in place, each field once (the entry is in shared memory).
      const shm::TokenEntry& e = ring.front();
      const uint16_t flags = e.flags;
      popped = true;
      if (flags & shm::kTokenFinal) {
        final_entry = true;
      } else {
        const uint32_t length = std::min<uint32_t>(e.text_length, shm::kTokenTextCapacity);
        whole_token = (flags & shm::kTokenContinued) == 0;
        if (whole_token && reader_->partial.empty()) {
          token->text.assign(e.text, length);  // the common case: one entry, no copy between
        } else {
          reader_->partial.append(e.text, length);
          if (whole_token) {
            token->text.swap(reader_->partial);
            reader_->partial.clear();
          }
        }
        token->id = e.token_id;
        token->published_ns = e.published_ns;
      }
      ring.advance();
    }
    // The daemon, holding output that did not fit, sleeps until the room we just made is
    // announced.
    if (popped && ring.daemon_wants_room()) c.ring_doorbell();
    if (final_entry) return finish();
    if (whole_token) return {};
    const uint64_t now = shm::monotonic_ns();
    if (now < deadline) {
      const uint64_t slice = std::min({deadline, deadline_ns_, now + kLivenessCheckIntervalNs});
      const auto ready = [&] { return ring.available() > 0; };
      if (shm::wait_until(ready, ring.futex_word(), ring.sleeping_flag(), c.wait_policy, slice) ==
          shm::WaitOutcome::kReady) {
        continue;
      }
    }
    // A slice passed without an entry (or the caller does not wait: a poll checks too, once
    // per slice).
    const uint64_t checked = shm::monotonic_ns();
    if (checked >= reader_->next_check_ns || checked >= deadline_ns_) {
      reader_->next_check_ns = checked + kLivenessCheckIntervalNs;
      bool finished = false;
      Status s = check_while_waiting(&finished);
      if (finished) return finish();
      if (!s.ok()) return s;
    }
    if (ring.available() == 0 && shm::monotonic_ns() >= deadline) {
      return {ErrorCode::kTimeout, "no token within the timeout"};
    }
  }
}

}  // namespace ringserve
