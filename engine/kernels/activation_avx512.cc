// GELU (activation_simd.h) for AVX-512F.
#pragma GCC target("avx512f,avx2,fma")
// GCC 12's avx512fintrin.h builds several intrinsics on a deliberately undefined vector and then
// warns about it once inlined (a false positive fixed in later GCCs; see small_batch_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include "engine/kernels/activation_simd.h"
#include "engine/kernels/cpu_kernels_isa.h"

namespace ringserve::model {
namespace {

struct Avx512 {
  using V = __m512;
  static constexpr int kWidth = 16;
  static V set1(float f) { return _mm512_set1_ps(f); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static V round(V v) {
    return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  }
  static V scale(V p, V n) { return _mm512_scalef_ps(p, n); }
};

}  // namespace

void gelu_tanh_avx512(float* x, int64_t n) { activation::gelu_tanh_inplace<Avx512>(x, n); }

}  // namespace ringserve::model
