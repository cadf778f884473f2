// RequestRing: the bounded multi-producer (clients) / single-consumer (daemon) ring through
// which clients hand the daemon the index of a slot they have filled.
//
// Cell protocol. Each cell is one 64-bit word: (low 32 bits of a position) << 32 | value.
// A cell is "empty for position p" when it holds (p, kEmptyValue) and "full" when it holds
// (p, slot index). Positions are free-running 64-bit counters.
//   Producer: claim position p with a CAS on tail (only while p < head + capacity), then
//   publish with a CAS of cell[p] from empty(p) to full(p, slot).
//   Consumer: reads cell[head]; when full(head, v) it stores empty(head + capacity) and
//   advances head.
//
// The hole problem. A producer killed between its claim and its publish would leave position p
// empty forever and block everything behind it. Because publishing is a CAS that expects
// empty(p), the consumer can *skip* a position: when cell[head] has stayed unpublished past a
// deadline while tail > head, it CASes empty(head) -> empty(head + capacity) and moves on. A
// producer that was merely slow then finds its CAS failing and claims a new position; nothing
// is published twice and nothing published is lost.
//
// Thread-safety: any number of producer threads/processes; exactly one consumer, which keeps
// its own copy of head (the shared one is advisory for producers and may be scribbled on).
#pragma once

#include <cstdint>

#include "shm/atomics.h"
#include "shm/layout.h"

namespace ringserve::shm {

inline constexpr uint32_t kEmptyValue = 0xFFFFFFFFu;

inline constexpr uint64_t make_cell(uint64_t position, uint32_t value) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(position)) << 32) | value;
}
inline constexpr uint32_t cell_tag(uint64_t cell) { return static_cast<uint32_t>(cell >> 32); }
inline constexpr uint32_t cell_value(uint64_t cell) { return static_cast<uint32_t>(cell); }

// Producer side. Stateless: cheap to construct from a header pointer.
class RequestRingProducer {
 public:
  RequestRingProducer(RequestRingHeader* header, uint32_t capacity)
      : header_(header), cells_(reinterpret_cast<uint64_t*>(header + 1)), mask_(capacity - 1) {}

  // Claims the next position. False when the ring is full.
  bool try_claim(uint64_t* position) {
    uint64_t tail = load(header_->tail);
    for (;;) {
      const uint64_t head = load(header_->head);
      if (tail - head > mask_) return false;  // tail - head >= capacity (wraps safely)
      if (compare_exchange(header_->tail, tail, tail + 1)) {
        *position = tail;
        return true;
      }
    }
  }

  // Publishes `value` at a claimed position. False when the consumer skipped the position
  // (we were too slow): the caller claims a new one.
  bool publish(uint64_t position, uint32_t value) {
    uint64_t expected = make_cell(position, kEmptyValue);
    return compare_exchange(cells_[position & mask_], expected, make_cell(position, value),
                            std::memory_order_seq_cst);
  }

  enum class PushResult { kOk, kFull, kContended };

  // claim + publish, retrying a bounded number of times when a claimed position was skipped.
  PushResult try_push(uint32_t value) {
    for (int attempt = 0; attempt < 64; ++attempt) {
      uint64_t position = 0;
      if (!try_claim(&position)) return PushResult::kFull;
      if (publish(position, value)) return PushResult::kOk;
    }
    return PushResult::kContended;
  }

 private:
  RequestRingHeader* header_;
  uint64_t* cells_;
  uint64_t mask_;
};

// Consumer side: owned by the daemon's single loop thread.
class RequestRingConsumer {
 public:
  // `skip_after_ns`: how long a claimed-but-unpublished position may block the ring.
  RequestRingConsumer(RequestRingHeader* header, uint32_t capacity, uint64_t skip_after_ns)
      : header_(header),
        cells_(reinterpret_cast<uint64_t*>(header + 1)),
        capacity_(capacity),
        skip_after_ns_(skip_after_ns) {}

  // Fills every cell for the first lap and resets the counters. Daemon only, before kReady.
  void initialize() {
    for (uint64_t i = 0; i < capacity_; ++i) store(cells_[i], make_cell(i, kEmptyValue));
    store(header_->head, uint64_t{0});
    store(header_->tail, uint64_t{0});
    head_ = 0;
    stalled_since_ns_ = 0;
  }

