// Weight formats: the 16-bit conversions against the hardware's, and the Q8_0 / Q4_0 blocks'
// layout and error bounds (engine/quant).
#include <cpuid.h>
#include <gtest/gtest.h>
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/quant/half.h"
#include "engine/quant/quantize.h"

namespace ringserve::quant {
namespace {

// CPUID leaf 1, ECX bit 29 (clang 14's __builtin_cpu_supports does not know "f16c").
bool has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}

__attribute__((target("f16c"))) uint16_t hardware_f16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

// Random floats of every magnitude binary16 cares about: subnormal, normal, near overflow, and
// values exactly halfway between two binary16 neighbours (the ties).
std::vector<float> awkward_floats() {
  std::mt19937 rng(7);
  std::vector<float> out;
  std::uniform_real_distribution<float> exponent(-30.0f, 17.0f);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  for (int i = 0; i < 200000; ++i) out.push_back(unit(rng) * std::exp2(exponent(rng)));
  for (uint32_t h = 0; h < 0x7c00; h += 7) {  // halfway above each sampled binary16 value
    const float below = f16_to_float(static_cast<uint16_t>(h));
    const float above = f16_to_float(static_cast<uint16_t>(h + 1));
    out.push_back((below + above) / 2);
    out.push_back(-(below + above) / 2);
  }
  for (const float f : {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 1e9f, -1e9f, INFINITY}) {
    out.push_back(f);
  }
  return out;
}

TEST(Half, Float16RoundTripsEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0) continue;  // NaN payloads
    ASSERT_EQ(float_to_f16(f16_to_float(bits)), bits) << std::hex << h;
  }
}

TEST(Half, Float16RoundsAsF16cDoes) {
  if (!has_f16c()) GTEST_SKIP() << "no F16C on this CPU";
  for (const float f : awkward_floats()) {
    ASSERT_EQ(float_to_f16(f), hardware_f16(f)) << f;
  }
  EXPECT_EQ(float_to_f16(NAN) & 0x7c00, 0x7c00);
  EXPECT_NE(float_to_f16(NAN) & 0x3ff, 0);
}

TEST(Half, BFloat16RoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<uint16_t>(h);
    if ((bits & 0x7f80) == 0x7f80 && (bits & 0x7f) != 0) continue;
    ASSERT_EQ(float_to_bf16(bf16_to_float(bits)), bits) << std::hex << h;
  }
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to the even one, 1. Just above it goes up.
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
  EXPECT_EQ(float_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);  // halfway, odd below: up
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(NAN))));
}

std::vector<float> random_weights(int64_t k, uint32_t seed, float spread) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  std::vector<float> w(static_cast<size_t>(k));
  for (float& x : w) x = normal(rng);
  return w;
}

TEST(BlockQ8_0, EveryWeightWithinHalfAStep) {
  const int64_t k = 4096;
  const std::vector<float> w = random_weights(k, 1, 0.02f);
  std::vector<BlockQ8_0> blocks(k / kBlockWeights);
  quantize_row_q8_0(w.data(), k, blocks.data());
  std::vector<float> back(k);
  dequantize_row(WeightFormat::kQ8_0, blocks.data(), k, back.data());
  for (int64_t i = 0; i < k; ++i) {
    const float d = f16_to_float(blocks[i / kBlockWeights].scale);
    ASSERT_LE(std::fabs(back[i] - w[i]), d / 2 * 1.0001f) << i;
  }
  // The block's largest magnitude takes the end of the range.
  for (const BlockQ8_0& b : blocks) {
    int largest = 0;
    for (const int8_t q : b.q) largest = std::max(largest, std::abs(int{q}));
    EXPECT_GE(largest, 126);
  }
}

