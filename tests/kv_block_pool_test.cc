// KvBlockPool: allocation, references, the prefix index (hit, miss, partial last block, shared
// blocks, exact keys) and the LRU eviction order.
#include "daemon/kv_block_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
    const int32_t b =
        pool.allocate(h.blocks.empty() ? -1 : h.blocks.back(), static_cast<int32_t>(blocks - i));
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
  const std::vector<int32_t> one = iota_tokens(8, 1);   // 2 blocks
  const std::vector<int32_t> two = iota_tokens(8, 50);  // 2 blocks
  Held a = compute(pool, one);
  Held b = compute(pool, two);
  release_all(pool, a.blocks);  // a's second block, then its first: the first is newer
  release_all(pool, b.blocks);
  // 2 free blocks, taken with no neighbour to keep to: nothing evicted yet.
  const Held c{{pool.allocate(), pool.allocate()}};
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
// Sequences that grow a block at a time, taking turns as a batch does, each keep one ascending
// run: attention reads a run as one stream, and blocks scattered over the pool cost it up to a
// third more (ringserve-bench micro --benchmark_filter=Attention).
TEST(KvBlockPool, SequencesGrowingTogetherKeepTheirBlocksInRuns) {
  for (const bool prefix_cache : {true, false}) {
    KvBlockPool pool(64, kPositions, prefix_cache);
    std::vector<std::vector<int32_t>> seqs(4);
    for (auto& blocks : seqs) {  // a prompt of 4 blocks each, taken at once
      for (int i = 0; i < 4; ++i) {
        blocks.push_back(pool.allocate(blocks.empty() ? -1 : blocks.back(), 4 - i));
      }
    }
    EXPECT_EQ(seqs[0].front(), 0);             // the first run starts where the pool does
    for (int round = 0; round < 8; ++round) {  // decode: one block each, in turn
      for (auto& blocks : seqs) blocks.push_back(pool.allocate(blocks.back(), 1));
    }
    for (const auto& blocks : seqs) {
      for (size_t i = 1; i < blocks.size(); ++i) {
        EXPECT_EQ(blocks[i], blocks[i - 1] + 1) << "prefix cache " << prefix_cache;
      }
    }
    EXPECT_EQ(pool.check(), "");
    // Given back (last to first) and taken again as one prompt: one run again.
    for (auto& blocks : seqs) release_all(pool, blocks);
    std::vector<int32_t> again;
    for (int i = 0; i < 16; ++i)
      again.push_back(pool.allocate(again.empty() ? -1 : again.back(), 16 - i));
    for (size_t i = 1; i < again.size(); ++i) EXPECT_EQ(again[i], again[i - 1] + 1);
    EXPECT_EQ(pool.check(), "");
  }
}

