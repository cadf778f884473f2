// The small-batch product over packed weights (bfloat16, float16, int8 and int4 blocks) against
// a plain scalar reference of the same format: each row dequantized by quant::dequantize_row
// (the weights the format stands for), then a double-precision dot with each input -- for the
// block formats, with each input quantized by quant::quantize_activation_block (d * q), as
// their integer products take it. Every ISA
// this CPU runs, over batches that leave each edge of the 2- and 4-input tiles, row counts that
// leave 1..3 rows over the 4- and 2-row tiles and part of a block format's last 16-row group,
// one block and many blocks per row (and, for the 16-bit formats, rows that end inside a block),
// with and without bias, serial calls over uneven row ranges (inside and across 16-row groups)
// and the threaded split.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/kernels/cpu_kernels.h"
#include "engine/quant/quantize.h"
#include "tests/kernel_isas.h"

namespace ringserve::model {
namespace {

using quant::WeightFormat;

struct Case {
  int batch;
  int64_t n;
  int64_t k;
  bool bias;
};

// Weights of a trained layer's size (a few hundredths) with a few large ones, so the blocks'
// scales differ and int4's extreme-to--8 rule is exercised with both signs.
std::vector<float> layer_weights(size_t count, std::mt19937* rng) {
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> w(count);
  for (size_t i = 0; i < count; ++i) w[i] = (i % 97 == 0 ? 10.0f : 1.0f) * dist(*rng);
  return w;
}

void check(KernelIsa isa, WeightFormat format, const Case& c, bool parallel) {
  std::mt19937 rng(static_cast<uint32_t>((c.n * 10) + c.k + (c.batch * 1000L)));
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(c.batch * c.k));
  for (float& v : x) v = unit(rng);
  const std::vector<float> w = layer_weights(static_cast<size_t>(c.n * c.k), &rng);
  std::vector<float> bias(static_cast<size_t>(c.n));
  for (float& v : bias) v = unit(rng);
  const int64_t row_bytes = quant::row_bytes(format, c.k);
  std::vector<char> rows(static_cast<size_t>(c.n * row_bytes));
  for (int64_t r = 0; r < c.n; ++r) {
    quant::quantize_row(format, w.data() + r * c.k, c.k, rows.data() + r * row_bytes);
  }
  // As the engine holds it: a block format's rows interleaved 16 at a time.
  std::vector<char> packed(static_cast<size_t>(quant::matrix_bytes(format, c.n, c.k)));
  if (quant::is_block_format(format)) {
    for (int64_t r0 = 0; r0 < c.n; r0 += quant::kInterleavedRows) {
      const auto count = static_cast<int>(std::min<int64_t>(quant::kInterleavedRows, c.n - r0));
      quant::interleave_rows(
          format, rows.data() + r0 * row_bytes, count, c.k,
          packed.data() + r0 / quant::kInterleavedRows * quant::group_bytes(format, c.k));
    }
  } else {
    packed = rows;
  }
  const PackedMatrix matrix{format, packed.data(), c.n, c.k};
  const float* bp = c.bias ? bias.data() : nullptr;
  // NaN everywhere first: a row or input the kernel skips stays NaN and fails below.
  std::vector<float> y(static_cast<size_t>(c.batch * c.n), std::nanf(""));
  if (parallel) {
    packed_matmul_parallel(isa, x.data(), c.batch, matrix, bp, y.data(), 2);
  } else {
    for (int64_t r0 = 0; r0 < c.n; r0 += 7) {
      packed_matmul(isa, x.data(), c.batch, matrix, bp, y.data(), r0, std::min(c.n, r0 + 7), c.n);
    }
  }
  // Each input alone gives the same bits as in the batch (a sequence's tokens must not depend
  // on what it is batched with): the batch's packed tiles and widened float32 tiles add the
  // same products in the same order as the one-input tile. (Not float32, whose one-input
  // product runs on the AVX2 tile on an AVX-512 CPU: cpu_kernels.cc, runs_avx512_tile.)
  std::vector<float> alone(static_cast<size_t>(c.n));
  const bool same_bits = format != WeightFormat::kFloat32 && c.batch > 1;
  for (int b = 0; parallel && same_bits && b < c.batch; ++b) {
    packed_matmul_parallel(isa, x.data() + b * c.k, 1, matrix, bp, alone.data(), 2);
    for (int64_t r = 0; r < c.n; ++r) {
      ASSERT_EQ(alone[r], y[b * c.n + r])
          << to_string(isa) << " " << quant::format_name(format) << " (" << integer_kernel_name(isa)
          << ") batch " << c.batch << " n " << c.n << " k " << c.k << ": input " << b << " row "
          << r << " alone";
    }
  }
  // The inputs the kernel multiplies by: x, or for a block format x quantized block by block.
  std::vector<double> inputs(x.begin(), x.end());
  if (quant::is_block_format(format)) {
    for (size_t i = 0; i < x.size(); i += quant::kBlockWeights) {
      int8_t q[quant::kBlockWeights];
      float d = 0;
      quant::quantize_activation_block(x.data() + i, q, &d);
      for (int j = 0; j < quant::kBlockWeights; ++j) inputs[i + j] = double{d} * q[j];
    }
  }
  std::vector<float> row(static_cast<size_t>(c.k));
  for (int64_t r = 0; r < c.n; ++r) {
    quant::dequantize_row(format, rows.data() + r * row_bytes, c.k, row.data());
    for (int b = 0; b < c.batch; ++b) {
      double expected = c.bias ? bias[r] : 0.0;
      double magnitude = 0;
      for (int64_t i = 0; i < c.k; ++i) {
        const double term = inputs[b * c.k + i] * row[i];
        expected += term;
        magnitude += std::fabs(term);
      }
      // float32 accumulation of k terms: a few ulps of their summed magnitude.
      const double tolerance = 1e-6 * (1 + magnitude) * std::sqrt(static_cast<double>(c.k));
      ASSERT_NEAR(y[b * c.n + r], expected, tolerance)
          << to_string(isa) << " " << quant::format_name(format) << " (" << integer_kernel_name(isa)
          << ") batch " << c.batch << " n " << c.n << " k " << c.k << " at input " << b << " row "
          << r << (parallel ? " (parallel)" : "");
    }
  }
}

TEST(PackedKernelsTest, EveryFormatMatchesItsDequantizedWeightsOnEveryIsa) {
  const std::vector<KernelIsa> isas = runnable_isas();
  if (isas.empty()) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512";
  const Case cases[] = {{1, 1, 32, false},    {1, 37, 64, true},    {2, 6, 32, false},
                        {3, 13, 96, true},    {4, 24, 128, false},  {5, 61, 256, true},
                        {7, 100, 96, false},  {8, 12, 768, true},   {11, 35, 64, true},
                        {15, 49, 160, false}, {16, 67, 2048, true}, {17, 5, 3072, false},
                        {16, 1300, 64, false}};
  for (KernelIsa isa : isas) {
    for (WeightFormat format : {WeightFormat::kBFloat16, WeightFormat::kFloat16,
                                WeightFormat::kQ8_0, WeightFormat::kQ4_0, WeightFormat::kFloat32}) {
      for (const Case& c : cases) {
        check(isa, format, c, false);
        check(isa, format, c, true);
      }
      // The block formats once more on every integer kernel this CPU runs, the fallbacks
      // included (AVX2 without VNNI on a CPU with AVX-VNNI or AVX-512 VNNI).
      for (const IntegerKernel kernel : quant::is_block_format(format)
                                            ? runnable_integer_kernels()
                                            : std::vector<IntegerKernel>{}) {
        force_integer_kernel(kernel);
        for (const Case& c : cases) {
          check(isa, format, c, false);
          check(isa, format, c, true);
        }
        force_integer_kernel(IntegerKernel::kAuto);
      }
      if (quant::is_block_format(format)) continue;
      for (const Case& c : {Case{1, 9, 17, true}, Case{5, 13, 80, false}, Case{16, 7, 100, true}}) {
        check(isa, format, c, false);
        check(isa, format, c, true);
      }
    }
  }
}

}  // namespace
}  // namespace ringserve::model
