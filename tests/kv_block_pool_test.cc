// KvBlockPool: allocation, references, the prefix index (hit, miss, partial last block, shared
// blocks, exact keys) and the LRU eviction order.
#include "daemon/kv_block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace ringserve::daemon {
namespace {

constexpr int32_t kPositions = 4;

std::vector<int32_t> iota_tokens(size_t n, int32_t first) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A sequence as the backend runs it: blocks allocated for its tokens, each full block published
// under the chained prefix id.
struct Held {
  std::vector<int32_t> blocks;
  uint64_t prefix = KvBlockPool::kRootPrefix;
};

Held compute(KvBlockPool& pool, const std::vector<int32_t>& tokens) {
  Held h;
  const size_t full = tokens.size() / kPositions;
  const size_t blocks = (tokens.size() + kPositions - 1) / kPositions;
  for (size_t i = 0; i < blocks; ++i) {
    const int32_t b = pool.allocate();
    EXPECT_GE(b, 0);
    h.blocks.push_back(b);
    if (i < full) {
      h.prefix = pool.publish(b, h.prefix, {tokens.data() + (i * kPositions), kPositions});
    }
  }
  return h;
}

void release_all(KvBlockPool& pool, const std::vector<int32_t>& blocks) {
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) pool.release(*it);
}

TEST(KvBlockPool, AllocatesEveryBlockOnceThenNone) {
  KvBlockPool pool(3, kPositions, true);
  std::vector<int32_t> got = {pool.allocate(), pool.allocate(), pool.allocate()};
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_EQ(pool.in_use(), 3);
  EXPECT_EQ(pool.available(), 0);
  pool.release(1);  // never published: free again
  EXPECT_EQ(pool.free(), 1);
  EXPECT_EQ(pool.cached(), 0);
  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, HitMissAndPartialLastBlock) {
  KvBlockPool pool(8, kPositions, true);
  const std::vector<int32_t> first = iota_tokens(10, 100);  // 2 full blocks + 2 tokens
  Held a = compute(pool, first);
  ASSERT_EQ(a.blocks.size(), 3u);

  // The same 10 tokens: the 2 full blocks hit, the partial third is never indexed.
  std::vector<int32_t> hit;
  const uint64_t after = pool.match(KvBlockPool::kRootPrefix, first, 8, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{a.blocks[0], a.blocks[1]}));
  EXPECT_EQ(after, a.prefix);
  // max_blocks caps the match.
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, first, 1, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{a.blocks[0]}));
  // A different first block misses everything, even with the same second block.
  std::vector<int32_t> other = first;
  other[0] = 7;
  hit.clear();
  EXPECT_EQ(pool.match(KvBlockPool::kRootPrefix, other, 8, &hit), KvBlockPool::kRootPrefix);
  EXPECT_TRUE(hit.empty());
  // Same first block, different second: one block.
  other = first;
  other[5] = 7;
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, other, 8, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{a.blocks[0]}));
  // A block's tokens at a different place in the sequence are a different key.
  const std::vector<int32_t> shifted(first.begin() + kPositions, first.end());
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, shifted, 8, &hit);
  EXPECT_TRUE(hit.empty());
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, SharedBlocksAreReferenceCountedAndCachedAtZero) {
  KvBlockPool pool(8, kPositions, true);
  const std::vector<int32_t> tokens = iota_tokens(8, 1);
  Held a = compute(pool, tokens);
  std::vector<int32_t> hit;
  pool.match(KvBlockPool::kRootPrefix, tokens, 8, &hit);
  ASSERT_EQ(hit.size(), 2u);
  EXPECT_EQ(pool.cached_among(hit), 0);  // a still holds them
  for (int32_t b : hit) pool.acquire(b);
  EXPECT_EQ(pool.refs(hit[0]), 2);
  EXPECT_EQ(pool.in_use(), 2);
  release_all(pool, a.blocks);
  EXPECT_EQ(pool.refs(hit[0]), 1);
  EXPECT_EQ(pool.in_use(), 2);
  EXPECT_EQ(pool.cached(), 0);
  release_all(pool, hit);
  EXPECT_EQ(pool.in_use(), 0);
  EXPECT_EQ(pool.cached(), 2);
  EXPECT_EQ(pool.available(), 8);
  // Taken back from the cache: in use again, no longer evictable.
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, tokens, 8, &hit);
  EXPECT_EQ(pool.cached_among(hit), 2);
  for (int32_t b : hit) pool.acquire(b);
  EXPECT_EQ(pool.cached(), 0);
  EXPECT_EQ(pool.available(), 6);
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, PublishingAPrefixTwiceKeepsTheFirstAndChainsOn) {
  KvBlockPool pool(8, kPositions, true);
  const std::vector<int32_t> tokens = iota_tokens(8, 1);
  // Two sequences computed the same prefix side by side (neither could hit the other's).
  Held a = compute(pool, tokens);
  Held b = compute(pool, tokens);
  EXPECT_EQ(a.prefix, b.prefix);
  EXPECT_TRUE(pool.indexed(a.blocks[0]));
  EXPECT_FALSE(pool.indexed(b.blocks[0]));
  release_all(pool, b.blocks);
  EXPECT_EQ(pool.free(), 6);  // b's copies are not cached
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, EvictsLeastRecentlyUsedLeavesFirstNeverInUse) {
  KvBlockPool pool(6, kPositions, true);
  const std::vector<int32_t> one = iota_tokens(8, 1);      // 2 blocks
  const std::vector<int32_t> two = iota_tokens(8, 50);     // 2 blocks
  const std::vector<int32_t> three = iota_tokens(8, 900);  // 2 blocks
  Held a = compute(pool, one);
  Held b = compute(pool, two);
  release_all(pool, a.blocks);  // a's second block, then its first: the first is newer
  release_all(pool, b.blocks);
  Held c = compute(pool, three);  // 2 free blocks: nothing evicted yet
  EXPECT_EQ(pool.cached(), 4);
  EXPECT_EQ(pool.free(), 0);
  // Now every fresh block is an eviction, oldest first: a's leaf, a's root, b's leaf.
  const int32_t e1 = pool.allocate();
  EXPECT_EQ(e1, a.blocks[1]);
  std::vector<int32_t> hit;
  pool.match(KvBlockPool::kRootPrefix, one, 8, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{a.blocks[0]}));  // the root is still there
  const int32_t e2 = pool.allocate();
  EXPECT_EQ(e2, a.blocks[0]);
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, one, 8, &hit);
  EXPECT_TRUE(hit.empty());
  // b's blocks, taken back, are in use: the next eviction skips them, and with c holding its
  // two, nothing is left.
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, two, 8, &hit);
  ASSERT_EQ(hit.size(), 2u);
  for (int32_t blk : hit) pool.acquire(blk);
  EXPECT_EQ(pool.allocate(), -1);
  EXPECT_EQ(pool.refs(c.blocks[0]), 1);
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, AChildOfAnEvictedParentIsNeverMatched) {
  // The parent's prefix id is gone with it: even if the same tokens are computed again, into
  // the same block, the old child's key names the old id.
  KvBlockPool pool(3, kPositions, true);
  const std::vector<int32_t> tokens = iota_tokens(8, 1);
  Held a = compute(pool, tokens);
  release_all(pool, a.blocks);
  // Evict only the root: take the cached blocks back in an order that leaves the root oldest.
  std::vector<int32_t> hit;
  pool.match(KvBlockPool::kRootPrefix, tokens, 8, &hit);
  pool.acquire(hit[1]);
  pool.acquire(hit[0]);
  pool.release(hit[0]);
  pool.release(hit[1]);               // now the root is the older one
  const int32_t f = pool.allocate();  // the one free block
  const int32_t e = pool.allocate();  // evicts the root
  EXPECT_EQ(e, a.blocks[0]);
  pool.release(f);
  pool.release(e);
  // Recompute the first block: new prefix id; the cached child must not chain onto it.
  Held again;
  again.blocks.push_back(pool.allocate());
  again.prefix = pool.publish(again.blocks[0], KvBlockPool::kRootPrefix, {tokens.data(), 4});
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, tokens, 8, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{again.blocks[0]}));
  EXPECT_EQ(pool.check(), "");
}

