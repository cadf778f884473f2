// The small-batch product against a plain double-precision reference, for every ISA this CPU
// runs, over shapes that exercise each edge of the tiles: batches 1..16 (not multiples of the
// 4-input tile), row counts that leave 1..5 rows over a 6-row tile, inner sizes with a scalar
// tail, with and without bias, and row ranges that start inside the matrix.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "daemon/model/cpu_kernels.h"

namespace ringserve::model {
namespace {

std::vector<KernelIsa> runnable_isas() {
  std::vector<KernelIsa> isas;
  const KernelIsa best = best_kernel_isa();
  if (best >= KernelIsa::kAvx2) isas.push_back(KernelIsa::kAvx2);
  if (best >= KernelIsa::kAvx512) isas.push_back(KernelIsa::kAvx512);
  return isas;
}

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

void check(KernelIsa isa, const Case& c, bool parallel) {
  std::mt19937 rng(static_cast<uint32_t>((c.n * 10) + c.k + (c.batch * 1000L)));
  const std::vector<float> x =
      random_floats(static_cast<size_t>(c.batch) * static_cast<size_t>(c.k), &rng);
  const std::vector<float> w = random_floats(static_cast<size_t>(c.n * c.k), &rng);
  const std::vector<float> bias = random_floats(static_cast<size_t>(c.n), &rng);
  const float* bp = c.bias ? bias.data() : nullptr;
  // NaN everywhere first: a row or input the kernel skips stays NaN and fails below.
  std::vector<float> y(static_cast<size_t>(c.batch * c.n), std::nanf(""));
  // Serial calls over uneven row ranges, or the threaded split.
  if (parallel) {
    small_batch_matmul_parallel(isa, x.data(), c.batch, w.data(), c.k, bp, y.data(), c.n, 2);
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
          << b << " row " << r << (parallel ? " (parallel)" : "");
    }
  }
}

TEST(CpuKernelsTest, SmallBatchProductMatchesReferenceOnEveryIsa) {
  const std::vector<KernelIsa> isas = runnable_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512";
  const Case cases[] = {{1, 1, 1, false},     {1, 37, 64, true},   {2, 6, 16, false},
                        {3, 13, 33, true},    {4, 24, 128, false}, {5, 61, 200, true},
                        {7, 100, 96, false},  {8, 12, 768, true},  {11, 35, 17, true},
                        {15, 49, 160, false}, {16, 67, 256, true}, {16, 6, 3072, false}};
  for (KernelIsa isa : isas) {
    for (const Case& c : cases) {
      check(isa, c, /*parallel=*/false);
      check(isa, c, /*parallel=*/true);
    }
  }
}

}  // namespace
}  // namespace ringserve::model