// Keeping a run never costs a recently used prefix: a cached neighbour is taken only from the
// older half of the LRU order; else the least recently used block goes, as without runs.
TEST(KvBlockPool, ARunNeverEvictsARecentlyUsedNeighbour) {
  KvBlockPool pool(8, kPositions, true);
  const std::vector<int32_t> x_tokens = iota_tokens(16, 1);
  const std::vector<int32_t> y_tokens = iota_tokens(16, 100);
  Held x = compute(pool, x_tokens);
  Held y = compute(pool, y_tokens);
  ASSERT_EQ(x.blocks, (std::vector<int32_t>{0, 1, 2, 3}));
  ASSERT_EQ(y.blocks, (std::vector<int32_t>{4, 5, 6, 7}));
  release_all(pool, y.blocks);  // older
  release_all(pool, x.blocks);  // newer: block 3 is the most recently used but three
  std::vector<int32_t> hit;
  pool.match(KvBlockPool::kRootPrefix, x_tokens, 3, &hit);
  ASSERT_EQ(hit, (std::vector<int32_t>{0, 1, 2}));
  for (const int32_t b : hit) pool.acquire(b);
  EXPECT_EQ(pool.allocate(2), 7);  // y's leaf, the least recently used; not x's block 3
  hit.clear();
  pool.match(KvBlockPool::kRootPrefix, x_tokens, 4, &hit);
  EXPECT_EQ(hit, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(pool.check(), "");
}

// A pool in use for a while -- full of cached prefixes, sequences of every length starting,
// growing in turns and ending -- still hands each sequence its blocks mostly as neighbours of
// the one before (ascending runs from free blocks, descending ones from the LRU list, which
// sequences refill last block first); attention reads either order at the speed of one run.
TEST(KvBlockPool, AChurnedPoolStillKeepsSequencesInRuns) {
  for (const bool prefix_cache : {true, false}) {
    KvBlockPool pool(256, kPositions, prefix_cache);
    std::mt19937 rng(11);
    struct Seq {
      std::vector<int32_t> tokens;
      std::vector<int32_t> blocks;
      uint64_t prefix = KvBlockPool::kRootPrefix;
      size_t published = 0;
      size_t matched = 0;  // blocks taken from the cache
      int grow = 0;        // blocks still to generate
    };
    std::vector<Seq> live;
    int64_t neighbours = 0;
    int64_t fresh_pairs = 0;
    int64_t hits = 0;
    const auto retire = [&](size_t i) {
      const Seq& s = live[i];
      for (size_t b = s.matched + 1; b < s.blocks.size(); ++b) {
        ++fresh_pairs;
        neighbours += std::abs(s.blocks[b] - s.blocks[b - 1]) == 1 ? 1 : 0;
      }
      release_all(pool, s.blocks);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    };
    const auto publish = [&](Seq& s) {
      while ((s.published + 1) * kPositions <= s.tokens.size() && s.published < s.blocks.size()) {
        s.prefix = pool.publish(s.blocks[s.published], s.prefix,
                                {s.tokens.data() + (s.published * kPositions), kPositions});
        ++s.published;
      }
    };
    for (int step = 0; step < 4000; ++step) {
      if (live.size() < 8) {  // a new sequence: one of 4 system prompts, then its own text
        Seq s;
        s.tokens = iota_tokens(static_cast<size_t>(8 * (1 + rng() % 4)), 1000 * (1 + rng() % 4));
        for (size_t n = 4 + rng() % 60; n > 0; --n) s.tokens.push_back(static_cast<int32_t>(rng()));
        s.grow = static_cast<int>(rng() % 12);
        s.prefix = pool.match(KvBlockPool::kRootPrefix, s.tokens,
                              static_cast<int32_t>((s.tokens.size() - 1) / kPositions), &s.blocks);
        const size_t need = (s.tokens.size() + kPositions - 1) / kPositions - s.blocks.size();
        if (static_cast<int32_t>(need) + 12 > pool.available() - pool.cached_among(s.blocks)) {
          retire(rng() % live.size());
          continue;
        }
        for (const int32_t b : s.blocks) pool.acquire(b);
        s.matched = s.published = s.blocks.size();
        hits += static_cast<int64_t>(s.matched);
        for (size_t i = 0; i < need; ++i) {
          s.blocks.push_back(pool.allocate(s.blocks.empty() ? -1 : s.blocks.back(),
                                           static_cast<int32_t>(need - i)));
        }
        publish(s);
        live.push_back(std::move(s));
      }
      for (size_t i = 0; i < live.size(); ++i) {  // decode: each grows in turn
        Seq& s = live[i];
        if (s.grow == 0) continue;
        --s.grow;
        for (int t = 0; t < kPositions; ++t) s.tokens.push_back(static_cast<int32_t>(rng()));
        s.blocks.push_back(pool.allocate(s.blocks.back()));
        ASSERT_GE(s.blocks.back(), 0);
        publish(s);
      }
      for (size_t i = live.size(); i-- > 0;) {
        if (live[i].grow == 0 && rng() % 2 == 0) retire(i);
      }
      ASSERT_EQ(pool.check(), "") << "step " << step;
    }
    ASSERT_GT(fresh_pairs, 10000);
    const double share = static_cast<double>(neighbours) / static_cast<double>(fresh_pairs);
    std::printf("prefix cache %d: %.3f of %lld fresh blocks follow a neighbour; %lld hits\n",
                prefix_cache, share, static_cast<long long>(fresh_pairs),
                static_cast<long long>(hits));
    // Measured: 0.999 with the prefix cache off (runs of free blocks), 0.60 with it on, where
    // the pool is full of cached blocks and allocate() keeps to the older half of the LRU
    // order (0.017 when every fresh block was the least recently used one; 0.91 when any
    // cached neighbour may go, at 9% fewer prefix hits).
    EXPECT_GT(share, prefix_cache ? 0.5 : 0.95) << "prefix cache " << prefix_cache;
    if (prefix_cache) {
      EXPECT_GT(hits, 15000);  // the system prompts stay cached
    }
  }
}

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
