// The weight formats the engine keeps in memory, and the byte layout of the quantized ones.
//
// The quantized blocks are byte for byte GGUF's Q8_0 and Q4_0 (32 weights, one float16 scale),
// so that a GGUF loader can later map such tensors as they are instead of requantizing, and so
// that the published quality figures of those formats apply. A row of a weight matrix [n, k]
// is k / 32 consecutive blocks; k must be a multiple of 32 (every matrix of the supported
// families is: hidden and intermediate sizes are multiples of 64).
//
//   Q8_0: w[j] = d * q[j],            q in [-127, 127]                 34 bytes / 32 weights
//   Q4_0: w[j] = d * (nibble[j] - 8), nibble in [0, 15]; weights 0..15 in the low nibbles of
//         q[0..15], weights 16..31 in the high nibbles                 18 bytes / 32 weights
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

namespace ringserve::quant {

inline constexpr int kBlockWeights = 32;

struct BlockQ8_0 {
  uint16_t scale;  // float16
  int8_t q[kBlockWeights];
};
static_assert(sizeof(BlockQ8_0) == 34 && alignof(BlockQ8_0) == 2);
static_assert(std::is_standard_layout_v<BlockQ8_0> && std::is_trivially_copyable_v<BlockQ8_0>);

struct BlockQ4_0 {
  uint16_t scale;  // float16
  uint8_t q[kBlockWeights / 2];
};
static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 2);
static_assert(std::is_standard_layout_v<BlockQ4_0> && std::is_trivially_copyable_v<BlockQ4_0>);

// How a weight matrix is held: float32 and the two 16-bit floats element by element, the
// quantized formats in blocks of kBlockWeights along a row.
enum class WeightFormat : uint8_t { kFloat32, kBFloat16, kFloat16, kQ8_0, kQ4_0 };

// The names config and command lines use: "float32", "bfloat16", "float16", "int8", "int4".
std::string_view format_name(WeightFormat format);
bool parse_format(std::string_view name, WeightFormat* format);

inline constexpr bool is_block_format(WeightFormat format) {
  return format == WeightFormat::kQ8_0 || format == WeightFormat::kQ4_0;
}

// Bytes of one row of k weights (k a multiple of kBlockWeights for the block formats).
inline constexpr int64_t row_bytes(WeightFormat format, int64_t k) {
  switch (format) {
    case WeightFormat::kFloat32:
      return k * 4;
    case WeightFormat::kBFloat16:
    case WeightFormat::kFloat16:
      return k * 2;
    case WeightFormat::kQ8_0:
      return k / kBlockWeights * int64_t{sizeof(BlockQ8_0)};
    case WeightFormat::kQ4_0:
      return k / kBlockWeights * int64_t{sizeof(BlockQ4_0)};
  }
  return 0;
}

}  // namespace ringserve::quant
