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
  kOpen,        // the stream goes on; the backlog is empty
  kBlocked,     // entries are left over: the ring is full, its client has not read yet
  kFinal,       // the final entry is published: the caller moves the slot to FINISHED
  kClientGone,  // the ring is full and the client has let go: it will never read again
  kCorrupt,     // the ring's tail is impossible (scribbled): nothing more can be written
};

// Writes pending entries into the ring and publishes them, and what emit_token() wrote.
// Before the final entry it stores the finish fields (finish_reason, error_code, the detail
// message) so that a client that sees the final entry also sees why. It never changes the
// slot's state word: the caller does (Server::retire, through shm/slot.h).
// Sets *wake when the client sleeps and needs a futex wake for what was published.
FlushResult flush(const shm::SegmentView& view, Sequence& seq, uint64_t now_ns, bool* wake);

// The finish fields of a request that ended, with its detail message (written at the start of
// the prompt area, which the daemon copied at intake and no longer needs).
void store_finish_fields(const shm::SegmentView& view, const Sequence& seq, uint64_t now_ns);
// The same for a slot the daemon holds no Sequence for (it lost the request).
void store_finish_fields(const shm::SegmentView& view, uint32_t slot_index,
                         shm::FinishReason reason, shm::RequestError error, std::string_view detail,
                         uint64_t now_ns, uint32_t generated = 0);

}  // namespace ringserve::daemon
