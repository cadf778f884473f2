#include "engine/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "engine/quant/half.h"

namespace ringserve::quant {
namespace {

// The scale as stored, so the levels are chosen against the d the kernels will multiply by.
float stored_scale(float d, uint16_t* bits) {
  *bits = float_to_f16(d);
  return f16_to_float(*bits);
}

}  // namespace

std::string_view format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::kFloat32:
      return "float32";
    case WeightFormat::kBFloat16:
      return "bfloat16";
    case WeightFormat::kFloat16:
      return "float16";
    case WeightFormat::kQ8_0:
      return "int8";
    case WeightFormat::kQ4_0:
      return "int4";
  }
  return "?";
}

bool parse_format(std::string_view name, WeightFormat* format) {
  for (const WeightFormat f : {WeightFormat::kFloat32, WeightFormat::kBFloat16,
                               WeightFormat::kFloat16, WeightFormat::kQ8_0, WeightFormat::kQ4_0}) {
    if (name == format_name(f)) {
      *format = f;
      return true;
    }
  }
  return false;
}

void quantize_row_q8_0(const float* w, int64_t k, BlockQ8_0* out) {
  for (int64_t b = 0; b < k / kBlockWeights; ++b, w += kBlockWeights) {
    float amax = 0;
    for (int j = 0; j < kBlockWeights; ++j) amax = std::max(amax, std::fabs(w[j]));
    const float d = stored_scale(amax / 127.0f, &out[b].scale);
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < kBlockWeights; ++j) {
      const float q = std::nearbyint(w[j] * inverse);
      out[b].q[j] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
}

void quantize_row_q4_0(const float* w, int64_t k, BlockQ4_0* out) {
  for (int64_t b = 0; b < k / kBlockWeights; ++b, w += kBlockWeights) {
    float extreme = 0;  // the weight of largest magnitude, with its sign
    for (int j = 0; j < kBlockWeights; ++j) {
      if (std::fabs(w[j]) > std::fabs(extreme)) extreme = w[j];
    }
    const float d = stored_scale(extreme / -8.0f, &out[b].scale);
    const float inverse = d != 0 ? 1.0f / d : 0.0f;
    const auto level = [&](float x) {
      return static_cast<uint8_t>(std::clamp(std::nearbyint(x * inverse) + 8.0f, 0.0f, 15.0f));
    };
    for (int j = 0; j < kBlockWeights / 2; ++j) {
      out[b].q[j] = static_cast<uint8_t>(level(w[j]) | (level(w[j + kBlockWeights / 2]) << 4));
    }
  }
}

void quantize_row(WeightFormat format, const float* w, int64_t k, void* out) {
  switch (format) {
    case WeightFormat::kFloat32:
      std::copy(w, w + k, static_cast<float*>(out));
      break;
    case WeightFormat::kBFloat16:
      std::transform(w, w + k, static_cast<uint16_t*>(out), float_to_bf16);
      break;
    case WeightFormat::kFloat16:
      std::transform(w, w + k, static_cast<uint16_t*>(out), float_to_f16);
      break;
    case WeightFormat::kQ8_0:
      quantize_row_q8_0(w, k, static_cast<BlockQ8_0*>(out));
      break;
    case WeightFormat::kQ4_0:
      quantize_row_q4_0(w, k, static_cast<BlockQ4_0*>(out));
      break;
  }
}

void dequantize_row(WeightFormat format, const void* row, int64_t k, float* out) {
  switch (format) {
    case WeightFormat::kFloat32: {
      const auto* w = static_cast<const float*>(row);
      std::copy(w, w + k, out);
      break;
    }
    case WeightFormat::kBFloat16: {
      const auto* w = static_cast<const uint16_t*>(row);
      std::transform(w, w + k, out, bf16_to_float);
      break;
    }
    case WeightFormat::kFloat16: {
      const auto* w = static_cast<const uint16_t*>(row);
      std::transform(w, w + k, out, f16_to_float);
      break;
    }
    case WeightFormat::kQ8_0: {
      const auto* blocks = static_cast<const BlockQ8_0*>(row);
      for (int64_t b = 0; b < k / kBlockWeights; ++b) {
        const float d = f16_to_float(blocks[b].scale);
        for (int j = 0; j < kBlockWeights; ++j) *out++ = d * static_cast<float>(blocks[b].q[j]);
      }
      break;
    }
    case WeightFormat::kQ4_0: {
      const auto* blocks = static_cast<const BlockQ4_0*>(row);
      for (int64_t b = 0; b < k / kBlockWeights; ++b, out += kBlockWeights) {
        const float d = f16_to_float(blocks[b].scale);
        for (int j = 0; j < kBlockWeights / 2; ++j) {
          out[j] = d * static_cast<float>((blocks[b].q[j] & 0x0f) - 8);
          out[j + kBlockWeights / 2] = d * static_cast<float>((blocks[b].q[j] >> 4) - 8);
        }
      }
      break;
    }
  }
}

namespace {

// Where byte i of word j of block b of a group's row r lies, and where that row's scale does.
int64_t quant_offset(WeightFormat format, int64_t b, int j, int r, int i) {
  return ((((b * quant_words(format)) + j) * kInterleavedRows + r) * kQuantWordBytes) + i;
}
int64_t scale_offset(WeightFormat format, int64_t k, int64_t b, int r) {
  return group_quant_bytes(format, k) + (((b * kInterleavedRows) + r) * 2);
}

// Calls move(row byte offset, group byte offset, bytes) for every piece of row r of a group.
template <class Move>
void for_each_piece(WeightFormat format, int64_t k, int r, Move move) {
  const int64_t blocks = k / kBlockWeights;
  const int64_t block_bytes = row_bytes(format, kBlockWeights);
  for (int64_t b = 0; b < blocks; ++b) {
    move(b * block_bytes, scale_offset(format, k, b, r), 2);
    for (int j = 0; j < quant_words(format); ++j) {
      move((b * block_bytes) + 2 + (int64_t{j} * kQuantWordBytes), quant_offset(format, b, j, r, 0),
           kQuantWordBytes);
    }
  }
}

}  // namespace

void interleave_rows(WeightFormat format, const void* rows, int count, int64_t k, void* group) {
  auto* out = static_cast<char*>(group);
  std::memset(out, 0, static_cast<size_t>(group_bytes(format, k)));
  const int64_t bytes = row_bytes(format, k);
  for (int r = 0; r < count; ++r) {
    const char* row = static_cast<const char*>(rows) + (r * bytes);
    for_each_piece(format, k, r, [&](int64_t from, int64_t to, int n) {
      std::memcpy(out + to, row + from, static_cast<size_t>(n));
    });
  }
}

void extract_row(WeightFormat format, const void* matrix, int64_t k, int64_t row, void* out) {
  const auto* base = static_cast<const char*>(matrix);
  auto* to = static_cast<char*>(out);
  if (!is_block_format(format)) {
    const int64_t bytes = row_bytes(format, k);
    std::memcpy(to, base + (row * bytes), static_cast<size_t>(bytes));
    return;
  }
  const char* group = base + (row / kInterleavedRows * group_bytes(format, k));
  for_each_piece(format, k, static_cast<int>(row % kInterleavedRows),
                 [&](int64_t at, int64_t from, int n) {
                   std::memcpy(to + at, group + from, static_cast<size_t>(n));
                 });
}

void dequantize_matrix_row(WeightFormat format, const void* matrix, int64_t k, int64_t row,
                           float* out) {
  if (!is_block_format(format)) {
    dequantize_row(format, static_cast<const char*>(matrix) + (row * row_bytes(format, k)), k, out);
    return;
  }
  thread_local std::vector<char> scratch;
  scratch.resize(static_cast<size_t>(row_bytes(format, k)));
  extract_row(format, matrix, k, row, scratch.data());
  dequantize_row(format, scratch.data(), k, out);
}

void quantize_activation_block(const float* x, int8_t* q, float* d) {
  float amax = 0;
  for (int j = 0; j < kBlockWeights; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
  *d = amax / 127.0f;
  for (int j = 0; j < kBlockWeights; ++j)
    q[j] = static_cast<int8_t>(std::nearbyint(x[j] * inverse));
}

}  // namespace ringserve::quant