  enum class PollResult {
    kValue,    // *value holds a published value
    kEmpty,    // nothing claimed
    kPending,  // a claimed position is not published yet; poll again (before the deadline)
    kSkipped,  // a position left unpublished past the deadline was skipped
  };

  PollResult poll(uint64_t now_ns, uint32_t* value) {
    uint64_t& cell = cells_[head_ & (capacity_ - 1)];
    const uint64_t word = load(cell, std::memory_order_seq_cst);
    if (cell_tag(word) == static_cast<uint32_t>(head_) && cell_value(word) != kEmptyValue) {
      *value = cell_value(word);
      store(cell, make_cell(head_ + capacity_, kEmptyValue));
      advance();
      return PollResult::kValue;
    }
    repair_tail();
    const uint64_t tail = load(header_->tail, std::memory_order_seq_cst);
    const bool claimed = tail - head_ - 1 < capacity_;  // head < tail <= head + capacity
    const bool corrupt = cell_tag(word) != static_cast<uint32_t>(head_);
    if (!claimed && !corrupt) {
      stalled_since_ns_ = 0;
      return PollResult::kEmpty;
    }
    if (stalled_since_ns_ == 0) stalled_since_ns_ = now_ns;
    // A cell that is not tagged with head holds what no producer writes (cell[head] is always
    // empty(head) or full(head, v) otherwise): no publish can be in flight there, so it is
    // skipped at once. An empty cell waits for its producer until the deadline.
    if (!corrupt && now_ns - stalled_since_ns_ < skip_after_ns_) return PollResult::kPending;
    // Skip: a CAS, so a producer publishing at this very moment either wins (and we consume
    // its value next poll) or loses and re-claims.
    uint64_t expected = word;
    if (!compare_exchange(cell, expected, make_cell(head_ + capacity_, kEmptyValue),
                          std::memory_order_seq_cst)) {
      return PollResult::kPending;
    }
    advance();
    ++skipped_;
    return PollResult::kSkipped;
  }

  // True when the next poll may make progress: while stalled on an unpublished position, only
  // its publication counts (a waiter must not spin on the claimed position); otherwise any
  // published cell or claimed position does. A corrupt cell counts (poll skips it at once);
  // counting garbage as "published" made the daemon spin while a scribbled ring was stalled.
  bool ready_to_poll() const {
    const uint64_t word = load(cells_[head_ & (capacity_ - 1)], std::memory_order_seq_cst);
    if (cell_tag(word) != static_cast<uint32_t>(head_)) return true;
    if (cell_value(word) != kEmptyValue) return true;
    if (stalled_since_ns_ != 0) return false;
    return load(header_->tail, std::memory_order_seq_cst) != head_;
  }

  // When the ring is stalled on an unpublished position: the time it will be skipped.
  uint64_t stall_deadline_ns() const {
    return stalled_since_ns_ == 0 ? 0 : stalled_since_ns_ + skip_after_ns_;
  }

  uint64_t head() const { return head_; }
  uint64_t skipped() const { return skipped_; }

 private:
  void advance() {
    ++head_;
    stalled_since_ns_ = 0;
    store(header_->head, head_, std::memory_order_seq_cst);
    // Skipping a garbage cell (or taking a value nobody claimed) can move head past tail;
    // producers would read that as a full ring until the next repair, so repair now.
    repair_tail();
  }

  // A client with write access may scribble on tail. Values no honest producer can produce
  // (behind head, or more than capacity ahead) are pulled back into range so that producers
  // are not locked out forever. Honest claims always lie in (head, head + capacity].
  void repair_tail() {
    uint64_t tail = load(header_->tail);
    if (tail - head_ > capacity_) {
      const uint64_t fixed = (tail < head_) ? head_ : head_ + capacity_;
      compare_exchange(header_->tail, tail, fixed);
    }
  }

  RequestRingHeader* header_;
  uint64_t* cells_;
  uint64_t capacity_;
  uint64_t skip_after_ns_;
  uint64_t head_ = 0;
  uint64_t stalled_since_ns_ = 0;
  uint64_t skipped_ = 0;
};

}  // namespace ringserve::shm
