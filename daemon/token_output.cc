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

void store_finish_fields(const shm::SegmentView& view, uint32_t slot_index,
                         shm::FinishReason reason, shm::RequestError error, std::string_view detail,
                         uint64_t now_ns, uint32_t generated) {
  shm::SlotHeader* slot = view.slot(slot_index);
  const auto detail_length =
      static_cast<uint32_t>(std::min<size_t>(detail.size(), view.shape().prompt_capacity));
  std::memcpy(view.prompt(slot_index), detail.data(), detail_length);
  shm::store(slot->detail_length, detail_length);
  shm::store(slot->finish_reason, static_cast<uint32_t>(reason));
  shm::store(slot->error_code, static_cast<uint32_t>(error));
  shm::store(slot->tokens_generated, generated);
  shm::store(slot->finished_ns, now_ns);
  shm::store(slot->queue_position, 0u);
}

void store_finish_fields(const shm::SegmentView& view, const Sequence& seq, uint64_t now_ns) {
  store_finish_fields(view, seq.slot, seq.finish_reason, seq.error, seq.detail, now_ns,
                      seq.generated);
}

FlushResult flush(const shm::SegmentView& view, Sequence& seq, uint64_t now_ns, bool* wake) {
  *wake = false;
  if (seq.pending.empty()) {
    *wake = seq.writer.publish();  // what emit_token() wrote, if anything
    return FlushResult::kOpen;
  }
  const int64_t free_entries = seq.writer.free_entries();
  if (free_entries < 0) return FlushResult::kCorrupt;
  int64_t room = free_entries;
  bool final_written = false;
  while (room > 0 && !seq.pending.empty()) {
    shm::TokenEntry& e = seq.pending.front();
    if (e.flags & shm::kTokenFinal) {
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
  // The caller moves the slot to FINISHED only after this last publish. A client that has let
  // go of its stream frees the slot the moment it sees FINISHED, and the slot's next owner
  // resets the ring: a publish after FINISHED could land in the next request's ring and hand
  // it this one's tokens (the soak test caught that, about once a minute).
  if (final_written) return FlushResult::kFinal;
  if (seq.pending.empty()) return FlushResult::kOpen;
  // Ring full. A client that has let go will never read: stop writing for it.
  if (shm::load(view.slot(seq.slot)->client_released, std::memory_order_seq_cst) != 0) {
    return FlushResult::kClientGone;
  }
  return FlushResult::kBlocked;
}

}  // namespace ringserve::daemon
