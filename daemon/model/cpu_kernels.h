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

}  // namespace ringserve::model
