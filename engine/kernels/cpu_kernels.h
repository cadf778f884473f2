// CPU kernels for decode-sized matrix products, where BLAS does badly: with a handful of rows
// GEMM packs (copies) the whole weight matrix before multiplying, so a decode step reads every
// weight two to three times. These read each weight from memory once and multiply it, in
// registers, into a tile of input rows (small_batch_tile.h; AVX-512 or AVX2, chosen at run
// time), so a small batch costs little more than one row: the weights' bytes.
// No torch here; the engine splits the rows over its threads.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/quant/block_formats.h"

namespace ringserve::model {

// The instruction sets the small-batch kernel is written for, best last.
enum class KernelIsa { kNone, kAvx2, kAvx512 };

// Most rows of x the small-batch kernel is used for; BLAS takes larger products. Measured over
// GPT-2 small's layer products (docs/BENCHMARKS.md): on the Zen 5 VM the AVX-512 tile beat
// OpenBLAS GEMM at every size up to a 512-token prefill chunk (2.5x at 16 rows, 5% at 512),
// so that covers every step scheduler.max_batch_tokens allows by default. On the AVX2-only
// Zen 3 host the AVX2 tile wins up to 64 rows (2x at 28), ties at 128, and loses from 256 on
// (455 against 371 ms at 256 rows, 789 against 676 at 450).
inline constexpr int kSmallBatchMaxRows = 512;
inline constexpr int kSmallBatchMaxRowsAvx2 = 160;
inline constexpr int small_batch_max_rows(KernelIsa isa) {
  return isa == KernelIsa::kAvx512 ? kSmallBatchMaxRows : kSmallBatchMaxRowsAvx2;
}

// The best one this CPU runs (kNone: use BLAS).
KernelIsa best_kernel_isa();
const char* to_string(KernelIsa isa);

// y[b * n + r] = dot(x[b * k ...], w[r * k ...]) + (bias ? bias[r] : 0), for rows r in
// [row_begin, row_end) and b in [0, batch). x: [batch, k]; w: [n, k]; all row-major float32.
// `isa` must be one this CPU runs, not kNone. The rows are one block, gone over once per group
// of four inputs: with more than four, the weights come from memory once only if the block
// stays in L2 (small_batch_matmul_parallel's blocks do). Rows [row_end, prefetch_end) are the
// caller multiplies next on this thread: the kernel starts reading as many of them as it has
// rows from memory while it works (prefetch_end <= row_end: it does not).
void small_batch_matmul(KernelIsa isa, const float* x, int batch, const float* w, int64_t k,
                        const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                        int64_t prefetch_end);

// The same over all n rows, in blocks of up to 64 KB of weights (whole tiles) split over
// `threads` OpenMP threads (the pool BLAS uses too): a contiguous run of blocks each, the first
// to finish taking blocks from the others' runs.
void small_batch_matmul_parallel(KernelIsa isa, const float* x, int batch, const float* w,
                                 int64_t k, const float* bias, float* y, int64_t n, int threads);

// A weight matrix [n, k] as the engine holds it, quant::matrix_bytes(format, n, k) bytes: n rows
// of quant::row_bytes(format, k) bytes, row after row (float32, bfloat16, float16), or GGUF's
// Q8_0 / Q4_0 blocks along each row with the rows interleaved 16 at a time (block_formats.h);
// k a multiple of quant::kBlockWeights for every format but float32.
struct PackedMatrix {
  quant::WeightFormat format = quant::WeightFormat::kFloat32;
  const void* data = nullptr;
  int64_t n = 0;
  int64_t k = 0;
};

// small_batch_matmul(_parallel) over a matrix of any format: y[b * n + r] = dot(x[b], W[r]) +
// bias[r], the packed bytes read from memory once per call as above. The float32 format is the
// float32 product. The 16-bit formats: W the float32 weights they stand for
// (quant::dequantize_row), widened in registers. The block formats (Q8_0, Q4_0): integer dot
// products (AVX512-VNNI, else AVX2) of their blocks with x quantized the same way, once per call
// (quant::quantize_activation_block): dot(d * q of x[b], W[r]). Any batch: above
// small_batch_max_rows() the packed formats have no BLAS to go to, and the tile still reads each
// weight once per group of four inputs.
void packed_matmul(KernelIsa isa, const float* x, int batch, const PackedMatrix& w,
                   const float* bias, float* y, int64_t row_begin, int64_t row_end,
                   int64_t prefetch_end);
void packed_matmul_parallel(KernelIsa isa, const float* x, int batch, const PackedMatrix& w,
                            const float* bias, float* y, int threads);

// What the block formats' integer product runs on under `isa`: "avx512-vnni" (AVX-512 with
// VNNI and BW), else "avx-vnni" (AVX2 with AVX-VNNI: Alder Lake and later, Zen 5), else "avx2".
const char* integer_kernel_name(KernelIsa isa);

// The integer product's instruction sets. By default (kAuto) each call takes the best one for
// its KernelIsa; force_integer_kernel() makes every later call in the process take the one
// given (one of runnable_integer_kernels(), or kAuto again): for tests and benchmarks of the
// fallbacks on a CPU that has better.
enum class IntegerKernel : uint8_t { kAuto, kAvx2, kAvxVnni, kAvx512Vnni };
std::vector<IntegerKernel> runnable_integer_kernels();
void force_integer_kernel(IntegerKernel kernel);

// x[i] = 0.5 x[i] (1 + tanh(sqrt(2 / pi) (x[i] + 0.044715 x[i]^3))), GPT-2's activation, in
// place over n floats, on up to `threads` OpenMP threads for large n. Within a few ulps of the
// formula (times its own sensitivity to rounding in the far negative tail, where ATen's
// 0.5 x (1 + tanh) loses most digits to cancellation), and the same bits for an element wherever
// it sits in x and whichever ISA runs it.
void gelu_tanh(KernelIsa isa, float* x, int64_t n, int threads);

// Attention straight on the paged KV cache, float32: stores each token's key and value at its
// position, then for every query head computes softmax(q . K / sqrt(d)) V over the token's
// positions so far (its own included: causal within a prompt chunk). Works for decode tokens
// and prompt chunks alike: a token is one query at one position, whatever else is in the call.
// One task per (token, kv head), split over `threads`; no tensor is created and nothing is
// copied but the new keys and values: the operator-per-step path costs about eight small ATen
// calls per sequence and layer, and gathering a sequence's blocks would copy its whole context.
struct PagedAttentionShape {
  int64_t heads;
  int64_t kv_heads;  // heads / kv_heads query heads share one kv head (repeat_kv order)
  int64_t head_dim;
  int64_t block_positions;  // positions per cache block
  int64_t blocks;           // blocks in the cache
  float scale;
};

// q: [tokens, heads, head_dim]; k_new, v_new: [tokens, kv_heads, head_dim]; k_cache, v_cache:
// [kv_heads, blocks, block_positions, head_dim] (a head's blocks side by side: in [blocks,
// kv_heads, ...] a head's blocks would all sit at one offset modulo kv_heads blocks, in a
// fraction of the L2 cache's sets, and its keys and values -- read once per query head of its
// group -- no longer fit: 1.4x slower at 1,024 positions); out: [tokens, heads * head_dim].
// Token t sits at
// positions[t] of the sequence whose block table starts at block_tables + table_offsets[t]
// (position p in block table[p / block_positions]). Tokens of one sequence share its table; no
// two tokens may have the same (table, position).
void paged_attention(const PagedAttentionShape& shape, int64_t tokens, const float* q,
                     const float* k_new, const float* v_new, float* k_cache, float* v_cache,
                     const int32_t* block_tables, const int64_t* table_offsets,
                     const int32_t* positions, float* out, int threads);

}  // namespace ringserve::model
