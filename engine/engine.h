// Engine: a decoder-only transformer (GPT-2 or Llama family) in libtorch with a paged KV cache,
// and one batched forward used for everything: prompt prefill (whole or a chunk), one decode
// token per running sequence, or both mixed in one call. The tokens of all inputs are packed
// into one [T, hidden] matrix so every weight is read once per step; attention runs per input
// against that input's own cache positions, so inputs of different lengths need no padding and
// see nothing of each other.
//
// The KV cache is one pool of blocks of kKvBlockPositions positions each (per layer, keys and
// values [kv_heads, blocks, kKvBlockPositions, head_dim]), preallocated at create(). The engine
// does not decide who holds which block: each input brings its block table, the ids of the
// blocks that hold its positions [0, 16), [16, 32), ... in order (the daemon's KvBlockPool hands
// them out and shares full blocks between sequences with the same prefix). Attention reads the
// blocks where they are, on the CPU kernels and through ATen alike (docs/ARCHITECTURE.md, "KV
// cache").
//
// This header does not include torch (it costs ~20 s per translation unit): only engine.cc does.
//
// Thread-safety: one thread calls forward() at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/engine_options.h"
#include "engine/model/model_config.h"

namespace ringserve::model {

class ModelWeights;

// Positions per KV cache block: small enough that a shared prefix loses at most 15 positions
// to its partial last block, large enough that a block of one kv head (16 x head_dim floats, 4
// KB at head_dim 64) is a run of whole pages of the hardware prefetcher's.
inline constexpr int64_t kKvBlockPositions = 16;
// The ATen attention path reads a block table of up to this many runs of consecutive block ids
// as views of the cache, one pair of products per run; a table in more pieces is gathered into
// one copy, which costs less than that many small products on a GPU (a kernel launch each).
inline constexpr int64_t kAtenInPlaceRuns = 4;

// One sequence's part of a forward: `tokens` go to positions [position, position +
// tokens.size()) of the sequence whose cache blocks are `blocks` (position p in block
// blocks[p / kKvBlockPositions]); the cache must already hold positions [0, position).
// all_logits: the logits of every one of its tokens, not only the last (scoring a text, as
// `ringserve-bench quality` does).
struct EngineInput {
  std::span<const int32_t> blocks;
  int32_t position = 0;
  std::span<const int32_t> tokens;
  bool all_logits = false;
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Builds the model from checked weights. False with *error on a bad option (unknown device
  // or dtype, CUDA without a CUDA libtorch) or when the cache does not fit.
  static bool create(const ModelConfig& config, const ModelWeights& weights,
                     const EngineOptions& options, std::unique_ptr<Engine>* out,
                     std::string* error);

  // Runs every input and writes the logits of each input's last token (of each of its tokens
  // with all_logits), float32, a row of vocab_size() each, in input order. No block may be
  // written by two inputs (blocks before an input's `position` may be shared: they are only
  // read), and position + tokens.size() <= max_seq_len() with a block table that covers it
  // (callers check; violations throw, as do device errors such as running out of memory).
  virtual void forward(std::span<const EngineInput> inputs, std::vector<float>* logits) = 0;

  virtual const ModelConfig& config() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t max_seq_len() const = 0;
  virtual int64_t max_sequences() const = 0;  // EngineOptions::max_sequences
  virtual int64_t kv_blocks() const = 0;      // blocks in the KV cache pool
  // Blocks [s * P, (s + 1) * P) for P = blocks_per_sequence(), which covers max_seq_len(): a
  // fixed block table for callers that give each sequence a whole context of its own (tests,
  // benchmarks). s < kv_blocks() / P.
  int64_t blocks_per_sequence() const {
    return (max_seq_len() + kKvBlockPositions - 1) / kKvBlockPositions;
  }
  virtual std::span<const int32_t> slot_blocks(int64_t s) const = 0;
  virtual uint64_t weight_bytes() const = 0;    // as held on the device, in the weights' format
  virtual uint64_t kv_cache_bytes() const = 0;  // preallocated at create()
  uint64_t kv_block_bytes() const { return kv_cache_bytes() / static_cast<uint64_t>(kv_blocks()); }
  virtual std::string device_name() const = 0;
  virtual std::string dtype_name() const = 0;  // the weights' format: model.dtype
  virtual int threads() const = 0;
  // Which matrix products the engine runs: "small-batch kernel avx512" (or avx2) up to
  // small_batch_max_rows() rows and BLAS above, or "ATen" for everything.
  virtual std::string products_name() const = 0;
  // The small-batch kernel (AVX-512 or AVX2/FMA, chosen at run time) for decode-sized float32
  // products on the CPU (on by default where the CPU has one); off = BLAS for everything.
  // Returns whether it is now on. Weights held in another format on the CPU have no other path:
  // the kernel stays on.
  virtual bool use_small_batch_kernel(bool on) = 0;
  // Attention through the paged kernel (cpu_kernels.h, reading the cache blocks in place; on by
  // default on a CPU with AVX2 and FMA, whatever the products run on) or through ATen (which
  // reads each sequence's blocks in place while they lie in a few runs of consecutive ids, as the
  // pool hands them out: CUDA's path). Returns whether the kernel is now on. For tests and
  // benchmarks of the ATen path on the CPU.
  virtual bool use_paged_attention_kernel(bool on) = 0;
  // How many times the ATen path copied a sequence's keys and values out of the pool (one per
  // sequence and layer whose block table lies in more than kAtenInPlaceRuns runs).
  virtual uint64_t attention_copies() const = 0;
  // Seconds spent in attention (stores, scores, softmax, weighted sums) since create(), all
  // layers: benchmarks show it beside the whole step (on CUDA, the time to launch it).
  virtual double attention_seconds() const = 0;
};

// True when libtorch was built with CUDA and a device is visible.
bool cuda_available();

}  // namespace ringserve::model
