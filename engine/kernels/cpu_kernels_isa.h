// The per-ISA entry points behind cpu_kernels.h's dispatch (one translation unit each, see
// small_batch_tile.h, activation_simd.h). Internal to the kernels library.
#pragma once

#include <cstdint>

#include "engine/quant/block_formats.h"

namespace ringserve::model {

// small_batch_rows_*: one block of rows, small_batch_tile.h's rows() with the ISA's tile for
// `batch` inputs; small_batch_tile_rows_*: that tile's height (its traits' kRows), which the
// caller sizes blocks in.
int small_batch_tile_rows_avx2(int batch);
int small_batch_tile_rows_avx512(int batch);
void small_batch_rows_avx2(const float* x, int batch, const float* w, int64_t k, const float* bias,
                           float* y, int64_t n, int64_t row_begin, int64_t row_end,
                           int64_t prefetch_end);
void small_batch_rows_avx512(const float* x, int batch, const float* w, int64_t k,
                             const float* bias, float* y, int64_t n, int64_t row_begin,
                             int64_t row_end, int64_t prefetch_end);

// packed_rows_*: the same over weights of a 16-bit or block format (packed_tile.h), rows
// row_stride bytes apart; packed_tile_rows_*: that tile's height.
int packed_tile_rows_avx2(int batch);
int packed_tile_rows_avx512(int batch);
void packed_rows_avx2(quant::WeightFormat format, const float* x, int batch, const char* w,
                      int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                      int64_t row_begin, int64_t row_end, int64_t prefetch_end);
void packed_rows_avx512(quant::WeightFormat format, const float* x, int batch, const char* w,
                        int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                        int64_t row_begin, int64_t row_end, int64_t prefetch_end);

// Bytes of one input of k columns quantized for the integer product: q (k bytes, block after
// block), then each block's d_x (float32), then each block's start (int32, integer_tile.h);
// rounded up to a cache line.
inline int64_t quantized_input_bytes(int64_t k) {
  const int64_t blocks = k / quant::kBlockWeights;
  return (k + (blocks * 8) + 63) / 64 * 64;
}

// The integer product over Q8_0 / Q4_0 weights held interleaved (integer_tile.h):
// quantize_inputs_* writes `batch` inputs of k columns quantized for `format` into out
// (quantized_input_bytes(k) bytes each); integer_rows_* is
// small_batch_rows_* over them, with w the whole matrix (quant::matrix_bytes) and any rows. The
// AVX-512 ones need AVX512BW and AVX512-VNNI besides AVX512F, the avxvnni ones AVX-VNNI
// besides AVX2.
void quantize_inputs_avx2(quant::WeightFormat format, const float* x, int batch, int64_t k,
                          void* out);
void quantize_inputs_avxvnni(quant::WeightFormat format, const float* x, int batch, int64_t k,
                             void* out);
void quantize_inputs_avx512(quant::WeightFormat format, const float* x, int batch, int64_t k,
                            void* out);
void integer_rows_avx2(quant::WeightFormat format, const void* x, int batch, const char* w,
                       int64_t k, const float* bias, float* y, int64_t n, int64_t row_begin,
                       int64_t row_end, int64_t prefetch_end);
void integer_rows_avxvnni(quant::WeightFormat format, const void* x, int batch, const char* w,
                          int64_t k, const float* bias, float* y, int64_t n, int64_t row_begin,
                          int64_t row_end, int64_t prefetch_end);
void integer_rows_avx512(quant::WeightFormat format, const void* x, int batch, const char* w,
                         int64_t k, const float* bias, float* y, int64_t n, int64_t row_begin,
                         int64_t row_end, int64_t prefetch_end);

// x[i] = GELU (tanh approximation) of x[i], i in [0, n); activation_simd.h.
void gelu_tanh_avx2(float* x, int64_t n);
void gelu_tanh_avx512(float* x, int64_t n);
// x = softmax(x) over n >= 1 floats; decode attention's (AVX2 code on both ISAs).
void softmax_avx2(float* x, int64_t n);

}  // namespace ringserve::model
