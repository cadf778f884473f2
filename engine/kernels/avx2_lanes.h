// Reductions over the eight lanes of an AVX2 vector, for the translation units compiled under
// `#pragma GCC target("avx2,fma")` (small_batch_avx2.cc, activation_avx2.cc). Internal linkage:
// each unit keeps its own copy, built for its own target, so no copy can be merged into code
// compiled for another ISA.
#pragma once

#include <immintrin.h>

namespace ringserve::model::avx2 {

namespace {

inline float sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace

}  // namespace ringserve::model::avx2
