// The small-batch product for AVX2 + FMA. From 8 inputs on, 3 weight rows x 4 inputs = 12
// accumulators, 3 weight vectors and 1 input vector fill the 16 ymm registers. Below 8 inputs,
// where the product is bound by reading the weights, one row at a time streamed faster on the
// Zen 5 VM (batch 4, GPT-2-small products: 14.9 ms against 19.4 ms; batch 16: 37.9 against
// 30.3 ms the other way round; both measured with an ad hoc sweep of tiles).
#pragma GCC target("avx2,fma,f16c")

#include <immintrin.h>

#include "engine/kernels/avx2_lanes.h"
#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/packed_tile.h"
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

// 16-bit weights (packed_tile.h): one row x up to 4 inputs (more go through the float32 tile on
// widened rows). At one input, where decode was bound by widening the weights, one row at a
// time beat 2 and 4 rows on the Zen 5 VM (TinyLlama's products, then in int8: 43 ms against 61
// and 49 ms).
struct Avx2Packed : Avx2<1> {
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V widen_bf16(const uint16_t* p) {
    const __m256i wide =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
  }
  static V widen_f16(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
};

}  // namespace

int small_batch_tile_rows_avx2(int batch) {
  return batch < kFullTileFromInputs ? OneRowTile::kRows : FullTile::kRows;
}

void small_batch_rows_avx2(const float* x, int batch, const float* w, int64_t k, const float* bias,
                           float* y, int64_t n, int64_t row_begin, int64_t row_end,
                           int64_t prefetch_end) {
  const auto* bytes = reinterpret_cast<const char*>(w);
  const int64_t stride = k * int64_t{sizeof(float)};
  if (batch < kFullTileFromInputs) {
    small_batch::rows<OneRowTile>(x, batch, bytes, stride, k, bias, y, n, row_begin, row_end,
                                  prefetch_end);
  } else {
    small_batch::rows<FullTile>(x, batch, bytes, stride, k, bias, y, n, row_begin, row_end,
                                prefetch_end);
  }
}

int packed_tile_rows_avx2(int /*batch*/) { return Avx2Packed::kRows; }

void packed_rows_avx2(quant::WeightFormat format, const float* x, int batch, const char* w,
                      int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                      int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  small_batch::packed_rows<Avx2Packed, FullTile>(format, x, batch, w, row_stride, k, bias, y, n,
                                                 row_begin, row_end, prefetch_end);
}

}  // namespace ringserve::model
