// Turning rows of float32 weights into the formats of block_formats.h and back. The engine
// quantizes at load, one tensor at a time, from whatever the checkpoint holds (float32,
// bfloat16 or float16: the caller widens a row to float32 first), so loading needs the final
// size plus one row of scratch, not a float32 copy of the model.
//
// The scalar code here is also the reference the kernels are tested against: dequantize_row()
// gives exactly the weights a kernel must multiply by.
//
// Thread-safety: pure functions over caller-owned memory.
#pragma once

#include <cstdint>

#include "engine/quant/block_formats.h"

namespace ringserve::quant {

// Q8_0: per block, d = max|w| / 127 (rounded to float16), q = round(w / d).
void quantize_row_q8_0(const float* w, int64_t k, BlockQ8_0* out);

// Q4_0: per block, the weight of largest magnitude m maps to -8: d = m / -8 (rounded to
// float16), nibble = clamp(round(w / d) + 8, 0, 15). Using -8 for the extreme value spends
// the format's one extra negative level on it, which halves the step against max|w| / 7.
void quantize_row_q4_0(const float* w, int64_t k, BlockQ4_0* out);

// Writes a row of `format` (any of block_formats.h's) from float32: `out` has row_bytes(format,
// k) bytes.
void quantize_row(WeightFormat format, const float* w, int64_t k, void* out);

// The float32 weights a row of `format` stands for.
void dequantize_row(WeightFormat format, const void* row, int64_t k, float* out);

// A matrix as the engine holds it (matrix_bytes(format, n, k) bytes; block formats
// interleaved, see block_formats.h) from and to rows of row_bytes(format, k):
// interleave_rows() writes `count` <= kInterleavedRows consecutive rows (`rows`, one after the
// other) as one group at `group`, the rows past count zero; extract_row() copies row `row` of
// `matrix` out; dequantize_matrix_row() is dequantize_row() of that row.
void interleave_rows(WeightFormat format, const void* rows, int count, int64_t k, void* group);
void extract_row(WeightFormat format, const void* matrix, int64_t k, int64_t row, void* out);
void dequantize_matrix_row(WeightFormat format, const void* matrix, int64_t k, int64_t row,
                           float* out);

// How the integer products over Q8_0 / Q4_0 weights take their float32 inputs: each block of
// kBlockWeights to int8, d = max|x| / 127 and q = rint(x * (127 / max|x|)) (float32 operations,
// ties to even; an all-zero block gives d = 0 and q = 0). The product then multiplies the
// weights by d * q, not by x. The kernels do the same operations in vectors.
void quantize_activation_block(const float* x, int8_t* q, float* d);

}  // namespace ringserve::quant
