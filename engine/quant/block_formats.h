// The weight formats the engine keeps in memory, and the byte layout of the quantized ones.
//
// The quantized blocks are byte for byte GGUF's Q8_0 and Q4_0 (32 weights, one float16 scale),
// so that a GGUF loader can later take such tensors without requantizing (a byte shuffle, see
// below), and so that the published quality figures of those formats apply. A row of a weight
// matrix [n, k] is k / 32 blocks; k must be a multiple of 32 (every matrix of the supported
// families is: hidden and intermediate sizes are multiples of 64).
//
//   Q8_0: w[j] = d * q[j],            q in [-127, 127]                 34 bytes / 32 weights
//   Q4_0: w[j] = d * (nibble[j] - 8), nibble in [0, 15]; weights 0..15 in the low nibbles of
//         q[0..15], weights 16..31 in the high nibbles                 18 bytes / 32 weights
//
// In memory a matrix in these formats has its rows interleaved kInterleavedRows at a time, as
// llama.cpp's CPU backend repacks Q4_0 at load: the same blocks, bytes permuted, no
// requantizing, so a GGUF tensor becomes this layout by a shuffle. Each group of 16 rows (the
// last one padded with zero rows) is, for k / 32 blocks b:
//   quants: for each block b, for each 4-byte word j of a row's block (8 in Q8_0's 32 bytes of q,
//           4 in Q4_0's 16), the word j of rows 0..15 -- 64 bytes, one vector: a row per lane;
//   scales: then, for each block b, the float16 scales of rows 0..15.
// So one vector load gives the same 4 weights of 16 rows, and an integer dot product (VNNI's
// vpdpbusd) against 4 bytes of an input broadcast to every lane advances 16 rows at once, with
// each row's sum whole in its own lane (engine/kernels/integer_tile.h).
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

// The interleaved layout of the block formats (see the top of this file).
inline constexpr int kInterleavedRows = 16;
inline constexpr int kQuantWordBytes = 4;

inline constexpr int64_t interleaved_groups(int64_t n) {
  return (n + kInterleavedRows - 1) / kInterleavedRows;
}

// 4-byte words of q in one row's block: 8 for Q8_0, 4 for Q4_0.
inline constexpr int quant_words(WeightFormat format) {
  return format == WeightFormat::kQ8_0 ? 8 : 4;
}

// Bytes of one group's quants: k / 32 blocks of quant_words() vectors of 16 rows' words.
inline constexpr int64_t group_quant_bytes(WeightFormat format, int64_t k) {
  return k / kBlockWeights * quant_words(format) * kInterleavedRows * kQuantWordBytes;
}

// Bytes of one group of kInterleavedRows rows: the same as that many rows.
inline constexpr int64_t group_bytes(WeightFormat format, int64_t k) {
  return kInterleavedRows * row_bytes(format, k);
}

// Bytes of a whole matrix [n, k] as the engine holds it.
inline constexpr int64_t matrix_bytes(WeightFormat format, int64_t n, int64_t k) {
  return is_block_format(format) ? interleaved_groups(n) * group_bytes(format, k)
                                 : n * row_bytes(format, k);
}

static_assert(group_bytes(WeightFormat::kQ8_0, 64) ==
              group_quant_bytes(WeightFormat::kQ8_0, 64) + (2 * kInterleavedRows * 2));
static_assert(group_bytes(WeightFormat::kQ4_0, 64) ==
              group_quant_bytes(WeightFormat::kQ4_0, 64) + (2 * kInterleavedRows * 2));

}  // namespace ringserve::quant
