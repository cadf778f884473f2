// TokenRing: the single-producer (daemon) / single-consumer (slot owner) ring that carries a
// request's generated tokens back to its client.
//
// head and tail are free-running uint32 counters; entries = head - tail (mod 2^32). The daemon
// never trusts the shared tail: it keeps its own head and treats head - tail > capacity as a
// protocol violation. head doubles as the futex word the client sleeps on (shm/wait.h), so a
// publish that the client has not seen yet always makes its futex wait return at once.
//
// Memory order: the producer writes the entry, then stores head with release; the consumer
// loads head with acquire before reading entries, and stores tail with release after it has
// copied them out, which hands those cells back to the producer.
#pragma once

#include <cstdint>
#include <cstring>

#include "shm/atomics.h"
#include "shm/layout.h"
#include "shm/membarrier.h"
#include "shm/prefetch.h"

namespace ringserve::shm {

class TokenRingWriter {
 public:
  TokenRingWriter(TokenRingHeader* header, uint32_t capacity)
      : header_(header), entries_(reinterpret_cast<TokenEntry*>(header + 1)), capacity_(capacity) {}

  // Starts a new stream. The client reset head and tail when it claimed the slot; the writer's
  // private head starts at the shared value it finds then.
  void begin() { head_ = load(header_->head); }

  // Free entries, not counting those written but not yet published; -1 when the shared tail
  // is impossible (a client scribbled on it).
  int64_t free_entries() const {
    const uint32_t used = head_ - load(header_->tail);
    if (used > capacity_) return -1;
    return int64_t{capacity_} - used - pending_;
  }

  // Entries written since the last publish.
  uint32_t unpublished() const { return pending_; }

  // Writes one entry without publishing it. Caller checked free_entries().
  void write(const TokenEntry& entry) {
    std::memcpy(&entries_[(head_ + pending_) & (capacity_ - 1)], &entry, sizeof(TokenEntry));
    ++pending_;
  }

  // Publishes everything written since the last publish. Returns true when the client may be
  // asleep and needs a futex wake (the caller makes the system call, so it can batch them).
  bool publish() {
    if (pending_ == 0) return false;
    head_ += pending_;
    pending_ = 0;
    store(header_->head, head_, std::memory_order_seq_cst);
    // Dekker pair with the reader: it stores client_sleeping then loads head; we store head
    // then read client_sleeping. Sequential consistency makes at least one side see the other.
    // Only the reader clears its flag. A writer that cleared it (to save repeated wakes) could
    // do so for a publish the reader had already seen just before it slept; the reader would
    // then sleep unflagged and miss every later publish. A wake with no one waiting costs a
    // system call but no interrupt.
    return load(header_->client_sleeping, std::memory_order_seq_cst) != 0;
  }

  uint32_t* futex_word() { return &header_->head; }

  // The daemon holds output that does not fit: asks the client to ring the doorbell when it
  // makes room. Dekker pair with TokenRingReader::daemon_wants_room(): we store the flag, then
  // (after shm::heavy_fence(), once for all rings) load the tail with has_room(); the client
  // stores the tail, then (after shm::light_fence()) loads the flag. At least one of us sees
  // the other, so a client that makes room never leaves the daemon asleep.
  void request_room() { store(header_->daemon_waiting_room, 1u, std::memory_order_seq_cst); }
  // True when `needed` more entries fit now (or the tail is impossible: the caller's flush
  // then says so).
  bool has_room(uint32_t needed) const {
    const int64_t free = free_entries();
    return free < 0 || free >= int64_t{needed};
  }
  // The output fits again (or the stream ended): no doorbell wanted.
  void clear_room_request() {
    if (load(header_->daemon_waiting_room, std::memory_order_relaxed) != 0) {
      store(header_->daemon_waiting_room, 0u, std::memory_order_relaxed);
    }
  }

  // Asks for the cache lines the next write and publish touch (the head, the client's tail and
  // sleeping flag, the next entry) without waiting for them: a loop over many rings issues
  // these first so that its misses overlap instead of coming one after another.
  void prefetch() const {
    prefetch_write(&header_->head);
    prefetch_read(&header_->tail);
    prefetch_write(&entries_[(head_ + pending_) & (capacity_ - 1)]);
  }

 private:
  TokenRingHeader* header_;
  TokenEntry* entries_;
  uint32_t capacity_;
  uint32_t head_ = 0;
  uint32_t pending_ = 0;
};

class TokenRingReader {
 public:
  TokenRingReader(TokenRingHeader* header, uint32_t capacity)
      : header_(header), entries_(reinterpret_cast<TokenEntry*>(header + 1)), capacity_(capacity) {}

  // Client, on claiming the slot, before submitting: nobody else touches the ring then.
  void reset() {
    store(header_->head, 0u);
    store(header_->tail, 0u);
    store(header_->client_sleeping, 0u);
    store(header_->daemon_waiting_room, 0u);
    tail_ = 0;
  }

  // Number of published entries not yet consumed.
  uint32_t available() const { return load(header_->head) - tail_; }

  // The next entry, in place (a writer with access may change it under the caller: read each
  // field once, and bound lengths before use). Caller checked available() > 0.
  const TokenEntry& front() const { return entries_[tail_ & (capacity_ - 1)]; }
  // Hands front()'s cell back to the daemon.
  void advance() {
    ++tail_;
    store(header_->tail, tail_);
  }
  // Copies the next entry out and hands its cell back. Caller checked available() > 0.
  void pop(TokenEntry* out) {
    std::memcpy(out, &front(), sizeof(TokenEntry));
    advance();
  }

  // After pop(): true when the daemon was waiting for the room just made
  // (TokenRingWriter::request_room); the caller then rings the daemon's doorbell. The light
  // fence orders pop()'s tail store before the flag load against the daemon's heavy fence (the
  // Dekker pair's other half; shm/membarrier.h), so the common case costs one load of a line
  // the reader reads anyway (the flag sits beside head). The process must have called
  // shm::register_for_heavy_fence() (the client library does at connect).
  bool daemon_wants_room() {
    light_fence();
    if (load(header_->daemon_waiting_room, std::memory_order_relaxed) == 0) return false;
    return exchange(header_->daemon_waiting_room, 0u, std::memory_order_seq_cst) != 0;
  }

  uint32_t* futex_word() { return &header_->head; }
  uint32_t* sleeping_flag() { return &header_->client_sleeping; }
  uint32_t consumed() const { return tail_; }

 private:
  TokenRingHeader* header_;
  TokenEntry* entries_;
  uint32_t capacity_;
  uint32_t tail_ = 0;
};

}  // namespace ringserve::shm
