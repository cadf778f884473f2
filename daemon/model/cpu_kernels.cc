#include "daemon/model/cpu_kernels.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "daemon/model/cpu_kernels_isa.h"

namespace ringserve::model {
namespace {

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = horizontal_sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// scores[j] = dot(q, keys + j * d) * scale for j in [0, count). Four keys at a time: four
// independent sums in flight instead of one FMA chain, and one horizontal reduction for all
// four instead of one per key.
__attribute__((target("avx2,fma"))) void scores_of(const float* q, const float* keys, int64_t d,
                                                   int64_t count, float scale, float* scores) {
  int64_t j = 0;
  if (d % 8 == 0) {
    for (; j + 4 <= count; j += 4) {
      const float* k0 = keys + j * d;
      __m256 a0 = _mm256_setzero_ps();
      __m256 a1 = a0;
      __m256 a2 = a0;
      __m256 a3 = a0;
      for (int64_t c = 0; c < d; c += 8) {
        const __m256 qv = _mm256_loadu_ps(q + c);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + c), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d + c), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + (2 * d) + c), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + (3 * d) + c), a3);
      }
      // hadd pairs, then fold the two 128-bit halves: lane i = sum of a_i.
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
      const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      _mm_storeu_ps(scores + j, _mm_mul_ps(sums, _mm_set1_ps(scale)));
    }
  }
  for (; j < count; ++j) scores[j] = dot(q, keys + j * d, d) * scale;
}

// out[0, d) = sum over j of weights[j] * values[j * d ...]. In 64-column slices, each held in
// eight registers across all positions, so a position costs its value loads and FMAs only, not
// a load and a store of the output as well.
__attribute__((target("avx2,fma"))) void weighted_sum(const float* weights, const float* values,
                                                      int64_t d, int64_t count, float* out) {
  int64_t c0 = 0;
  for (; c0 + 64 <= d; c0 += 64) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int m = 0; m < 8; ++m) acc[m] = _mm256_setzero_ps();
    for (int64_t j = 0; j < count; ++j) {
      const __m256 w = _mm256_set1_ps(weights[j]);
      const float* v = values + j * d + c0;
#pragma GCC unroll 8
      for (int64_t m = 0; m < 8; ++m)
        acc[m] = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + (8 * m)), acc[m]);
    }
#pragma GCC unroll 8
    for (int64_t m = 0; m < 8; ++m) _mm256_storeu_ps(out + c0 + (8 * m), acc[m]);
  }
  if (c0 == d) return;
  std::fill(out + c0, out + d, 0.0f);
  for (int64_t j = 0; j < count; ++j) {
    const float w = weights[j];
    const float* v = values + j * d;
    int64_t c = c0;
    for (; c + 8 <= d; c += 8) {
      _mm256_storeu_ps(out + c, _mm256_fmadd_ps(_mm256_set1_ps(w), _mm256_loadu_ps(v + c),
                                                _mm256_loadu_ps(out + c)));
    }
    for (; c < d; ++c) out[c] += w * v[c];
  }
}

}  // namespace

void decode_attention(const DecodeAttentionShape& shape, int64_t tokens, const float* q,
                      const float* k_new, const float* v_new, float* k_cache, float* v_cache,
                      const int32_t* slots, const int32_t* positions, float* out, int threads) {
  const int64_t d = shape.head_dim;
  const int64_t kv = shape.kv_heads;
  const int64_t group = shape.heads / kv;
  const int64_t jobs = tokens * kv;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> weights;
#pragma omp for schedule(static)
    for (int64_t job = 0; job < jobs; ++job) {
      const int64_t t = job / kv;
      const int64_t h = job % kv;
      const int64_t pos = positions[t];
      const int64_t context = pos + 1;
      float* keys = k_cache + ((slots[t] * kv + h) * shape.max_len) * d;
      float* values = v_cache + ((slots[t] * kv + h) * shape.max_len) * d;
      std::memcpy(keys + pos * d, k_new + (t * kv + h) * d, static_cast<size_t>(d) * sizeof(float));
      std::memcpy(values + pos * d, v_new + (t * kv + h) * d,
                  static_cast<size_t>(d) * sizeof(float));
      weights.resize(static_cast<size_t>(context));
      for (int64_t g = 0; g < group; ++g) {
        const int64_t head = h * group + g;
        const float* qh = q + (t * shape.heads + head) * d;
        float* scores = weights.data();
        scores_of(qh, keys, d, context, shape.scale, scores);
        const float max_score = *std::max_element(scores, scores + context);
        float total = 0;
        for (int64_t j = 0; j < context; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          total += scores[j];
        }
        const float inv = 1.0f / total;
        for (int64_t j = 0; j < context; ++j) scores[j] *= inv;
        weighted_sum(scores, values, d, context, out + (t * shape.heads + head) * d);
      }
    }
  }
}

KernelIsa best_kernel_isa() {
  // kAvx512 also runs the AVX2 tile (for one row), so it needs both.
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return KernelIsa::kNone;
  if (__builtin_cpu_supports("avx512f")) return KernelIsa::kAvx512;
  return KernelIsa::kAvx2;
}

const char* to_string(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512:
      return "avx512";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kNone:
      break;
  }
  return "none";
}

void small_batch_matmul_parallel(KernelIsa isa, const float* x, int batch, const float* w,
                                 int64_t k, const float* bias, float* y, int64_t n, int threads) {
  // Row blocks of about 64 KB of weights (a multiple of 6 rows, the tiles' heights): small
  // enough to balance, large enough to stream. Each thread takes a contiguous run of blocks (as
  // schedule(static) would), so each block can prefetch the thread's next one.
  const int64_t block = std::max<int64_t>(6, (64 << 10) / (k * 4) / 6 * 6);
  const int64_t blocks = (n + block - 1) / block;
#pragma omp parallel num_threads(threads)
  {
    const int64_t team = omp_get_num_threads();
    const int64_t per_thread = (blocks + team - 1) / team;
    const int64_t first = omp_get_thread_num() * per_thread;
    const int64_t last = std::min(blocks, first + per_thread);
    const int64_t run_end = std::min(n, last * block);
    for (int64_t i = first; i < last; ++i) {
      small_batch_matmul(isa, x, batch, w, k, bias, y, n, i * block, std::min(n, (i + 1) * block),
                         run_end);
    }
  }
}

void small_batch_matmul(KernelIsa isa, const float* x, int batch, const float* w, int64_t k,
                        const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                        int64_t prefetch_end) {
  // One row is bound by reading the weights, and there AVX2's one-row tile streamed 4-6% faster
  // than the 6x4 AVX-512 tile on the Zen 5 VM (an ad hoc A/B over the GPT-2-small products);
  // from two rows on AVX-512 is as fast or faster (1.5x at 16).
  if (isa == KernelIsa::kAvx512 && batch > 1) {
    small_batch_rows_avx512(x, batch, w, k, bias, y, n, row_begin, row_end, prefetch_end);
  } else {
    small_batch_rows_avx2(x, batch, w, k, bias, y, n, row_begin, row_end, prefetch_end);
  }
}

}  // namespace ringserve::model
