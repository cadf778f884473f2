// Request intake: the daemon's validation path for what a client put in the segment.
// A slot index popped from the request ring is untrusted, and so is everything in the slot.
// take_request checks the index and the slot's state, takes the slot (SUBMITTED -> QUEUED by
// CAS), copies prompt and parameters into a private Sequence, and validates the copy. It never
// reads outside the segment, whatever the bytes: this is the function the fuzzer drives.
#pragma once

#include <cstdint>
#include <memory>

#include "daemon/sequence.h"
#include "shm/request_check.h"
#include "shm/segment.h"

namespace ringserve::daemon {

enum class IntakeOutcome {
  kAccepted,  // *out is a valid request in state QUEUED
  kRejected,  // *out exists (slot taken) but the request is invalid: *check says why
  kIgnored,   // the value does not name a slot in SUBMITTED state: nothing to do
};

// What the daemon's configuration allows a request.
struct IntakeLimits {
  uint32_t max_tokens = 0;    // scheduler.max_tokens_limit
  uint32_t max_priority = 0;  // scheduler.max_priority: priority in [-max, max]
};

IntakeOutcome take_request(const shm::SegmentView& view, uint32_t slot_index,
                           const IntakeLimits& limits, uint64_t now_ns,
                           std::unique_ptr<Sequence>* out, shm::RequestCheck* check);

}  // namespace ringserve::daemon
