// KvBlockPool: who holds which block of the engine's paged KV cache, and the prefix cache over
// those blocks. The engine stores keys and values; this decides which block ids a sequence's
// positions live in (its block table), shares full blocks between sequences whose tokens agree
// up to and including that block, and keeps blocks no sequence holds any more for reuse until
// their room is needed.
//
// A block is in one of three states:
//   in use  -- held by one or more sequences (refs > 0); never evicted, never written by any
//              sequence but the one that allocated it, and only before it is full;
//   cached  -- held by none, but indexed: its keys and values are those of a known prefix, and
//              a later sequence with that prefix takes it back instead of recomputing it; kept
//              in least-recently-used order and evicted (its prefix forgotten) only when a
//              fresh block is wanted and none is free;
//   free    -- neither.
//
// The index. A full block is indexed under (the id of the prefix before it, its own tokens):
// the prefix id of block i is a number given when block i was indexed, so block i + 1's key
// stands for every token before it, chained, as vLLM's block hashes do -- but compared exactly,
// so no two prefixes ever share a key, whatever a client sends (a hash collision, accidental or
// crafted, cannot hand one client another's keys and values). The key's hash, seeded per pool,
// only places entries in the table. A pool belongs to one engine (one model, one format, one
// device), so the model's identity needs no place in the key. Only the daemon computes keys,
// from the tokens it made itself: no client can index a block under someone else's prefix.
//
// Preferring leaves: a sequence gives its blocks back last to first, so a prefix's later blocks
// are older in the LRU order than its earlier ones and go first; a child whose parent was
// evicted can no longer be reached (its key names a prefix id that is gone) and ages out.
//
// Not thread-safe: owned by the model backend, on the daemon's loop thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace ringserve::daemon {

class KvBlockPool {
 public:
  // Prefix id of "no tokens before": the first block of every sequence is indexed under it.
  static constexpr uint64_t kRootPrefix = 0;

  // blocks >= 1; prefix_cache false: nothing is ever indexed, so every released block is free
  // again at once (the contiguous cache's behaviour, in blocks).
  KvBlockPool(int32_t blocks, int32_t block_positions, bool prefix_cache);

  int32_t total() const { return static_cast<int32_t>(blocks_.size()); }
  int32_t block_positions() const { return block_positions_; }
  bool prefix_cache() const { return prefix_cache_; }
  int32_t in_use() const { return in_use_; }
  int32_t cached() const { return cached_; }
  int32_t free() const { return free_; }
  // What allocate() can still hand out: free blocks and cached ones (evicted on the way).
  int32_t available() const { return total() - in_use_; }

  // A cached prefix of `tokens` in whole blocks, continuing from `prefix` (the prefix id of the
  // tokens before them): appends the blocks that hold it to *blocks (at most max_blocks) and
  // returns the prefix id after the last one (`prefix` when none matched). Takes no reference.
  uint64_t match(uint64_t prefix, std::span<const int32_t> tokens, int32_t max_blocks,
                 std::vector<int32_t>* blocks) const;
  // How many of `blocks` (from match()) are cached, i.e. would leave available() when acquired.
  int32_t cached_among(std::span<const int32_t> blocks) const;

  // One more reference on a block from match() (a cached one is in use again).
  void acquire(int32_t block);
  // A fresh block, referenced once: a free one, else a cached one (its prefix forgotten). -1
  // when every block is in use.
  //
  // Kept in runs: attention streams a sequence's blocks in table order, and blocks scattered
  // over the pool cost it up to a third more than a run, ascending or descending (ringserve-bench
  // micro --benchmark_filter=Attention). `after` is the caller's last block (-1: none yet), and
  // the choice, in order:
  //   1. a free neighbour of `after` (the block after it, else the one before);
  //   2. a cached neighbour among the older half of the LRU order: a little of the LRU order
  //      is given up for the run, never a recently used prefix;
  //   3. a new run in the largest stretch of free blocks: at its start when no live sequence's
  //      run ends just before it, else far enough in to leave that run room to grow, with
  //      `wanted` blocks (what the caller is about to take in a row) centred in the rest;
  //   4. the least recently used cached block -- or, for `wanted` > 1, the lowest of the old
  //      blocks just below it, so that the run climbs back to it and ends away from where the
  //      next new run starts (the next least recently used block, often the one below:
  //      sequences give their blocks back last to first). Then 2 follows the LRU order down.
  int32_t allocate(int32_t after = -1, int32_t wanted = 1);
  // One reference less. At none, an indexed block becomes cached (most recently used), any
  // other free.
  void release(int32_t block);

