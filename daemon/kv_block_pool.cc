#include "daemon/kv_block_pool.h"

#include <algorithm>
#include <bit>
#include <random>
#include <string>

namespace ringserve::daemon {
namespace {

// splitmix64's finalizer: every input bit moves every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

KvBlockPool::KvBlockPool(int32_t blocks, int32_t block_positions, bool prefix_cache)
    : block_positions_(block_positions),
      prefix_cache_(prefix_cache),
      // Seeded per pool so that nobody can send prompts made to land in one bucket of the
      // index (the lookup would still be exact, only slow).
      seed_((static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}()),
      blocks_(static_cast<size_t>(std::max(blocks, 1))),
      tokens_(blocks_.size() * static_cast<size_t>(block_positions)) {
  free_bits_.assign((blocks_.size() + 63) / 64, 0);
  for (int32_t b = 0; b < total(); ++b) set_free(b, true);
}

void KvBlockPool::set_free(int32_t block, bool free) {
  const auto index = static_cast<uint32_t>(block);
  uint64_t& word = free_bits_[index / 64];
  const uint64_t bit = uint64_t{1} << (index % 64);
  word = free ? (word | bit) : (word & ~bit);
  free_ += free ? 1 : -1;
}

int32_t KvBlockPool::next_block(int32_t from, bool free) const {
  const int32_t n = total();
  while (from < n) {
    // Bits past the last block are 0, so inverted they read as "not free" -- past the end.
    const uint64_t word = free_bits_[static_cast<size_t>(from) / 64] ^ (free ? 0 : ~uint64_t{0});
    const uint64_t rest = word >> (static_cast<uint32_t>(from) % 64);
    if (rest != 0) return std::min(n, from + std::countr_zero(rest));
    from = (from / 64 + 1) * 64;
  }
  return n;
}

int32_t KvBlockPool::new_run_start(int32_t wanted) const {
  int32_t best = -1;
  int32_t best_length = 0;
  for (int32_t start = next_block(0, true); start < total();) {
    const int32_t end = next_block(start, false);
    if (end - start > best_length) {
      best = start;
      best_length = end - start;
    }
    start = next_block(end, true);
  }
  // A block in use just before: a live sequence's run ends there and will want to grow.
  if (best == 0 || blocks_[static_cast<size_t>(best) - 1].refs == 0) return best;
  return best + ((best_length - std::min(wanted, best_length)) / 2);
}

uint64_t KvBlockPool::key_hash(uint64_t parent, std::span<const int32_t> tokens) const {
  uint64_t h = mix(seed_ ^ parent);
  for (const int32_t t : tokens) h = mix(h ^ static_cast<uint32_t>(t));
  return h;
}

int32_t KvBlockPool::find(uint64_t parent, std::span<const int32_t> tokens) const {
  const auto [begin, end] = index_.equal_range(key_hash(parent, tokens));
  for (auto it = begin; it != end; ++it) {
    const int32_t b = it->second;
    if (blocks_[static_cast<size_t>(b)].parent_prefix == parent &&
        std::equal(tokens.begin(), tokens.end(), tokens_of(b).begin())) {
      return b;
    }
  }
  return -1;
}

uint64_t KvBlockPool::match(uint64_t prefix, std::span<const int32_t> tokens, int32_t max_blocks,
                            std::vector<int32_t>* blocks) const {
  if (!prefix_cache_) return prefix;
  const auto bp = static_cast<size_t>(block_positions_);
  for (int32_t i = 0; i < max_blocks && (static_cast<size_t>(i) + 1) * bp <= tokens.size(); ++i) {
    const int32_t b = find(prefix, tokens.subspan(static_cast<size_t>(i) * bp, bp));
    if (b < 0) break;
    blocks->push_back(b);
    prefix = blocks_[static_cast<size_t>(b)].prefix;
  }
  return prefix;
}

int32_t KvBlockPool::cached_among(std::span<const int32_t> blocks) const {
  return static_cast<int32_t>(std::count_if(blocks.begin(), blocks.end(), [&](int32_t b) {
    return blocks_[static_cast<size_t>(b)].refs == 0;
  }));
}

void KvBlockPool::acquire(int32_t block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  if (b.refs++ == 0) {  // only indexed blocks are found with no reference: cached ones
    lru_unlink(block);
    --cached_;
    ++in_use_;
  }
}

int32_t KvBlockPool::neighbour_to_take(int32_t after) const {
  if (after < 0) return -1;
  const int32_t candidates[2] = {after + 1, after - 1};
  for (const int32_t b : candidates) {
    if (b >= 0 && b < total() && is_free(b)) return b;
  }
  for (const int32_t b : candidates) {
    if (b >= 0 && b < total() && evictable(b)) return b;
  }
  return -1;
}

bool KvBlockPool::evictable(int32_t b) const {
  const Block& block = blocks_[static_cast<size_t>(b)];
  // Cached_at grows along the list, so fewer than (its cached_at - the head's) cached blocks
  // are older than it.
  return block.refs == 0 && block.prefix != 0 &&
         2 * (block.cached_at - blocks_[static_cast<size_t>(lru_head_)].cached_at) <
             static_cast<uint64_t>(cached_);
}

void KvBlockPool::take_cached(int32_t block) {
  lru_unlink(block);
  forget(block);
  --cached_;
}

int32_t KvBlockPool::allocate(int32_t after, int32_t wanted) {
  int32_t block = neighbour_to_take(after);
  if (block >= 0 && is_free(block)) {
    set_free(block, false);
  } else if (block >= 0) {
    take_cached(block);
  } else if (free_ > 0) {
    block = new_run_start(std::max(wanted, 1));
    set_free(block, false);
  } else if (lru_head_ >= 0) {
    // A new run down the old blocks below the least recently used one, as far as `wanted`
    // reaches: it climbs back to that block and so ends away from where the next new run (at
    // the next least recently used block, often the one below) will start.
    block = lru_head_;
    while (lru_head_ - block + 1 < wanted && block > 0 && evictable(block - 1)) --block;
    take_cached(block);
  } else {
    return -1;
  }
  blocks_[static_cast<size_t>(block)].refs = 1;
  ++in_use_;
  return block;
}

void KvBlockPool::release(int32_t block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  if (--b.refs > 0) return;
  --in_use_;
  if (b.prefix != 0) {
    lru_append(block);
    ++cached_;
  } else {
    set_free(block, true);
  }
}

uint64_t KvBlockPool::publish(int32_t block, uint64_t prefix, std::span<const int32_t> tokens) {
  if (!prefix_cache_) return next_prefix_++;
  if (const int32_t existing = find(prefix, tokens); existing >= 0) {
    return blocks_[static_cast<size_t>(existing)].prefix;
  }
  Block& b = blocks_[static_cast<size_t>(block)];
  if (b.prefix != 0) return b.prefix;  // indexed already (it was matched, not computed)
  b.prefix = next_prefix_++;
  b.parent_prefix = prefix;
  b.key_hash = key_hash(prefix, tokens);
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<std::ptrdiff_t>(block) * block_positions_);
  index_.emplace(b.key_hash, block);
  return b.prefix;
}

void KvBlockPool::forget(int32_t block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  const auto [begin, end] = index_.equal_range(b.key_hash);
  for (auto it = begin; it != end; ++it) {
    if (it->second == block) {
      index_.erase(it);
      break;
    }
  }
  b.prefix = 0;
  b.parent_prefix = 0;
  b.key_hash = 0;
}

void KvBlockPool::lru_unlink(int32_t block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  (b.lru_prev >= 0 ? blocks_[static_cast<size_t>(b.lru_prev)].lru_next : lru_head_) = b.lru_next;
  (b.lru_next >= 0 ? blocks_[static_cast<size_t>(b.lru_next)].lru_prev : lru_tail_) = b.lru_prev;
  b.lru_prev = b.lru_next = -1;
}

void KvBlockPool::lru_append(int32_t block) {
  Block& b = blocks_[static_cast<size_t>(block)];
  b.lru_prev = lru_tail_;
  b.lru_next = -1;
  b.cached_at = cache_clock_++;
  (lru_tail_ >= 0 ? blocks_[static_cast<size_t>(lru_tail_)].lru_next : lru_head_) = block;
  lru_tail_ = block;
}

std::string KvBlockPool::check() const {
  int32_t in_use = 0, cached = 0, indexed = 0;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    if (b.refs < 0) return "block " + std::to_string(i) + " has negative references";
    if (b.refs > 0) ++in_use;
    if (b.refs == 0 && b.prefix != 0) ++cached;
    if (b.prefix != 0) {
      ++indexed;
      if (find(b.parent_prefix, tokens_of(static_cast<int32_t>(i))) != static_cast<int32_t>(i)) {
        return "indexed block " + std::to_string(i) + " is not found under its key";
      }
    }
  }
  int32_t listed = 0;
  for (int32_t b = lru_head_; b >= 0; b = blocks_[static_cast<size_t>(b)].lru_next) {
    const Block& block = blocks_[static_cast<size_t>(b)];
    if (block.refs != 0 || block.prefix == 0) {
      return "block " + std::to_string(b) + " is in the LRU list but not cached";
    }
    if (++listed > total()) return "the LRU list has a cycle";
  }
  if (in_use != in_use_ || cached != cached_ || listed != cached) {
    return "counts: " + std::to_string(in_use) + " in use and " + std::to_string(cached) +
           " cached (" + std::to_string(listed) + " listed), the pool says " +
           std::to_string(in_use_) + " and " + std::to_string(cached_);
  }
  int32_t free = 0;
  for (int32_t b = 0; b < total(); ++b) {
    if (is_free(b) != (blocks_[static_cast<size_t>(b)].refs == 0 &&
                       blocks_[static_cast<size_t>(b)].prefix == 0)) {
      return "block " + std::to_string(b) +
             (is_free(b) ? " is marked free but is not" : " is free but not marked so");
    }
    free += is_free(b) ? 1 : 0;
  }
  if (free != free_ || free != total() - in_use - cached) {
    return std::to_string(free) + " blocks marked free, the pool says " + std::to_string(free_) +
           ", " + std::to_string(total() - in_use - cached) + " neither in use nor cached";
  }
  if (static_cast<int32_t>(index_.size()) != indexed) {
    return "index of " + std::to_string(index_.size()) + " entries, " + std::to_string(indexed) +
           " blocks indexed";
  }
  return {};
}

}  // namespace ringserve::daemon