TEST(BlockQ4_0, TheExtremeTakesMinusEightAndTheRestRoundToTheirLevel) {
  const int64_t k = 4096;
  const std::vector<float> w = random_weights(k, 2, 0.02f);
  std::vector<BlockQ4_0> blocks(k / kBlockWeights);
  quantize_row_q4_0(w.data(), k, blocks.data());
  std::vector<float> back(k);
  dequantize_row(WeightFormat::kQ4_0, blocks.data(), k, back.data());
  for (int64_t b = 0; b < k / kBlockWeights; ++b) {
    const float d = f16_to_float(blocks[b].scale);
    int at_minus_eight = 0;
    for (int j = 0; j < kBlockWeights; ++j) {
      const int64_t i = b * kBlockWeights + j;
      const float level = w[i] / d;
      // Levels run -8..7: one whose weight rounds to +8 is clamped to 7, a full step off.
      const float bound = level > 7.5f ? d : d / 2;
      ASSERT_LE(std::fabs(back[i] - w[i]), std::fabs(bound) * 1.001f + 1e-9f) << i;
      if (back[i] == -8 * d) ++at_minus_eight;
    }
    EXPECT_GE(at_minus_eight, 1) << "block " << b;
  }
}

TEST(BlockQ4_0, NibbleOrderIsGgufs) {
  // Weights 0..15 in the low nibbles, 16..31 in the high ones: w[j] = d * (nibble - 8).
  BlockQ4_0 block{};
  block.scale = float_to_f16(0.5f);
  for (int j = 0; j < 16; ++j) block.q[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  float out[kBlockWeights];
  dequantize_row(WeightFormat::kQ4_0, &block, kBlockWeights, out);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(out[j], 0.5f * static_cast<float>(j - 8));
    EXPECT_EQ(out[j + 16], 0.5f * static_cast<float>(7 - j));
  }
}

TEST(BlockFormats, ZeroBlocksStayZeroAndRowsHaveTheirSize) {
  const std::vector<float> zeros(64, 0.0f);
  for (const WeightFormat f : {WeightFormat::kFloat32, WeightFormat::kBFloat16,
                               WeightFormat::kFloat16, WeightFormat::kQ8_0, WeightFormat::kQ4_0}) {
    std::vector<uint8_t> row(static_cast<size_t>(row_bytes(f, 64)), 0xff);
    quantize_row(f, zeros.data(), 64, row.data());
    std::vector<float> back(64, 1.0f);
    dequantize_row(f, row.data(), 64, back.data());
    for (const float x : back) ASSERT_EQ(x, 0.0f) << format_name(f);
    WeightFormat parsed{};
    ASSERT_TRUE(parse_format(format_name(f), &parsed));
    EXPECT_EQ(parsed, f);
  }
  EXPECT_EQ(row_bytes(WeightFormat::kQ8_0, 4096), 4096 / 32 * 34);
  EXPECT_EQ(row_bytes(WeightFormat::kQ4_0, 4096), 4096 / 32 * 18);
  WeightFormat unused{};
  EXPECT_FALSE(parse_format("int3", &unused));
}

