// The integer product over Q8_0 / Q4_0 blocks (integer_tile.h) for AVX-512 with VNNI (Ice Lake,
// Zen 4 and later): one vpdpbusd multiplies 64 byte pairs, the first or last 16 weights of four
// blocks. A tile of 2 weight rows x 4 inputs: 8 accumulators, 2 x 3 group vectors.
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
// GCC 12's avx512fintrin.h builds several intrinsics on a deliberately undefined vector and then
// warns about it once inlined (a false positive fixed in later GCCs; see small_batch_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/integer_tile.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ8_0;

struct Avx512Vnni {
  using V = __m512;
  using I = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kGroupBlocks = 4;
  static constexpr int kRows = 2;
  static constexpr int kInputs = 4;
  static constexpr int32_t kQ8Offset = 128;  // weights w ^ 0x80 = w + 128, unsigned

  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static I load_i(const int32_t* p) { return _mm512_loadu_si512(p); }
  static V cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float sum(V v) { return _mm512_reduce_add_ps(v); }

  // The four blocks' float16 scales, each in its block's four lanes.
  static V scales(uint16_t s0, uint16_t s1, uint16_t s2, uint16_t s3) {
    const uint64_t halves = s0 | (uint64_t{s1} << 16) | (uint64_t{s2} << 32) | (uint64_t{s3} << 48);
    const __m128 four = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<int64_t>(halves)));
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(four));
  }
  static I dot(I acc, I weights, const int8_t* x) {
    return _mm512_dpbusd_epi32(acc, weights, _mm512_loadu_si512(x));
  }

  struct Q8Group {
    I first, second;  // weights + 128
    V scale;
  };
  static __m256i half(const BlockQ8_0& block) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.q));
  }
  static Q8Group load_q8(const BlockQ8_0* b) {
    // [block 0 | block 1] and [block 2 | block 3], 128 bits = 16 weights a lane, then the
    // first lanes of all four and the second ones.
    const __m512i b01 = _mm512_inserti64x4(_mm512_castsi256_si512(half(b[0])), half(b[1]), 1);
    const __m512i b23 = _mm512_inserti64x4(_mm512_castsi256_si512(half(b[2])), half(b[3]), 1);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    return {_mm512_xor_si512(_mm512_shuffle_i64x2(b01, b23, 0x88), flip),
            _mm512_xor_si512(_mm512_shuffle_i64x2(b01, b23, 0xdd), flip),
            scales(b[0].scale, b[1].scale, b[2].scale, b[3].scale)};
  }
  template <int Part>
  static I dot_q8(I acc, const Q8Group& g, const int8_t* x) {
    return dot(acc, Part == 0 ? g.first : g.second, x);
  }

  struct Q4Group {
    I first, second;  // nibbles
    V scale;
  };
  static __m128i quarter(const BlockQ4_0& block) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(block.q));
  }
  static Q4Group load_q4(const BlockQ4_0* b) {
    __m512i q = _mm512_castsi128_si512(quarter(b[0]));
    q = _mm512_inserti32x4(q, quarter(b[1]), 1);
    q = _mm512_inserti32x4(q, quarter(b[2]), 2);
    q = _mm512_inserti32x4(q, quarter(b[3]), 3);
    const __m512i low = _mm512_set1_epi8(0x0f);
    return {_mm512_and_si512(q, low), _mm512_and_si512(_mm512_srli_epi16(q, 4), low),
            scales(b[0].scale, b[1].scale, b[2].scale, b[3].scale)};
  }
  template <int Part>
  static I dot_q4(I acc, const Q4Group& g, const int8_t* x) {
    return dot(acc, Part == 0 ? g.first : g.second, x);
  }

  // quant::quantize_activation_block, in vectors: the same float32 operations, and cvtps
  // rounds to nearest even as rint does.
  static void quantize_block(const float* x, int8_t* first, int8_t* second, float* d,
                             int32_t* sum) {
    const __m512 a = _mm512_loadu_ps(x);
    const __m512 b = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
    *d = amax / 127.0f;
    const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(inverse)));
    const __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, _mm512_set1_ps(inverse)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(first), _mm512_cvtepi32_epi8(qa));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(second), _mm512_cvtepi32_epi8(qb));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
  }
};

}  // namespace

int64_t quantized_input_bytes_avx512(int64_t k) {
  return small_batch::quantized_input_bytes<Avx512Vnni>(k);
}

void quantize_inputs_avx512(quant::WeightFormat format, const float* x, int batch, int64_t k,
                            void* out) {
  small_batch::quantize_inputs<Avx512Vnni>(small_batch::integer_offset<Avx512Vnni>(format), x,
                                           batch, k, out);
}

int integer_tile_rows_avx512() { return Avx512Vnni::kRows; }

void integer_rows_avx512(quant::WeightFormat format, const void* x, int batch, const char* w,
                         int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                         int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  small_batch::integer_rows<Avx512Vnni>(format, x, batch, w, row_stride, k, bias, y, n, row_begin,
                                        row_end, prefetch_end);
}

}  // namespace ringserve::model
