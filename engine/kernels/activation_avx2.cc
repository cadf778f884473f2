// GELU and softmax (activation_simd.h) for AVX2 + FMA.
#pragma GCC target("avx2,fma")

#include <immintrin.h>

#include "engine/kernels/activation_simd.h"
#include "engine/kernels/avx2_lanes.h"
#include "engine/kernels/cpu_kernels_isa.h"

namespace ringserve::model {
namespace {

struct Avx2 {
  using V = __m256;
  static constexpr int kWidth = 8;
  static V set1(float f) { return _mm256_set1_ps(f); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static V round(V v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  // 2^n built in the exponent field: n + 127 in [1, 254] for the n exp() produces.
  static V scale(V p, V n) {
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
  }
  static float sum(V v) { return avx2::sum(v); }
  static float max_of(V v) { return avx2::max(v); }
};

}  // namespace

void gelu_tanh_avx2(float* x, int64_t n) { activation::gelu_tanh_inplace<Avx2>(x, n); }
void softmax_avx2(float* x, int64_t n) { activation::softmax_inplace<Avx2>(x, n); }

}  // namespace ringserve::model
