// Token output: moving a sequence's tokens and its end into its token ring.
//
// A step's token goes straight into the ring, unpublished, when the ring has room and nothing
// is queued before it; otherwise it is queued on the Sequence (`pending`) and flushed into the
// ring as far as the ring has room. flush() publishes both. A client that reads slowly
// therefore never blocks the daemon: its sequence keeps its tokens and sits out of the batch
// until the client catches up.
#pragma once

#include <cstdint>
#include <string_view>

#include "daemon/sequence.h"
#include "shm/segment.h"

namespace ringserve::daemon {

// Queues one token, split into ring entries of at most shm::kTokenTextCapacity bytes.
void queue_token(Sequence& seq, int32_t token_id, std::string_view text);

// The step's way to hand over a token: straight into the ring, unpublished, when nothing is
// queued before it and the ring has room (the common case: no copy through the backlog, one
// cache line fewer per sequence and step); otherwise queue_token(). flush() publishes either.
void emit_token(Sequence& seq, int32_t token_id, std::string_view text, uint64_t now_ns);

// Marks the sequence finished and queues its final entry (after any tokens still pending).
void queue_finish(Sequence& seq, shm::FinishReason reason, shm::RequestError error);

enum class FlushResult {
  kOpen,       // the stream goes on (pending may or may not be empty)
  kBlocked,    // the ring is full: the client has not read yet
  kDone,       // the final entry is published (or the client is gone): drop the sequence
  kAbandoned,  // the slot is no longer ours or its ring is corrupt: drop without touching it
};

// Writes pending entries into the ring; publishing the final entry also stores the finish
// fields and moves the slot to FINISHED (and to FREE when the client has already let go).
// Sets *wake when the client sleeps and needs a futex wake for what was published.
FlushResult flush(const shm::SegmentView& view, Sequence& seq, uint64_t now_ns, bool* wake);

// Hands the slot back without a final entry: the client released it (or died) before the
// stream could end normally. CAS, so a slot that is no longer ours is left alone.
void free_slot(const shm::SegmentView& view, Sequence& seq);

}  // namespace ringserve::daemon
