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

// out += w * v
__attribute__((target("avx2,fma"))) void add_scaled(float* out, const float* v, float w,
                                                    int64_t n) {
  const __m256 wv = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
  }
  for (; i < n; ++i) out[i] += w * v[i];
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
        float max_score = -INFINITY;
        for (int64_t j = 0; j < context; ++j) {
          const float s = dot(qh, keys + j * d, d) * shape.scale;
          weights[static_cast<size_t>(j)] = s;
          max_score = std::max(max_score, s);
        }
        float total = 0;
        for (int64_t j = 0; j < context; ++j) {
          const float e = std::exp(weights[static_cast<size_t>(j)] - max_score);
          weights[static_cast<size_t>(j)] = e;
          total += e;
        }
        float* o = out + (t * shape.heads + head) * d;
        std::fill(o, o + d, 0.0f);
        const float inv = 1.0f / total;
        for (int64_t j = 0; j < context; ++j) {
          add_scaled(o, values + j * d, weights[static_cast<size_t>(j)] * inv, d);
        }
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
