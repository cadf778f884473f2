#include "daemon/token_output.h"

#include <algorithm>
#include <cstring>

#include "shm/atomics.h"

namespace ringserve::daemon {

namespace {

// Calls put(entry) for each ring entry of one token: its text in pieces of at most
// shm::kTokenTextCapacity bytes, all but the last flagged continued.
template <typename Put>
void split_token(int32_t token_id, std::string_view text, uint64_t published_ns, Put&& put) {
  do {
    shm::TokenEntry e{};
    e.token_id = token_id;
    e.published_ns = published_ns;
    const size_t n = std::min<size_t>(text.size(), shm::kTokenTextCapacity);
    e.text_length = static_cast<uint16_t>(n);
    std::memcpy(e.text, text.data(), n);
    text.remove_prefix(n);
    e.flags = text.empty() ? 0 : shm::kTokenContinued;
    put(e);
  } while (!text.empty());
}

}  // namespace

void queue_token(Sequence& seq, int32_t token_id, std::string_view text) {
  split_token(token_id, text, 0, [&](const shm::TokenEntry& e) { seq.pending.push_back(e); });
}

void emit_token(Sequence& seq, int32_t token_id, std::string_view text, uint64_t now_ns) {
  // As many entries as split_token() makes: at least one, even for empty text.
  const auto entries = static_cast<int64_t>(
      std::max<size_t>(1, (text.size() + shm::kTokenTextCapacity - 1) / shm::kTokenTextCapacity));
  if (!seq.pending.empty() || seq.writer.free_entries() < entries) {
    queue_token(seq, token_id, text);
    return;
  }
  split_token(token_id, text, now_ns, [&](const shm::TokenEntry& e) { seq.writer.write(e); });
}

void queue_finish(Sequence& seq, shm::FinishReason reason, shm::RequestError error) {
  if (seq.finishing) return;
  seq.finishing = true;
  seq.finish_reason = reason;
  seq.error = error;
  shm::TokenEntry e{};
  e.token_id = -1;
  e.flags = shm::kTokenFinal;
  seq.pending.push_back(e);
}

void free_slot(const shm::SegmentView& view, Sequence& seq) {
  shm::SlotHeader* slot = view.slot(seq.slot);
  uint64_t expected = seq.state_word;
  shm::compare_exchange(slot->state_word, expected,
                        shm::with_state(seq.state_word, shm::SlotState::kFree));
}

namespace {

// Why the stream ended, for the client that reads the final entry.
void store_finish_fields(const shm::SegmentView& view, const Sequence& seq, uint64_t now_ns) {
  shm::SlotHeader* slot = view.slot(seq.slot);
  shm::store(slot->finish_reason, static_cast<uint32_t>(seq.finish_reason));
  shm::store(slot->error_code, static_cast<uint32_t>(seq.error));
  shm::store(slot->tokens_generated, seq.generated);
  shm::store(slot->finished_ns, now_ns);
  shm::store(slot->queue_position, 0u);
}

// Moves the slot to FINISHED. False if the slot is not ours.
bool set_finished(const shm::SegmentView& view, Sequence& seq) {
  shm::SlotHeader* slot = view.slot(seq.slot);
  uint64_t expected = seq.state_word;
  const uint64_t finished = shm::with_state(seq.state_word, shm::SlotState::kFinished);
  if (!shm::compare_exchange(slot->state_word, expected, finished, std::memory_order_seq_cst)) {
    return false;
  }
  seq.state_word = finished;
  return true;
}

}  // namespace

FlushResult flush(const shm::SegmentView& view, Sequence& seq, uint64_t now_ns, bool* wake) {
  *wake = false;
  if (seq.pending.empty()) {
    *wake = seq.writer.publish();  // what emit_token() wrote, if anything
    return FlushResult::kOpen;
  }
  const int64_t free_entries = seq.writer.free_entries();
  if (free_entries < 0) return FlushResult::kAbandoned;
  shm::SlotHeader* slot = view.slot(seq.slot);
  int64_t room = free_entries;
  bool final_written = false;
  while (room > 0 && !seq.pending.empty()) {
    shm::TokenEntry& e = seq.pending.front();
    if (e.flags & shm::kTokenFinal) {
      // The finish fields are stored before the final entry is published, so a client that
      // sees the final entry also sees why the stream ended.
      store_finish_fields(view, seq, now_ns);
      final_written = true;
    }
    e.published_ns = now_ns;
    seq.writer.write(e);
    seq.pending.pop_front();
    --room;
    if (final_written) break;
  }
  *wake = seq.writer.publish();
  if (final_written) {
    // FINISHED only after the last publish. A client that has let go of its stream frees the
    // slot the moment it sees FINISHED, and the slot's next owner resets the ring: a publish
    // after FINISHED could land in the next request's ring and hand it this one's tokens (the
    // soak test caught that, about once a minute).
    if (!set_finished(view, seq)) return FlushResult::kAbandoned;
    // Dekker pair with the client's release: we stored FINISHED (seq_cst), now look at its
    // flag; it stores its flag, then looks at the state. CAS: only one of us frees the slot.
    if (shm::load(slot->client_released, std::memory_order_seq_cst) != 0) free_slot(view, seq);
    return FlushResult::kDone;
  }
  if (seq.pending.empty()) return FlushResult::kOpen;
  // Ring full. A client that has let go will never read: stop writing for it.
  if (shm::load(slot->client_released, std::memory_order_seq_cst) != 0) {
    store_finish_fields(view, seq, now_ns);
    if (set_finished(view, seq)) free_slot(view, seq);
    return FlushResult::kDone;
  }
  return FlushResult::kBlocked;
}

}  // namespace ringserve::daemon
