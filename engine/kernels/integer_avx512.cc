// The integer product over Q8_0 / Q4_0 weights (integer_tile.h) for AVX-512 with VNNI (Ice
// Lake, Zen 4 and later): one vpdpbusd adds the same 4 weights of 16 interleaved rows times 4
// bytes of an input to 16 row sums. A tile of one group of 16 rows x 4 inputs, two sums an input.
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

struct Avx512Vnni {
  using V = __m512;
  using I = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kInputs = 4;
  static constexpr int32_t kQ8Offset = 128;  // weights w ^ 0x80 = w + 128, unsigned

  static V zero() { return _mm512_setzero_ps(); }
  static I zero_i() { return _mm512_setzero_si512(); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static I set1_i(int32_t v) { return _mm512_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm512_add_epi32(a, b); }
  static V cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static void store(float* p, V v) { _mm512_store_ps(p, v); }
  static V scales(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }

  // acc + 16 rows' 4 unsigned weight bytes times the same 4 signed input bytes.
  static I dot(I acc, I weights, int32_t word) {
    return _mm512_dpbusd_epi32(acc, weights, _mm512_set1_epi32(word));
  }
  static I load_q8(const char* p) {
    return _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_set1_epi8(static_cast<char>(0x80)));
  }
  static I dot_q8(I acc, I weights, int32_t word) { return dot(acc, weights, word); }
  struct Nibbles {
    I low, high;
  };
  static Nibbles load_q4(const char* p) {
    const I q = _mm512_loadu_si512(p);
    const I mask = _mm512_set1_epi8(0x0f);
    return {_mm512_and_si512(q, mask), _mm512_and_si512(_mm512_srli_epi16(q, 4), mask)};
  }
  static I dot_q4(I acc, I nibbles, int32_t word) { return dot(acc, nibbles, word); }

  // quant::quantize_activation_block, in vectors: the same float32 operations, and cvtps
  // rounds to nearest even as rint does.
  static void quantize_block(const float* x, int8_t* q, float* d, int32_t* sum) {
    const __m512 a = _mm512_loadu_ps(x);
    const __m512 b = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
    *d = amax / 127.0f;
    const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(inverse)));
    const __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, _mm512_set1_ps(inverse)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(qa));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(qb));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
  }
};

}  // namespace

void quantize_inputs_avx512(quant::WeightFormat format, const float* x, int batch, int64_t k,
                            void* out) {
  small_batch::quantize_inputs<Avx512Vnni>(small_batch::integer_offset<Avx512Vnni>(format), x,
                                           batch, k, out);
}

void integer_rows_avx512(quant::WeightFormat format, const void* x, int batch, const char* w,
                         int64_t k, const float* bias, float* y, int64_t n, int64_t row_begin,
                         int64_t row_end, int64_t prefetch_end) {
  small_batch::integer_rows<Avx512Vnni>(format, x, batch, w, k, bias, y, n, row_begin, row_end,
                                        prefetch_end);
}

}  // namespace ringserve::model
