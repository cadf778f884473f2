#include "daemon/model/cpu_kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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

// One weight row against up to 8 input rows: the row is loaded once per 8 columns and
// multiplied into 8 accumulators.
template <int B>
__attribute__((target("avx2,fma"))) void row_times_inputs(const float* x, int64_t k,
                                                          const float* w_row, float* out) {
  __m256 acc[B];
#pragma GCC unroll 8
  for (int b = 0; b < B; ++b) acc[b] = _mm256_setzero_ps();
  int64_t c = 0;
  for (; c + 8 <= k; c += 8) {
    const __m256 wv = _mm256_loadu_ps(w_row + c);
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      acc[b] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + b * k + c), acc[b]);
    }
  }
  for (int b = 0; b < B; ++b) {
    float s = horizontal_sum(acc[b]);
    for (int64_t t = c; t < k; ++t) s += w_row[t] * x[b * k + t];
    out[b] = s;
  }
}

using RowKernel = void (*)(const float*, int64_t, const float*, float*);
constexpr RowKernel kRowKernels[9] = {nullptr,
                                      row_times_inputs<1>,
                                      row_times_inputs<2>,
                                      row_times_inputs<3>,
                                      row_times_inputs<4>,
                                      row_times_inputs<5>,
                                      row_times_inputs<6>,
                                      row_times_inputs<7>,
                                      row_times_inputs<8>};

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

bool small_batch_kernel_available() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void small_batch_matmul_parallel(const float* x, int batch, const float* w, int64_t k,
                                 const float* bias, float* y, int64_t n, int threads) {
  // Row blocks of about 64 KB of weights: small enough to balance, large enough to stream.
  const int64_t block = std::max<int64_t>(8, (64 << 10) / (k * 4));
  const int64_t blocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < blocks; ++i) {
    small_batch_matmul(x, batch, w, k, bias, y, n, i * block, std::min(n, (i + 1) * block));
  }
}

void small_batch_matmul(const float* x, int batch, const float* w, int64_t k, const float* bias,
                        float* y, int64_t n, int64_t row_begin, int64_t row_end) {
  // Batches above 8 go over a block of weight rows once per 8 inputs: the block (about
  // 128 KB) stays in L2 and each group of 8 input rows stays in L1 while it is used.
  const int64_t block = std::max<int64_t>(1, (128 << 10) / (k * 4));
  float out[8];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += block) {
    const int64_t r1 = std::min(row_end, r0 + block);
    for (int b0 = 0; b0 < batch; b0 += 8) {
      const int chunk = batch - b0 < 8 ? batch - b0 : 8;
      for (int64_t r = r0; r < r1; ++r) {
        kRowKernels[chunk](x + b0 * k, k, w + r * k, out);
        const float add = bias != nullptr ? bias[r] : 0.0f;
        for (int b = 0; b < chunk; ++b) y[(b0 + b) * n + r] = out[b] + add;
      }
    }
  }
}

}  // namespace ringserve::model
