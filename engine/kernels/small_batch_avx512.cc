// The small-batch product for AVX-512F: 6 weight rows x 4 inputs = 24 accumulators, 6 weight
// vectors and 1 input vector in the 32 zmm registers. On the Zen 5 VM of docs/BENCHMARKS.md
// this tile did the GPT-2-small products at batch 16 in 18 ms against 33 ms for the AVX2
// one-row kernel it replaced (an ad hoc sweep of tiles 1x8 .. 8x4; 6x4 and 5x4 were best).
#pragma GCC target("avx512f,avx2,fma,f16c")
// GCC 12's avx512fintrin.h builds _mm512_reduce_add_ps on a deliberately undefined vector and
// then warns about it once inlined (a false positive fixed in later GCCs).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/packed_tile.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kWidth = 16;
  static constexpr int kRows = 6;
  static constexpr int kInputs = 4;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float sum(V v) { return _mm512_reduce_add_ps(v); }
};

// 16-bit weights (packed_tile.h): one row x up to 4 inputs (more go through the float32 tile on
// widened rows). At one input, where decode was bound by widening the weights, one row at a
// time beat 2 and 4 rows on the Zen 5 VM (TinyLlama's products, then in int8: 43 ms against 61
// and 49 ms).
struct Avx512Packed : Avx512 {
  static constexpr int kRows = 1;
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V widen_bf16(const uint16_t* p) {
    const __m512i wide =
        _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
  static V widen_f16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};

}  // namespace

int small_batch_tile_rows_avx512(int /*batch*/) { return Avx512::kRows; }

void small_batch_rows_avx512(const float* x, int batch, const float* w, int64_t k,
                             const float* bias, float* y, int64_t n, int64_t row_begin,
                             int64_t row_end, int64_t prefetch_end) {
  small_batch::rows<Avx512>(x, batch, reinterpret_cast<const char*>(w), k * int64_t{sizeof(float)},
                            k, bias, y, n, row_begin, row_end, prefetch_end);
}

int packed_tile_rows_avx512(int /*batch*/) { return Avx512Packed::kRows; }

void packed_rows_avx512(quant::WeightFormat format, const float* x, int batch, const char* w,
                        int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                        int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  small_batch::packed_rows<Avx512Packed, Avx512>(format, x, batch, w, row_stride, k, bias, y, n,
                                                 row_begin, row_end, prefetch_end);
}

}  // namespace ringserve::model
