// The small-batch product for AVX2 + FMA. From 8 inputs on, 3 weight rows x 4 inputs = 12
// accumulators, 3 weight vectors and 1 input vector fill the 16 ymm registers. Below 8 inputs,
// where the product is bound by reading the weights, one row at a time streamed faster on the
// Zen 5 VM (batch 4, GPT-2-small products: 14.9 ms against 19.4 ms; batch 16: 37.9 against
// 30.3 ms the other way round; both measured with an ad hoc sweep of tiles).
#pragma GCC target("avx2,fma")

#include <immintrin.h>

#include "engine/kernels/avx2_lanes.h"
#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {
namespace {

template <int Rows>
struct Avx2 {
  using V = __m256;
  static constexpr int kWidth = 8;
  static constexpr int kRows = Rows;
  static constexpr int kInputs = 4;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V fma(V a, V b, V acc) { return _mm256_fmadd_ps(a, b, acc); }
  static float sum(V v) { return avx2::sum(v); }
};

// Below this many inputs the one-row tile, from it on the 3 x 4 tile (see the top).
constexpr int kFullTileFromInputs = 8;
using OneRowTile = Avx2<1>;
using FullTile = Avx2<3>;

}  // namespace

int small_batch_tile_rows_avx2(int batch) {
  return batch < kFullTileFromInputs ? OneRowTile::kRows : FullTile::kRows;
}

void small_batch_rows_avx2(const float* x, int batch, const float* w, int64_t k, const float* bias,
                           float* y, int64_t n, int64_t row_begin, int64_t row_end,
                           int64_t prefetch_end) {
  if (batch < kFullTileFromInputs) {
    small_batch::rows<OneRowTile>(x, batch, w, k, bias, y, n, row_begin, row_end, prefetch_end);
  } else {
    small_batch::rows<FullTile>(x, batch, w, k, bias, y, n, row_begin, row_end, prefetch_end);
  }
}

}  // namespace ringserve::model