TEST(KvBlockPool, OffIndexesNothing) {
  KvBlockPool pool(4, kPositions, false);
  const std::vector<int32_t> tokens = iota_tokens(8, 1);
  Held a = compute(pool, tokens);
  release_all(pool, a.blocks);
  EXPECT_EQ(pool.cached(), 0);
  EXPECT_EQ(pool.free(), 4);
  std::vector<int32_t> hit;
  pool.match(KvBlockPool::kRootPrefix, tokens, 8, &hit);
  EXPECT_TRUE(hit.empty());
  EXPECT_EQ(pool.check(), "");
}

// Random sequences over a small vocabulary (many shared prefixes), taken and given back in
// random order: the pool's own check holds after every operation, and once everything is given
// back every block is free or cached with no references.
TEST(KvBlockPool, RandomUseKeepsTheInvariants) {
  KvBlockPool pool(24, kPositions, true);
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> live;
  for (int op = 0; op < 3000; ++op) {
    if (!live.empty() && (rng() % 3 == 0 || pool.available() < 6)) {
      const size_t i = rng() % live.size();
      release_all(pool, live[i]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      std::vector<int32_t> tokens(1 + (rng() % 20));
      for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % 3);
      std::vector<int32_t> blocks;
      uint64_t prefix = pool.match(KvBlockPool::kRootPrefix, tokens,
                                   static_cast<int32_t>((tokens.size() - 1) / kPositions), &blocks);
      const size_t need = (tokens.size() + kPositions - 1) / kPositions - blocks.size();
      if (static_cast<int32_t>(need) > pool.available() - pool.cached_among(blocks)) continue;
      for (int32_t b : blocks) pool.acquire(b);
      const size_t target = blocks.size() + need;
      while (blocks.size() < target) {
        const size_t i = blocks.size();
        const int32_t b = pool.allocate();
        ASSERT_GE(b, 0);
        blocks.push_back(b);
        if ((i + 1) * kPositions <= tokens.size()) {
          prefix = pool.publish(b, prefix, {tokens.data() + (i * kPositions), kPositions});
        }
      }
      live.push_back(blocks);
    }
    ASSERT_EQ(pool.check(), "") << "after operation " << op;
  }
  for (const auto& blocks : live) release_all(pool, blocks);
  EXPECT_EQ(pool.in_use(), 0);
  EXPECT_EQ(pool.free() + pool.cached(), pool.total());
  for (int32_t b = 0; b < pool.total(); ++b) EXPECT_EQ(pool.refs(b), 0);
  EXPECT_GT(pool.cached(), 0);
  EXPECT_EQ(pool.check(), "");
}

}  // namespace
}  // namespace ringserve::daemon