  // `block`, held by the caller, is full: its block_positions() tokens `tokens` follow the prefix
  // `prefix`. Indexes it and returns its prefix id; when that prefix is indexed already (another
  // sequence computed it first), leaves `block` unindexed and returns the existing id, under
  // which the caller's next block is indexed all the same. kRootPrefix-style ids are never
  // returned: with prefix_cache off this returns a fresh id without indexing anything.
  uint64_t publish(int32_t block, uint64_t prefix, std::span<const int32_t> tokens);

  int32_t refs(int32_t block) const { return blocks_[static_cast<size_t>(block)].refs; }
  bool indexed(int32_t block) const { return blocks_[static_cast<size_t>(block)].prefix != 0; }

  // Empty when the counts, the LRU list and the index agree with every block's state; else
  // what does not (tests, and the daemon's own invariant check).
  std::string check() const;

 private:
  struct Block {
    int32_t refs = 0;
    int32_t lru_prev = -1;  // cached blocks only: the LRU list, oldest at lru_head_
    int32_t lru_next = -1;
    uint64_t prefix = 0;         // this block's prefix id when indexed, else 0
    uint64_t parent_prefix = 0;  // the prefix before it (when indexed)
    uint64_t key_hash = 0;       // hash of (parent_prefix, tokens) (when indexed)
    uint64_t cached_at = 0;      // cached blocks: when it joined the LRU list (a count)
  };

  uint64_t key_hash(uint64_t parent, std::span<const int32_t> tokens) const;
  std::span<const int32_t> tokens_of(int32_t block) const {
    return {tokens_.data() + static_cast<size_t>(block) * static_cast<size_t>(block_positions_),
            static_cast<size_t>(block_positions_)};
  }
  // The indexed block of (parent, tokens), or -1.
  int32_t find(uint64_t parent, std::span<const int32_t> tokens) const;
  void forget(int32_t block);  // removes an indexed block from the index
  bool is_free(int32_t block) const {
    const auto index = static_cast<uint32_t>(block);
    return ((free_bits_[index / 64] >> (index % 64)) & 1U) != 0;
  }
  void set_free(int32_t block, bool free);
  // The first block at or after `from` that is free (free true) or not, else total().
  int32_t next_block(int32_t from, bool free) const;
  // Where a new run of `wanted` blocks starts (a free block; there is one).
  int32_t new_run_start(int32_t wanted) const;
  // A neighbour of `after` that allocate() takes before anything else: free, else cached and
  // among the older half of the LRU order; -1 when neither.
  int32_t neighbour_to_take(int32_t after) const;
  void take_cached(int32_t block);  // out of the LRU list and the index
  // Cached, and among the older half of the LRU order.
  bool evictable(int32_t block) const;
  void lru_unlink(int32_t block);
  void lru_append(int32_t block);

  int32_t block_positions_;
  bool prefix_cache_;
  uint64_t seed_;
  uint64_t next_prefix_ = 1;
  int32_t in_use_ = 0;
  int32_t cached_ = 0;
  int32_t free_ = 0;
  uint64_t cache_clock_ = 0;  // blocks ever appended to the LRU list
  int32_t lru_head_ = -1;
  int32_t lru_tail_ = -1;
  std::vector<Block> blocks_;
  std::vector<int32_t> tokens_;      // block_positions_ per block: an indexed block's tokens
  std::vector<uint64_t> free_bits_;  // bit b % 64 of word b / 64: block b is free
  std::unordered_multimap<uint64_t, int32_t> index_;  // key_hash -> indexed block
};

}  // namespace ringserve::daemon
