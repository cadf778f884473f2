// The small-batch product for AVX-512F: 6 weight rows x 4 inputs = 24 accumulators, 6 weight
// vectors and 1 input vector in the 32 zmm registers. On the Zen 5 VM of docs/BENCHMARKS.md
// this tile did the GPT-2-small products at batch 16 in 18 ms against 33 ms for the AVX2
// one-row kernel it replaced (an ad hoc sweep of tiles 1x8 .. 8x4; 6x4 and 5x4 were best).
#pragma GCC target("avx512f,avx2,fma")
// GCC 12's avx512fintrin.h builds _mm512_reduce_add_ps on a deliberately undefined vector and
// then warns about it once inlined (a false positive fixed in later GCCs).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "engine/kernels/cpu_kernels_isa.h"
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

}  // namespace

int small_batch_tile_rows_avx512(int /*batch*/) { return Avx512::kRows; }

void small_batch_rows_avx512(const float* x, int batch, const float* w, int64_t k,
                             const float* bias, float* y, int64_t n, int64_t row_begin,
                             int64_t row_end, int64_t prefetch_end) {
  small_batch::rows<Avx512>(x, batch, w, k, bias, y, n, row_begin, row_end, prefetch_end);
}

}  // namespace ringserve::model
