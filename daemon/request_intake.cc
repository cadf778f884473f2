#include "daemon/request_intake.h"

#include <algorithm>
#include <cstring>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/slot.h"

namespace ringserve::daemon {

IntakeOutcome take_request(const shm::SegmentView& view, uint32_t slot_index,
                           const IntakeLimits& limits, uint64_t now_ns,
                           std::unique_ptr<Sequence>* out, shm::RequestCheck* check) {
  const shm::SegmentShape& shape = view.shape();
  if (slot_index >= shape.slot_count) return IntakeOutcome::kIgnored;
  shm::SlotHeader* slot = view.slot(slot_index);
  uint64_t queued = 0;
  if (!shm::slot::take(slot, &queued)) return IntakeOutcome::kIgnored;

  auto seq = std::make_unique<Sequence>(
      slot_index, shm::TokenRingWriter(view.token_ring(slot_index), shape.token_ring_capacity));
  seq->state_word = queued;
  seq->owner_pid = shm::word_pid(queued);
  seq->received_ns = now_ns;
  // One snapshot of every client-written field; later scribbles cannot change our copy.
  shm::SlotHeader snapshot;
  std::memcpy(&snapshot, slot, sizeof(snapshot));
  seq->owner_start_time = snapshot.owner_start_time;
  seq->params = snapshot.params;
  const auto deadline = [&](uint32_t timeout_ms) {
    return timeout_ms == 0 ? shm::kNoDeadline
                           : shm::deadline_after(now_ns, uint64_t{timeout_ms} * 1'000'000);
  };
  seq->queue_deadline_ns = deadline(snapshot.params.queue_timeout_ms);
  seq->total_deadline_ns = deadline(snapshot.params.total_timeout_ms);
  seq->writer.begin();

  *check = {};
  // One copy of the used part of the prompt area too: the client may scribble on it while
  // we parse.
  const uint64_t used = uint64_t{snapshot.prompt_length} + snapshot.stop_strings_length;
  const std::string area(view.prompt(slot_index), std::min<uint64_t>(used, shape.prompt_capacity));
  shm::RequestPayload payload;
  if (used > shape.prompt_capacity) {
    *check = {shm::RequestError::kPromptTooLong,
              "prompt_length " + std::to_string(snapshot.prompt_length) +
                  " + stop_strings_length " + std::to_string(snapshot.stop_strings_length) +
                  " exceeds the slot's " + std::to_string(shape.prompt_capacity) + " bytes"};
  } else {
    *check = shm::parse_request_payload(area, snapshot.prompt_length, snapshot.stop_strings_length,
                                        snapshot.params.flags, &payload);
  }
  if (check->ok()) *check = shm::check_params(seq->params, limits.max_tokens);
  if (check->ok()) {
    const int64_t priority = seq->params.priority;
    const int64_t max = limits.max_priority;
    if (priority < -max || priority > max) {
      *check = {shm::RequestError::kInvalidParams,
                "priority " + std::to_string(priority) + " is outside " + std::to_string(-max) +
                    ".." + std::to_string(max) + " (the daemon's scheduler.max_priority)"};
    }
  }
  if (check->ok()) {
    seq->prompt = std::move(payload.prompt);
    seq->chat = std::move(payload.chat);
    seq->stop_strings = std::move(payload.stop_strings);
    seq->token_ids = std::move(payload.token_ids);
  }
  if (check->ok() && seq->writer.free_entries() < 0) {
    *check = {shm::RequestError::kProtocolViolation, "token ring counters are corrupt"};
  }
  *out = std::move(seq);
  return check->ok() ? IntakeOutcome::kAccepted : IntakeOutcome::kRejected;
}

}  // namespace ringserve::daemon
