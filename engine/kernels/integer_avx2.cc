// The integer product over Q8_0 / Q4_0 blocks (integer_tile.h) for AVX2, and for AVX-512 CPUs
// without VNNI: vpmaddubsw multiplies 32 unsigned by signed byte pairs into 16-bit pair sums,
// vpmaddwd adds those into int32 lanes. The pair sums must fit 16 bits: Q4_0's nibbles
// (0..15) do as they are; Q8_0's weights go in as |w| with q_x given w's sign (vpsignb), so no
// offset (255 * 127 * 2 would not fit). Two blocks a group; a tile of 1 weight row x 4 inputs
// (Q8_0's group takes four of the 16 ymm registers).
#pragma GCC target("avx2,fma,f16c")

#include <immintrin.h>

#include "engine/kernels/avx2_lanes.h"
#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/integer_tile.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ8_0;

struct Avx2Integer {
  using V = __m256;
  using I = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kGroupBlocks = 2;
  static constexpr int kRows = 1;
  static constexpr int kInputs = 4;
  static constexpr int32_t kQ8Offset = 0;

  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static I load_i(const int32_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static V cvt(I v) { return _mm256_cvtepi32_ps(v); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V acc) { return _mm256_fmadd_ps(a, b, acc); }
  static float sum(V v) { return avx2::sum(v); }

  static V scales(uint16_t s0, uint16_t s1) {
    const __m128 two = _mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<int>(s0 | (uint32_t{s1} << 16))));
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(two),
                                    _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
  }
  // acc + the int32 sums of four unsigned x signed byte pairs a lane.
  static I dot(I acc, I unsigned_bytes, I signed_bytes) {
    const I pairs = _mm256_maddubs_epi16(unsigned_bytes, signed_bytes);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
  }
  static I load_bytes(const int8_t* x) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  }

  struct Q8Group {
    I first, second;          // the weights, for their signs
    I first_abs, second_abs;  // |w|
    V scale;
  };
  static Q8Group load_q8(const BlockQ8_0* b) {
    const I b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[0].q));
    const I b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[1].q));
    const I first = _mm256_permute2x128_si256(b0, b1, 0x20);
    const I second = _mm256_permute2x128_si256(b0, b1, 0x31);
    return {first, second, _mm256_abs_epi8(first), _mm256_abs_epi8(second),
            scales(b[0].scale, b[1].scale)};
  }
  template <int Part>
  static I dot_q8(I acc, const Q8Group& g, const int8_t* x) {
    const I w = Part == 0 ? g.first : g.second;
    return dot(acc, Part == 0 ? g.first_abs : g.second_abs, _mm256_sign_epi8(load_bytes(x), w));
  }

  struct Q4Group {
    I first, second;  // nibbles
    V scale;
  };
  static Q4Group load_q4(const BlockQ4_0* b) {
    const I q = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[0].q))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[1].q)), 1);
    const I low = _mm256_set1_epi8(0x0f);
    return {_mm256_and_si256(q, low), _mm256_and_si256(_mm256_srli_epi16(q, 4), low),
            scales(b[0].scale, b[1].scale)};
  }
  template <int Part>
  static I dot_q4(I acc, const Q4Group& g, const int8_t* x) {
    return dot(acc, Part == 0 ? g.first : g.second, load_bytes(x));
  }

  // 16 int32 (each in [-127, 127]) to 16 bytes in order.
  static __m128i narrow(I lo, I hi) {
    const I words = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xd8);
    return _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
  }
  static int32_t sum_i(I v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
  }

  // quant::quantize_activation_block, in vectors (see integer_avx512.cc).
  static void quantize_block(const float* x, int8_t* first, int8_t* second, float* d,
                             int32_t* sum) {
    V v[4];
    for (int64_t i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + (8 * i));
    const V sign = _mm256_set1_ps(-0.0f);
    V m = _mm256_andnot_ps(sign, v[0]);
    for (int i = 1; i < 4; ++i) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    const float amax = avx2::max(m);
    const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
    *d = amax / 127.0f;
    I q[4];
    for (int i = 0; i < 4; ++i)
      q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(inverse)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(first), narrow(q[0], q[1]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(second), narrow(q[2], q[3]));
    *sum = sum_i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
  }
};

}  // namespace

int64_t quantized_input_bytes_avx2(int64_t k) {
  return small_batch::quantized_input_bytes<Avx2Integer>(k);
}

void quantize_inputs_avx2(quant::WeightFormat format, const float* x, int batch, int64_t k,
                          void* out) {
  small_batch::quantize_inputs<Avx2Integer>(small_batch::integer_offset<Avx2Integer>(format), x,
                                            batch, k, out);
}

int integer_tile_rows_avx2() { return Avx2Integer::kRows; }

void integer_rows_avx2(quant::WeightFormat format, const void* x, int batch, const char* w,
                       int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                       int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  small_batch::integer_rows<Avx2Integer>(format, x, batch, w, row_stride, k, bias, y, n, row_begin,
                                         row_end, prefetch_end);
}

}  // namespace ringserve::model
