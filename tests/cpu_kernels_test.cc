// The small-batch product against a plain double-precision reference, for every ISA this CPU
// runs, over shapes that exercise each edge of the tiles: batches 1..16 (not multiples of the
// 4-input tile), row counts that leave 1..5 rows over a 6-row tile, inner sizes with a scalar
// tail, with and without bias, and row ranges that start inside the matrix. Then the fused
// decode attention against the same kind of reference, over head sizes that take each of its
// paths (64-column register slices, a column tail, a scalar tail) and contexts that are and are
// not multiples of its four-key score blocks. Last, GELU against its formula.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "engine/kernels/cpu_kernels.h"
#include "tests/kernel_isas.h"

namespace ringserve::model {
namespace {

std::vector<float> random_floats(size_t count, std::mt19937* rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& f : v) f = dist(*rng);
  return v;
}

struct Case {
  int batch;
  int64_t n;
  int64_t k;
  bool bias;
};

enum class Split { kSerial, kThreads, kTeamOfOne };

void check(KernelIsa isa, const Case& c, Split split) {
  const bool parallel = split != Split::kSerial;
  std::mt19937 rng(static_cast<uint32_t>((c.n * 10) + c.k + (c.batch * 1000L)));
  const std::vector<float> x =
      random_floats(static_cast<size_t>(c.batch) * static_cast<size_t>(c.k), &rng);
  const std::vector<float> w = random_floats(static_cast<size_t>(c.n * c.k), &rng);
  const std::vector<float> bias = random_floats(static_cast<size_t>(c.n), &rng);
  const float* bp = c.bias ? bias.data() : nullptr;
  // NaN everywhere first: a row or input the kernel skips stays NaN and fails below.
  std::vector<float> y(static_cast<size_t>(c.batch * c.n), std::nanf(""));
  // Serial calls over uneven row ranges, or the threaded split.
  if (split == Split::kThreads) {
    small_batch_matmul_parallel(isa, x.data(), c.batch, w.data(), c.k, bp, y.data(), c.n, 2);
  } else if (split == Split::kTeamOfOne) {
    // With no active parallel levels allowed, the kernel's region gets a team of one: that one
    // thread must take the other two runs from their backs.
    const int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(0);
    small_batch_matmul_parallel(isa, x.data(), c.batch, w.data(), c.k, bp, y.data(), c.n, 3);
    omp_set_max_active_levels(levels);
  } else {
    for (int64_t r0 = 0; r0 < c.n; r0 += 7) {
      // Each call prefetches the rows after its own, as the threaded split's calls do.
      small_batch_matmul(isa, x.data(), c.batch, w.data(), c.k, bp, y.data(), c.n, r0,
                         std::min(c.n, r0 + 7), c.n);
    }
  }
  for (int b = 0; b < c.batch; ++b) {
    for (int64_t r = 0; r < c.n; ++r) {
      double expected = c.bias ? bias[r] : 0.0;
      for (int64_t i = 0; i < c.k; ++i) {
        expected += static_cast<double>(x[b * c.k + i]) * w[r * c.k + i];
      }
      const float got = y[b * c.n + r];
      ASSERT_NEAR(got, expected, 1e-4 * (1 + std::sqrt(static_cast<double>(c.k))))
          << to_string(isa) << " batch " << c.batch << " n " << c.n << " k " << c.k << " at input "
          << b << " row " << r << (parallel ? " (parallel)" : "")
          << (split == Split::kTeamOfOne ? " (team of one)" : "");
    }
  }
}

TEST(CpuKernelsTest, SmallBatchProductMatchesReferenceOnEveryIsa) {
  const std::vector<KernelIsa> isas = runnable_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512";
  const Case cases[] = {{1, 1, 1, false},
                        {1, 37, 64, true},
                        {2, 6, 16, false},
                        {3, 13, 33, true},
                        {4, 24, 128, false},
                        {5, 61, 200, true},
                        {7, 100, 96, false},
                        {8, 12, 768, true},
                        {11, 35, 17, true},
                        {15, 49, 160, false},
                        {16, 67, 256, true},
                        {16, 6, 3072, false},
                        // Six blocks of 252-256 rows (64 KB in whole tiles): every
                        // thread's run holds two.
                        {5, 1300, 64, true},
                        {16, 1300, 64, false}};
  for (KernelIsa isa : isas) {
    for (const Case& c : cases) {
      check(isa, c, Split::kSerial);
      check(isa, c, Split::kThreads);
      check(isa, c, Split::kTeamOfOne);
    }
  }
}

struct AttentionCase {
  int64_t heads, kv_heads, head_dim, block_positions;
};

// A prompt chunk that crosses a block boundary (causal within the chunk: its tokens read each
// other's new keys) and three decode tokens, of four sequences of three blocks each in a
// 12-block pool: `tables` holds their tables one after another.
void check_attention(const AttentionCase& c, const std::vector<int32_t>& tables) {
  const int64_t d = c.head_dim;
  const int64_t bp = c.block_positions;
  const int64_t group = c.heads / c.kv_heads;
  const int64_t blocks = 12;
  std::vector<int64_t> table_offsets;
  std::vector<int32_t> positions;
  for (int64_t j = 0; j < 5; ++j) {  // sequence 0: a chunk at [bp - 2, bp + 3)
    table_offsets.push_back(0);
    positions.push_back(static_cast<int32_t>(bp - 2 + j));
  }
  table_offsets.insert(table_offsets.end(), {3, 6, 9});  // decode tokens of sequences 1-3
  positions.insert(positions.end(),
                   {0, static_cast<int32_t>(3 * bp - 1), static_cast<int32_t>(2 * bp + 1)});
  const auto tokens = static_cast<int64_t>(positions.size());
  std::mt19937 rng(static_cast<uint32_t>((d * 100) + c.heads + bp));
  const size_t cache_size = static_cast<size_t>(blocks * c.kv_heads * bp * d);
  std::vector<float> k_cache = random_floats(cache_size, &rng);
  std::vector<float> v_cache = random_floats(cache_size, &rng);
  const std::vector<float> q = random_floats(static_cast<size_t>(tokens * c.heads * d), &rng);
  const std::vector<float> k_new =
      random_floats(static_cast<size_t>(tokens * c.kv_heads * d), &rng);
  const std::vector<float> v_new =
      random_floats(static_cast<size_t>(tokens * c.kv_heads * d), &rng);
  // Where (token's sequence, position, head) lives in the pool, in floats.
  const auto row_of = [&](int64_t t, int64_t pos, int64_t h) {
    const int64_t block = tables[static_cast<size_t>(table_offsets[t] + (pos / bp))];
    return ((h * blocks + block) * bp + (pos % bp)) * d;
  };
  // The pool as it must be after the call: every new key and value at its place, nothing else
  // touched.
  std::vector<float> want_k = k_cache;
  std::vector<float> want_v = v_cache;
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t h = 0; h < c.kv_heads; ++h) {
      std::copy_n(&k_new[(t * c.kv_heads + h) * d], d, &want_k[row_of(t, positions[t], h)]);
      std::copy_n(&v_new[(t * c.kv_heads + h) * d], d, &want_v[row_of(t, positions[t], h)]);
    }
  }
  std::vector<float> out(static_cast<size_t>(tokens * c.heads * d), std::nanf(""));
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const PagedAttentionShape shape{c.heads, c.kv_heads, d, bp, blocks, scale};
  paged_attention(shape, tokens, q.data(), k_new.data(), v_new.data(), k_cache.data(),
                  v_cache.data(), tables.data(), table_offsets.data(), positions.data(), out.data(),
                  2);
  ASSERT_EQ(k_cache, want_k);
  ASSERT_EQ(v_cache, want_v);
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t pos = positions[t];
    for (int64_t h = 0; h < c.kv_heads; ++h) {
      for (int64_t g = 0; g < group; ++g) {
        const int64_t head = h * group + g;
        const float* qh = &q[(t * c.heads + head) * d];
        std::vector<double> p(static_cast<size_t>(pos + 1));
        double peak = -INFINITY;
        for (int64_t j = 0; j <= pos; ++j) {
          double s = 0;
          for (int64_t i = 0; i < d; ++i)
            s += static_cast<double>(qh[i]) * want_k[row_of(t, j, h) + i];
          p[j] = s * scale;
          peak = std::max(peak, p[j]);
        }
        double total = 0;
        for (double& e : p) total += (e = std::exp(e - peak));
        for (int64_t i = 0; i < d; ++i) {
          double expected = 0;
          for (int64_t j = 0; j <= pos; ++j) expected += p[j] / total * want_v[row_of(t, j, h) + i];
          ASSERT_NEAR(out[(t * c.heads + head) * d + i], expected, 1e-5)
              << "head_dim " << d << " block " << bp << " token " << t << " (context " << pos + 1
              << ") head " << head << " column " << i;
        }
      }
    }
  }
}

