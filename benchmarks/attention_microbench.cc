// `ringserve-bench micro --benchmark_filter=Attention`: what paging the KV cache costs the
// attention kernel. The same kernel (paged_attention) over a TinyLlama-shaped layer (32 query
// heads, 4 kv heads of 64) with the cache in blocks of 16 positions -- each sequence's blocks
// one ascending run, one descending run, or scattered over the pool (the layouts KvBlockPool
// hands out from free blocks, from its LRU list, and at worst) -- and with each sequence's
// whole context as one block of 2,048 positions: the contiguous cache of before,
// [sequences, kv_heads, max_len, head_dim], read by the same code with no block boundaries.
// Arguments: decode tokens (one per sequence), context, threads.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "engine/kernels/cpu_kernels.h"

namespace ringserve::bench {
namespace {

constexpr int64_t kHeads = 32;
constexpr int64_t kKvHeads = 4;
constexpr int64_t kHeadDim = 64;
constexpr int64_t kMaxLen = 2048;

// How a sequence's blocks lie in the pool.
enum class Layout {
  kInOrder,   // each sequence one ascending run (a pool with free blocks to hand out)
  kReversed,  // each sequence one descending run (taken back from the LRU list of a full pool:
              // sequences give their blocks back last to first, so the oldest is the last)
  kShuffled,  // every block anywhere (a pool whose blocks nobody kept in runs)
};

void run_attention(benchmark::State& state, int64_t block_positions, Layout layout) {
  const auto tokens = static_cast<int64_t>(state.range(0));
  const auto context = static_cast<int64_t>(state.range(1));  // then range(2): threads
  const int64_t blocks_per_sequence = kMaxLen / block_positions;
  const int64_t blocks = tokens * blocks_per_sequence;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const auto randoms = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
  };
  const size_t cache_floats = static_cast<size_t>(blocks * kKvHeads * block_positions * kHeadDim);
  std::vector<float> k_cache = randoms(cache_floats);
  std::vector<float> v_cache = randoms(cache_floats);
  const std::vector<float> q = randoms(static_cast<size_t>(tokens * kHeads * kHeadDim));
  const std::vector<float> k_new = randoms(static_cast<size_t>(tokens * kKvHeads * kHeadDim));
  const std::vector<float> v_new = randoms(static_cast<size_t>(tokens * kKvHeads * kHeadDim));
  std::vector<float> out(q.size());
  // Every block of the pool once, in order (as a pool hands them out while it has free ones)
  // or shuffled (a pool that has been in use a while): sequence t's table is a run of it.
  std::vector<int32_t> tables(static_cast<size_t>(blocks));
  std::iota(tables.begin(), tables.end(), 0);
  std::vector<int64_t> offsets(static_cast<size_t>(tokens));
  if (layout == Layout::kShuffled) std::shuffle(tables.begin(), tables.end(), rng);
  if (layout == Layout::kReversed) {
    for (int64_t t = 0; t < tokens; ++t) {
      const auto run = tables.begin() + t * blocks_per_sequence;
      std::reverse(run, run + blocks_per_sequence);
    }
  }
  std::vector<int32_t> positions(static_cast<size_t>(tokens), static_cast<int32_t>(context - 1));
  for (int64_t t = 0; t < tokens; ++t) offsets[static_cast<size_t>(t)] = t * blocks_per_sequence;
  const model::PagedAttentionShape shape{kHeads,   kKvHeads,
                                         kHeadDim, block_positions,
                                         blocks,   1.0f / std::sqrt(static_cast<float>(kHeadDim))};
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    model::paged_attention(shape, tokens, q.data(), k_new.data(), v_new.data(), k_cache.data(),
                           v_cache.data(), tables.data(), offsets.data(), positions.data(),
                           out.data(), static_cast<int>(state.range(2)));
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_AttentionPaged16InOrder(benchmark::State& state) {
  run_attention(state, 16, Layout::kInOrder);
}
void BM_AttentionPaged16Reversed(benchmark::State& state) {
  run_attention(state, 16, Layout::kReversed);
}
void BM_AttentionPaged16Shuffled(benchmark::State& state) {
  run_attention(state, 16, Layout::kShuffled);
}
void BM_AttentionContiguous(benchmark::State& state) {
  run_attention(state, kMaxLen, Layout::kInOrder);
}

// Both cores, as the daemon runs; and one thread, whose time holds up better on a host that
// is busy with other work (no barrier waits for a descheduled partner).
void attention_args(benchmark::internal::Benchmark* b) {
  for (const int64_t threads : {2, 1}) {
    for (const int64_t tokens : {1, 16}) {
      for (const int64_t context : {160, 1024}) b->Args({tokens, context, threads});
    }
  }
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_AttentionPaged16InOrder)->Apply(attention_args);
BENCHMARK(BM_AttentionPaged16Reversed)->Apply(attention_args);
BENCHMARK(BM_AttentionPaged16Shuffled)->Apply(attention_args);
BENCHMARK(BM_AttentionContiguous)->Apply(attention_args);

}  // namespace
}  // namespace ringserve::bench