// The engine's layout of a block-format matrix: rows interleaved 16 at a time. Every row comes
// back out whole (the last group's too, with 37 rows), the bytes are GGUF's rows permuted (plus
// zero padding rows), and the documented positions hold: word j of row r of block b at
// ((b * words + j) * 16 + r) * 4, row r's scale after the quants at (b * 16 + r) * 2.
TEST(BlockFormats, InterleavedGroupsHoldEveryRowAtItsDocumentedPlace) {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  const int64_t n = 37;
  const int64_t k = 96;
  std::vector<float> w(static_cast<size_t>(n * k));
  for (float& v : w) v = dist(rng);
  for (const WeightFormat f : {WeightFormat::kQ8_0, WeightFormat::kQ4_0}) {
    const int64_t bytes = row_bytes(f, k);
    std::vector<char> rows(static_cast<size_t>(n * bytes));
    for (int64_t r = 0; r < n; ++r)
      quantize_row(f, w.data() + (r * k), k, rows.data() + (r * bytes));
    ASSERT_EQ(matrix_bytes(f, n, k), int64_t{48} * bytes) << format_name(f);
    std::vector<char> matrix(static_cast<size_t>(matrix_bytes(f, n, k)), 0x55);
    for (int64_t g = 0; g * 16 < n; ++g) {
      interleave_rows(f, rows.data() + (g * 16 * bytes),
                      static_cast<int>(std::min<int64_t>(16, n - (g * 16))), k,
                      matrix.data() + (g * group_bytes(f, k)));
    }
    std::vector<char> padded = rows;
    padded.resize(matrix.size(), 0);
    std::vector<char> sorted_rows = padded;
    std::vector<char> sorted_matrix = matrix;
    std::sort(sorted_rows.begin(), sorted_rows.end());
    std::sort(sorted_matrix.begin(), sorted_matrix.end());
    EXPECT_EQ(sorted_rows, sorted_matrix) << format_name(f) << ": not a permutation";
    std::vector<char> out(static_cast<size_t>(bytes));
    std::vector<float> expected(static_cast<size_t>(k));
    std::vector<float> got(static_cast<size_t>(k));
    for (int64_t r = 0; r < n; ++r) {
      extract_row(f, matrix.data(), k, r, out.data());
      ASSERT_EQ(0, std::memcmp(out.data(), rows.data() + (r * bytes), out.size()))
          << format_name(f) << " row " << r;
      dequantize_row(f, rows.data() + (r * bytes), k, expected.data());
      dequantize_matrix_row(f, matrix.data(), k, r, got.data());
      ASSERT_EQ(expected, got) << format_name(f) << " row " << r;
    }
    const int64_t words = f == WeightFormat::kQ8_0 ? 8 : 4;
    const int64_t r = 16 + 5;  // row 5 of group 1
    const char* group = matrix.data() + group_bytes(f, k);
    const char* row = rows.data() + (r * bytes);
    const int64_t block_bytes = row_bytes(f, 32);
    for (int64_t b = 0; b < k / 32; ++b) {
      EXPECT_EQ(0, std::memcmp(group + (words * 64 * (k / 32)) + (((b * 16) + 5) * 2),
                               row + (b * block_bytes), 2));
      for (int64_t j = 0; j < words; ++j) {
        EXPECT_EQ(0, std::memcmp(group + ((((b * words) + j) * 16 + 5) * 4),
                                 row + (b * block_bytes) + 2 + (j * 4), 4))
            << format_name(f) << " block " << b << " word " << j;
      }
    }
  }
}

// The integer products' inputs: the largest magnitude maps to +-127, the rest round to their
// nearest level with ties to even (x * 127 / amax exactly 0.5 and 1.5 here), and a zero block
// is zero with a zero scale (no division by zero).
TEST(ActivationBlock, ExtremeIs127AndTiesGoToEven) {
  float x[kBlockWeights] = {};
  x[0] = -2.54f;  // amax: 127 / 2.54 = 50 per unit
  x[1] = 2.54f;
  x[2] = 0.01f;   // 0.5 -> 0
  x[3] = 0.03f;   // 1.5 -> 2
  x[4] = -0.03f;  // -1.5 -> -2
  x[5] = 0.05f;   // 2.5 -> 2
  x[6] = 1.0f;    // 50
  int8_t q[kBlockWeights];
  float d = 0;
  quantize_activation_block(x, q, &d);
  EXPECT_EQ(d, 2.54f / 127.0f);
  const float inverse = 127.0f / 2.54f;
  for (int j = 0; j < kBlockWeights; ++j) {
    EXPECT_EQ(q[j], static_cast<int8_t>(std::nearbyint(x[j] * inverse))) << j;
  }
  EXPECT_EQ(q[0], -127);
  EXPECT_EQ(q[1], 127);
  EXPECT_EQ(q[6], 50);
  EXPECT_EQ(q[7], 0);
  const float zeros[kBlockWeights] = {};
  quantize_activation_block(zeros, q, &d);
  EXPECT_EQ(d, 0.0f);
  for (int j = 0; j < kBlockWeights; ++j) EXPECT_EQ(q[j], 0) << j;
}

}  // namespace
}  // namespace ringserve::quant
