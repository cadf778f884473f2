// The request slot's state machine: every transition of SlotHeader::state_word, as one named
// function each, used by the client library and the daemon alike. layout.h defines the word
// (generation | state | owner pid); docs/PROTOCOL.md draws the diagram.
//
//   FREE -> CLAIMED             claim()            client
//   (CLAIMED, unchanged)        fill()             client: writes the request into the slot
//   CLAIMED -> SUBMITTED        submit()           client, after filling the slot
//   SUBMITTED -> QUEUED         take()             daemon, taking the request off the ring
//   QUEUED -> RUNNING           admit()            daemon
//   QUEUED|RUNNING -> FINISHED  finish()           daemon, after the last publish
//   FINISHED -> FREE            release()          client, when done reading (or letting go),
//                               free_if_released() daemon, when the client let go first
//   any -> FREE                 reclaim()          daemon: owner dead, or a slot no one holds
//
// Every transition is a compare-and-swap from the exact word the caller last saw, and every
// claim bumps the 24-bit generation, so a transition computed for one request can never land
// on the slot's next request (ABA). No transition trusts the slot's other fields.
//
// Thread-safety: the transitions may be called from any process at any time; the CAS decides.
// fill() is for the claimer alone, while the slot is CLAIMED.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/layout.h"

namespace ringserve::shm::slot {

// Client: takes a FREE slot, stamping `pid` and a new generation. On success *word is the
// CLAIMED word. Acquire on success: the previous owner's and the daemon's writes to the slot
// happen before ours.
inline bool claim(SlotHeader* s, int32_t pid, uint64_t* word) {
  uint64_t seen = load(s->state_word);
  if (word_state(seen) != SlotState::kFree) return false;
  const uint64_t claimed = make_state_word(word_generation(seen) + 1, SlotState::kClaimed, pid);
  if (!compare_exchange(s->state_word, seen, claimed)) return false;
  *word = claimed;
  return true;
}

// What a client writes into a slot it claimed (fill()).
struct Request {
  uint64_t owner_start_time = 0;  // the claimer's start time (its pid is in the state word)
  GenerationParams params{};
  std::string_view payload;    // the prompt (or chat messages), then the stop strings
  uint32_t prompt_length = 0;  // payload bytes before the stop strings
};

// Client, between claim() and submit(): writes `request` into the slot and its prompt area
// (`prompt_area`, which the caller has checked holds request.payload), and zeroes every field
// the daemon reports into, so that nothing of the slot's previous request shows through. Not a
// transition: plain stores, made visible to the daemon by submit()'s release. The cancel and
// release flags are stored atomically, as every access to them is. Last, it stamps submit_ns
// (CLOCK_MONOTONIC, read back in FinishInfo: the latency benchmark's submit time starts there,
// after the copy of the prompt) and returns that stamp.
inline uint64_t fill(SlotHeader* s, char* prompt_area, const Request& request) {
  s->owner_start_time = request.owner_start_time;
  store(s->cancel_requested, 0u);
  store(s->client_released, 0u);
  s->request_id = 0;
  s->finish_reason = 0;
  s->error_code = 0;
  s->detail_length = 0;
  s->queue_position = 0;
  s->wait_estimate_ms = 0;
  s->tokens_generated = 0;
  s->received_ns = s->admitted_ns = s->first_token_ns = s->finished_ns = 0;
  s->prompt_tokens = s->prompt_cached_tokens = 0;
  s->params = request.params;
  s->prompt_length = request.prompt_length;
  s->stop_strings_length = static_cast<uint32_t>(request.payload.size()) - request.prompt_length;
  std::memcpy(prompt_area, request.payload.data(), request.payload.size());
  s->submit_ns = monotonic_ns();
  return s->submit_ns;
}

// Client: publishes the filled slot. Release: the prompt, parameters and ring reset are
// visible to whoever sees SUBMITTED. False if the slot was taken from us meanwhile.
inline bool submit(SlotHeader* s, uint64_t claimed, uint64_t* submitted) {
  const uint64_t next = with_state(claimed, SlotState::kSubmitted);
  uint64_t expected = claimed;
  if (!compare_exchange(s->state_word, expected, next)) return false;
  *submitted = next;
  return true;
}

// Daemon: takes a SUBMITTED slot for itself (whatever is popped from the ring is untrusted:
// only a slot that really is SUBMITTED is taken). Acquire pairs with submit()'s release.
inline bool take(SlotHeader* s, uint64_t* word) {
  uint64_t seen = load(s->state_word);
  if (word_state(seen) != SlotState::kSubmitted) return false;
  const uint64_t queued = with_state(seen, SlotState::kQueued);
  if (!compare_exchange(s->state_word, seen, queued)) return false;
  *word = queued;
  return true;
}

// Daemon: QUEUED -> RUNNING. False when the client overwrote its own state word.
inline bool admit(SlotHeader* s, uint64_t* word) {
  uint64_t expected = *word;
  const uint64_t running = with_state(*word, SlotState::kRunning);
  if (!compare_exchange(s->state_word, expected, running)) return false;
  *word = running;
  return true;
}

// Daemon: the request has ended and its last entry (if any) is published. seq_cst: one half of
// the Dekker pair with release(); the caller then calls free_if_released(). The finish fields
// (finish_reason, error_code, detail) are stored before, so a client that sees FINISHED also
// sees why.
inline bool finish(SlotHeader* s, uint64_t* word) {
  uint64_t expected = *word;
  const uint64_t finished = with_state(*word, SlotState::kFinished);
  if (!compare_exchange(s->state_word, expected, finished, std::memory_order_seq_cst)) {
    return false;
  }
  *word = finished;
  return true;
}

// Daemon, right after finish(): frees the slot if its client has already let go (it will not
// come back to free it). The other half of release()'s Dekker pair: we stored FINISHED
// (seq_cst) and now load the flag; the client stores the flag (seq_cst) and then loads the
// state. At least one of us sees the other's store; the CAS makes sure only one frees it.
inline bool free_if_released(SlotHeader* s, uint64_t finished) {
  if (load(s->client_released, std::memory_order_seq_cst) == 0) return false;
  uint64_t expected = finished;
  return compare_exchange(s->state_word, expected, with_state(finished, SlotState::kFree));
}

// Client: done with the request `submitted` (read its final entry, or stopped reading). Frees
// the slot if the daemon has finished it; otherwise the daemon frees it when it does. Returns
// true if this call freed the slot.
inline bool release(SlotHeader* s, uint64_t submitted) {
  store(s->client_released, 1u, std::memory_order_seq_cst);
  uint64_t seen = load(s->state_word, std::memory_order_seq_cst);
  if (word_generation(seen) != word_generation(submitted) ||
      word_state(seen) != SlotState::kFinished) {
    return false;
  }
  return compare_exchange(s->state_word, seen, with_state(seen, SlotState::kFree));
}

// Daemon: frees a slot whatever its state, if its word is still `seen`: the owner is dead, or
// the slot is QUEUED/RUNNING/SUBMITTED without the daemon holding its request.
inline bool reclaim(SlotHeader* s, uint64_t seen) {
  return compare_exchange(s->state_word, seen, with_state(seen, SlotState::kFree));
}

}  // namespace ringserve::shm::slot
