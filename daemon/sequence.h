// Sequence: the daemon's private record of one request, from the moment it is taken off the
// request ring until its slot is handed back. Everything the daemon decides on is read from
// here, never again from the segment: the prompt and parameters were copied and validated once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "shm/clock.h"
#include "shm/layout.h"
#include "shm/token_ring.h"

namespace ringserve::daemon {

// Whatever a backend keeps per sequence (its tokens, KV cache row, sampler, ...).
struct SequenceState {
  virtual ~SequenceState() = default;
};

// Entries produced for a sequence but not yet in its ring, oldest first. A vector read from a
// moving front: in the steady state every step adds an entry and the flush takes it, the
// backlog empties, and nothing is ever allocated again (a deque frees and allocates a block
// every few entries per sequence, measurable at hundreds of sequences).
class TokenBacklog {
 public:
  bool empty() const { return head_ == entries_.size(); }
  size_t size() const { return entries_.size() - head_; }
  shm::TokenEntry& front() { return entries_[head_]; }
  void push_back(const shm::TokenEntry& e) { entries_.push_back(e); }
  void pop_front() {
    if (++head_ == entries_.size()) {
      entries_.clear();  // keeps the capacity
      head_ = 0;
    }
  }

 private:
  // A paused sequence is left out of the batch until its backlog is empty, so it holds at
  // most a step's entries and the final one: no compaction needed.
  std::vector<shm::TokenEntry> entries_;
  size_t head_ = 0;
};

// Laid out for the loop's passes over hundreds of sequences: between two steps the client
// processes run on the daemon's cores and evict these objects, so every cache line a step
// touches per sequence is a miss, and the passes are bound by those misses. Everything a step
// reads or writes for a running sequence (the cancel/deadline check, the output pass, the
// flush) is in the first two lines (tests/daemon_intake_test.cc checks the offsets); the rest
// is read at intake, admission or the end.
struct alignas(64) Sequence {
  Sequence(uint32_t slot_index, shm::TokenRingWriter ring_writer)
      : slot(slot_index), writer(ring_writer) {}

  // Line 0.
  uint32_t slot;
  uint32_t generated = 0;   // tokens generated so far
  uint64_t state_word = 0;  // the slot's state word as we last stored it (CAS expectation)
  uint64_t received_ns = 0;
  uint64_t admitted_ns = 0;
  uint64_t last_token_ns = 0;  // for inter-token latency
  // From the request's timeouts at intake; shm::kNoDeadline when it set none.
  uint64_t queue_deadline_ns = shm::kNoDeadline;
  uint64_t total_deadline_ns = shm::kNoDeadline;
  // Set when the request has ended; the final entry is then queued in `pending`.
  bool finishing = false;
  // Line 1.
  shm::TokenRingWriter writer;
  TokenBacklog pending;  // produced but not yet in the ring (client slow)

  // Read at intake, admission, by the backend, or at the end.
  shm::FinishReason finish_reason = shm::FinishReason::kNone;
  shm::RequestError error = shm::RequestError::kNone;
  uint64_t request_id = 0;
  int32_t owner_pid = 0;
  uint64_t owner_start_time = 0;
  uint64_t first_token_ns = 0;
  shm::GenerationParams params{};

  std::string prompt;  // validated UTF-8 (raw prompt; empty when `chat` is used)
  // Chat messages, rendered by the backend's template (role: "system", "user", "assistant").
  std::vector<std::pair<std::string, std::string>> chat;
  std::vector<std::string> stop_strings;         // validated UTF-8, non-empty
  std::vector<int32_t> token_ids;                // a detokenize request's ids (each >= 0)
  std::unique_ptr<SequenceState> backend_state;  // null until started and after release
  // Why a failed request failed, in words (token counts, limits): given to the client with the
  // finish fields (SlotHeader::detail_length).
  std::string detail;
  uint64_t paused_since_ns = 0;     // its output has not fit in its ring since then; 0 = flowing
  size_t prompt_token_count = 0;    // set by the backend at start, for the log
  size_t prompt_cached_tokens = 0;  // of those, taken from the prefix cache at start

  bool running() const { return admitted_ns != 0; }
  // A tokenize or detokenize request: answered at intake, never queued or stepped.
  bool text_request() const { return (params.flags & shm::kTextRequestFlags) != 0; }
};
}  // namespace ringserve::daemon