TEST(CpuKernelsTest, PagedAttentionMatchesReference) {
  if (best_kernel_isa() == KernelIsa::kNone) GTEST_SKIP() << "this CPU has no AVX2+FMA";
  // GPT-2 (64), Llama-style grouped heads with 128, a 40-wide head (64-column slices do not
  // fit: the column path), 12 (not a multiple of 8: the scalar paths); blocks of 16 (the
  // engine's), 4, and 6 (not a multiple of the four keys scored at a time).
  const AttentionCase cases[] = {
      {12, 12, 64, 16}, {8, 2, 128, 16}, {4, 2, 40, 4}, {2, 1, 12, 6}, {8, 2, 64, 6}};
  // Every block apart, in no order; and in runs of consecutive blocks, read as one stretch of
  // rows: the chunk's sequence one run, then a run of two and a block elsewhere, a descending
  // pair (two stretches).
  const std::vector<int32_t> scattered = {9, 2, 6, 0, 11, 4, 3, 7, 10, 8, 1, 5};
  const std::vector<int32_t> in_runs = {4, 5, 6, 0, 11, 3, 7, 8, 1, 10, 9, 2};
  for (const AttentionCase& c : cases) {
    check_attention(c, scattered);
    check_attention(c, in_runs);
  }
}

double gelu_reference(double x) {
  const double u = std::sqrt(2.0 / std::numbers::pi) * (x + (0.044715 * x * x * x));
  return 0.5 * x * (1.0 + std::tanh(u));
}

