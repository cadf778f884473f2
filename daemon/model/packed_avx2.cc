// The panel-packed product for AVX2 + FMA (cpu_kernels.h: pack_panels, packed_matmul*).
//
// Why a second layout: the small-batch tile (small_batch_tile.h) takes dot products along the
// weight rows as they lie on disk, so every group of inputs streams several weight rows and
// several input rows at once, all from L2. On an AVX2-only core (the Zen 3 VM of
// docs/BENCHMARKS.md) that ran at about 21 GFMA/s per core at batch 16. Here the weights are
// copied once, at load, into panels of 16 output columns with the inner dimension outermost,
// so a step reads one panel as a single sequential stream (one cache line per inner index),
// the inputs are broadcast one value at a time from L1, and a tile of up to 6 input rows x 16
// columns keeps its 12 partial sums in registers: the classic GEMM register tile, without
// GEMM's per-call packing.
#pragma GCC target("avx2,fma")

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "daemon/model/cpu_kernels.h"

namespace ringserve::model {
namespace {

constexpr int64_t kP = kPanelWidth;
static_assert(kP == 16, "the tile below holds a panel row in two 8-float vectors");
constexpr int kMaxTileRows = 6;  // 6 x 2 accumulators + 2 weight vectors + 1 broadcast
// Inner indices per pass: a 256 x 16 slice of a panel (16 KB) stays in L1 while every group of
// input rows goes over it.
constexpr int64_t kInnerBlock = 256;

// acc[MI rows][16] (row stride 16, in `partial`) += x[0..MI)[k0, k1) * panel[k0, k1).
// With one or two rows there are too few independent sums to hide the FMA latency, so the
// inner loop is split over two sets of accumulators, added at the end.
template <int MI>
inline void tile(const float* x, int64_t ldx, const float* panel, int64_t k0, int64_t k1,
                 float* partial) {
  constexpr int kSets = MI <= 2 ? 2 : 1;
  __m256 acc[kSets][MI][2];
  for (int s = 0; s < kSets; ++s) {
    for (int i = 0; i < MI; ++i) {
      acc[s][i][0] = s == 0 ? _mm256_loadu_ps(partial + i * kP) : _mm256_setzero_ps();
      acc[s][i][1] = s == 0 ? _mm256_loadu_ps(partial + i * kP + 8) : _mm256_setzero_ps();
    }
  }
  const float* wp = panel + k0 * kP;
  int64_t c = k0;
  for (; c + kSets <= k1; c += kSets) {
#pragma GCC unroll 2
    for (int s = 0; s < kSets; ++s) {
      const __m256 w0 = _mm256_loadu_ps(wp + s * kP);
      const __m256 w1 = _mm256_loadu_ps(wp + s * kP + 8);
#pragma GCC unroll 6
      for (int i = 0; i < MI; ++i) {
        const __m256 xb = _mm256_broadcast_ss(x + i * ldx + c + s);
        acc[s][i][0] = _mm256_fmadd_ps(w0, xb, acc[s][i][0]);
        acc[s][i][1] = _mm256_fmadd_ps(w1, xb, acc[s][i][1]);
      }
    }
    wp += kSets * kP;
  }
  for (; c < k1; ++c, wp += kP) {  // the odd index left when kSets is 2
    const __m256 w0 = _mm256_loadu_ps(wp);
    const __m256 w1 = _mm256_loadu_ps(wp + 8);
    for (int i = 0; i < MI; ++i) {
      const __m256 xb = _mm256_broadcast_ss(x + i * ldx + c);
      acc[0][i][0] = _mm256_fmadd_ps(w0, xb, acc[0][i][0]);
      acc[0][i][1] = _mm256_fmadd_ps(w1, xb, acc[0][i][1]);
    }
  }
  for (int i = 0; i < MI; ++i) {
    __m256 lo = acc[0][i][0];
    __m256 hi = acc[0][i][1];
    if constexpr (kSets == 2) {
      lo = _mm256_add_ps(lo, acc[1][i][0]);
      hi = _mm256_add_ps(hi, acc[1][i][1]);
    }
    _mm256_storeu_ps(partial + i * kP, lo);
    _mm256_storeu_ps(partial + i * kP + 8, hi);
  }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*);
constexpr TileFn kTiles[kMaxTileRows + 1] = {nullptr,  &tile<1>, &tile<2>, &tile<3>,
                                             &tile<4>, &tile<5>, &tile<6>};

// Panels [panel_begin, panel_end) of y = x W^T + bias; `partial` holds rows x 16 floats.
void panels(const float* x, int64_t rows, const float* packed, int64_t k, const float* bias,
            float* y, int64_t n, int64_t panel_begin, int64_t panel_end, float* partial) {
  // Rows in groups of at most 6, as even as possible (16 rows: 6, 5, 5), so no group is left
  // with one or two rows and too few sums in flight.
  const int64_t groups = (rows + kMaxTileRows - 1) / kMaxTileRows;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const float* panel = packed + p * k * kP;
    std::fill(partial, partial + rows * kP, 0.0f);
    for (int64_t k0 = 0; k0 < k; k0 += kInnerBlock) {
      const int64_t k1 = std::min(k, k0 + kInnerBlock);
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t b0 = g * rows / groups;
        const int64_t b1 = (g + 1) * rows / groups;
        kTiles[b1 - b0](x + b0 * k, k, panel, k0, k1, partial + b0 * kP);
      }
    }
    const int64_t c0 = p * kP;
    const int64_t width = std::min(kP, n - c0);  // the last panel may be padding in part
    for (int64_t b = 0; b < rows; ++b) {
      for (int64_t j = 0; j < width; ++j) {
        y[b * n + c0 + j] = partial[b * kP + j] + (bias != nullptr ? bias[c0 + j] : 0.0f);
      }
    }
  }
}

}  // namespace

