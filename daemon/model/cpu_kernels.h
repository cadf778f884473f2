// CPU kernels for decode-sized matrix products, where BLAS does badly: with a handful of rows
// GEMM packs (copies) the whole weight matrix before multiplying, so a decode step reads every
// weight two to three times. These read each weight once and keep every input row's
// accumulator in registers, so small batches cost what one row costs: the weights' bytes.
// No torch here; the engine splits the rows over its threads.
#pragma once

#include <cstdint>

namespace ringserve::model {

// Largest batch (rows of x) the small-batch kernel is used for.
inline constexpr int kSmallBatchMax = 16;

// True if this CPU runs the AVX2/FMA kernel.
bool small_batch_kernel_available();

// y[b * n + r] = dot(x[b * k ...], w[r * k ...]) + (bias ? bias[r] : 0), for rows r in
// [row_begin, row_end) and b in [0, batch). x: [batch, k]; w: [n, k]; all row-major float32.
void small_batch_matmul(const float* x, int batch, const float* w, int64_t k, const float* bias,
                        float* y, int64_t n, int64_t row_begin, int64_t row_end);

// The same over all n rows, split over `threads` OpenMP threads (the pool BLAS uses too).
void small_batch_matmul_parallel(const float* x, int batch, const float* w, int64_t k,
                                 const float* bias, float* y, int64_t n, int threads);

// Attention for a decode step (one new token per sequence), float32, straight on the KV cache:
// appends each token's key and value at its position, then for every query head computes
// softmax(q . K / sqrt(d)) V over the positions so far. One task per (token, kv head), split
// over `threads`; no tensor is created, which is what makes it pay: the operator-per-step path
// costs about eight small ATen calls per sequence and layer.
struct DecodeAttentionShape {
  int64_t heads;
  int64_t kv_heads;  // heads / kv_heads query heads share one kv head (repeat_kv order)
  int64_t head_dim;
  int64_t max_len;  // the cache's positions per sequence
  float scale;
};

// q: [tokens, heads, head_dim]; k_new, v_new: [tokens, kv_heads, head_dim]; caches:
// [slots, kv_heads, max_len, head_dim]; out: [tokens, heads * head_dim]. Token t belongs to
// cache row slots[t] and sits at positions[t] (its context is positions[t] + 1).
void decode_attention(const DecodeAttentionShape& shape, int64_t tokens, const float* q,
                      const float* k_new, const float* v_new, float* k_cache, float* v_cache,
                      const int32_t* slots, const int32_t* positions, float* out, int threads);

}  // namespace ringserve::model