TEST(CpuKernelsTest, GeluMatchesTheFormulaOnEveryIsaAndPosition) {
  const std::vector<KernelIsa> isas = runnable_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512";
  // Steps of 0.00048 across [-12, 12] (the curve's whole shape, where tanh saturates,
  // and near 0), then the far tails, where the result is x or 0.
  std::vector<float> in;
  for (int i = -25000; i <= 25000; ++i) in.push_back(static_cast<float>(i) * 0.00048f);
  for (const float v : {-1e30f, -3e3f, -40.0f, -0.0f, 1e-30f, 40.0f, 3e3f, 1e30f}) in.push_back(v);
  // A NaN from a broken model stays NaN (the clamps must not turn it into a number).
  const size_t nan_at = in.size();
  in.push_back(std::nanf(""));
  // Not a multiple of any width: the padded tail runs too. Three parallel chunks and a part.
  ASSERT_NE(in.size() % 16, 0u);
  ASSERT_GT(in.size(), 3u * 16384);
  std::vector<float> first;
  for (const KernelIsa isa : isas) {
    std::vector<float> out = in;
    gelu_tanh(isa, out.data(), static_cast<int64_t>(out.size()), 2);
    ASSERT_TRUE(std::isnan(out[nan_at])) << to_string(isa);
    for (size_t i = 0; i < in.size(); ++i) {
      if (i == nan_at) continue;
      const double x = in[i];
      const double want = gelu_reference(x);
      // A few float ulps, times the formula's own conditioning: in the negative tail the result
      // is about x e^(2u), so a float's rounding of u (relative 6e-8) moves it by 2|u| times
      // that. Relative where the value is not tiny; absolute below (the far tail is -0).
      const double u = std::sqrt(2.0 / std::numbers::pi) * (x + (0.044715 * x * x * x));
      const double tolerance = 2.5e-7 * (1.0 + std::min(2.0 * std::fabs(u), 200.0));
      const double err = std::fabs(out[i] - want) / std::max(std::fabs(want), 1e-6);
      ASSERT_LT(err, tolerance) << to_string(isa) << " x=" << x << " got " << out[i] << " want "
                                << want;
    }
    // The same bits on every ISA (an engine on AVX2 serves what one on AVX-512 does).
    if (first.empty()) {
      first = out;
    } else {
      for (size_t i = 0; i < in.size(); ++i) {
        if (i != nan_at) {
          ASSERT_EQ(first[i], out[i]) << "x=" << in[i];
        }
      }
    }
    // And wherever an element sits: shifted by one, every element moves to another lane, and
    // the last ones between the vector loop and the padded tail.
    std::vector<float> shifted(in.begin() + 1, in.end());
    gelu_tanh(isa, shifted.data(), static_cast<int64_t>(shifted.size()), 1);
    for (size_t i = 0; i < shifted.size(); ++i) {
      if (i + 1 != nan_at) {
        ASSERT_EQ(shifted[i], out[i + 1]) << "x=" << in[i + 1];
      }
    }
  }
}

}  // namespace
}  // namespace ringserve::model