int64_t packed_floats(int64_t n, int64_t k) { return (n + kP - 1) / kP * kP * k; }

void pack_panels(const float* w, int64_t n, int64_t k, float* out) {
  const int64_t panel_count = (n + kP - 1) / kP;
  // Once per matrix at load, but 500 MB of it for GPT-2 small: spread over the threads.
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < panel_count; ++p) {
    float* panel = out + p * k * kP;
    for (int64_t j = 0; j < kP; ++j) {
      const int64_t r = p * kP + j;
      if (r < n) {
        const float* row = w + r * k;
        for (int64_t c = 0; c < k; ++c) panel[c * kP + j] = row[c];
      } else {
        for (int64_t c = 0; c < k; ++c) panel[c * kP + j] = 0.0f;
      }
    }
  }
}

void unpack_panel_rows(const float* packed, int64_t k, const int64_t* ids, int64_t count,
                       float* out) {
  for (int64_t t = 0; t < count; ++t) {
    const float* column = packed + (ids[t] / kP) * k * kP + ids[t] % kP;
    float* row = out + t * k;
    for (int64_t c = 0; c < k; ++c) row[c] = column[c * kP];
  }
}

void packed_matmul(const float* x, int64_t rows, const float* packed, int64_t k, const float* bias,
                   float* y, int64_t n, int64_t panel_begin, int64_t panel_end) {
  std::vector<float> partial(static_cast<size_t>(rows * kP));
  panels(x, rows, packed, k, bias, y, n, panel_begin, panel_end, partial.data());
}

void packed_matmul_parallel(const float* x, int64_t rows, const float* packed, int64_t k,
                            const float* bias, float* y, int64_t n, int threads) {
  const int64_t panel_count = (n + kP - 1) / kP;
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> partial(static_cast<size_t>(rows * kP));
    // Contiguous runs of panels per thread: each streams its own part of the weights.
#pragma omp for schedule(static)
    for (int64_t p = 0; p < panel_count; ++p) {
      panels(x, rows, packed, k, bias, y, n, p, p + 1, partial.data());
    }
  }
}

}  // namespace ringserve::model
