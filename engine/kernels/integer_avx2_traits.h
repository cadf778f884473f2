// The integer product's traits (integer_tile.h) on 256-bit vectors, 8 rows to a vector (a
// group of 16 rows is two): AVX2, or AVX2 with AVX-VNNI (kVnni). Included only by
// integer_avx2.cc (Avx2Integer<false>, compiled for AVX2) and integer_avxvnni.cc
// (Avx2Integer<true>, compiled for AVX2 + AVX-VNNI): each instantiation lives in one translation
// unit, compiled for its own instruction set, so the linker never merges the two.
//
// Without VNNI, vpmaddubsw multiplies unsigned by signed byte pairs into 16-bit pair sums and
// vpmaddwd adds those into int32 lanes. The pair sums must fit 16 bits: Q4_0's nibbles (0..15)
// do as they are; Q8_0's weights go in as |w| with the input bytes given w's sign (vpsignb), so
// no offset (255 * 127 * 2 would not fit). With AVX-VNNI (Alder Lake and later, Zen 5), one
// VEX vpdpbusd does it into int32 directly, and Q8_0 goes in as w + 128 as on AVX-512. A tile
// of one group x 2 inputs: 2 x 2 accumulators, 2 x 2 x 2 sums and the weights in 16 ymm
// registers.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "engine/kernels/avx2_lanes.h"

namespace ringserve::model::small_batch {

template <bool kVnni>
struct Avx2Integer {
  using V = __m256;
  using I = __m256i;
  static constexpr int kLanes = 8;
  static constexpr int kInputs = 2;
  // With AVX-VNNI, Q8_0's weights go in as w ^ 0x80 = w + 128 (offset 128), as on AVX-512.
  static constexpr int32_t kQ8Offset = kVnni ? 128 : 0;

  static V zero() { return _mm256_setzero_ps(); }
  static I zero_i() { return _mm256_setzero_si256(); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static I set1_i(int32_t v) { return _mm256_set1_epi32(v); }
  static I add_i(I a, I b) { return _mm256_add_epi32(a, b); }
  static V cvt(I v) { return _mm256_cvtepi32_ps(v); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V acc) { return _mm256_fmadd_ps(a, b, acc); }
  static void store(float* p, V v) { _mm256_store_ps(p, v); }
  static V scales(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static I load(const char* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

  // acc + the int32 sums of four unsigned x signed byte pairs a lane.
  static I dot(I acc, I unsigned_bytes, I signed_bytes) {
    if constexpr (kVnni) {
      return _mm256_dpbusd_avx_epi32(acc, unsigned_bytes, signed_bytes);
    } else {
      const I pairs = _mm256_maddubs_epi16(unsigned_bytes, signed_bytes);
      return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
    }
  }

  struct Q8Weights {
    I signs;      // w, for its signs (without VNNI)
    I unsigned_;  // |w|, or with VNNI w + 128
  };
  static Q8Weights load_q8(const char* p) {
    const I w = load(p);
    if constexpr (kVnni) {
      return {w, _mm256_xor_si256(w, _mm256_set1_epi8(static_cast<char>(0x80)))};
    } else {
      return {w, _mm256_abs_epi8(w)};
    }
  }
  static I dot_q8(I acc, const Q8Weights& w, int32_t word) {
    if constexpr (kVnni) {
      return dot(acc, w.unsigned_, _mm256_set1_epi32(word));
    } else {
      return dot(acc, w.unsigned_, _mm256_sign_epi8(_mm256_set1_epi32(word), w.signs));
    }
  }
  struct Nibbles {
    I low, high;
  };
  static Nibbles load_q4(const char* p) {
    const I q = load(p);
    const I mask = _mm256_set1_epi8(0x0f);
    return {_mm256_and_si256(q, mask), _mm256_and_si256(_mm256_srli_epi16(q, 4), mask)};
  }
  static I dot_q4(I acc, I nibbles, int32_t word) {
    return dot(acc, nibbles, _mm256_set1_epi32(word));
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
  static void quantize_block(const float* x, int8_t* q8, float* d, int32_t* sum) {
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
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q8), narrow(q[0], q[1]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q8 + 16), narrow(q[2], q[3]));
    *sum = sum_i(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
  }
};

}  // namespace ringserve::model::small_batch
