// 16-bit floats as stored in checkpoints and in quantized blocks: IEEE binary16 ("float16",
// the scale of every GGUF block) and bfloat16 (the top half of a float32). Conversions are
// exact where the value fits and round to nearest even where it does not, as the hardware
// instructions (F16C's vcvtps2ph, AVX512-BF16's vcvtneps2bf16) do, so a block written here has
// the bytes the same block gets from any other correct writer.
//
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstdint>

namespace ringserve::quant {

inline float bf16_to_float(uint16_t h) { return std::bit_cast<float>(uint32_t{h} << 16); }

inline uint16_t float_to_bf16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40u);  // NaN stays NaN
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

inline float f16_to_float(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  if (exponent != 0)
    return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
  // Zero or subnormal: mantissa x 2^-24, exact in float32.
  const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
  return sign != 0 ? -magnitude : magnitude;
}

inline uint16_t float_to_f16(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t magnitude = bits & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return sign | 0x7e00u;   // NaN
  if (magnitude >= 0x477ff000u) return sign | 0x7c00u;  // rounds to infinity
  if (magnitude >= 0x38800000u) {                       // normal in binary16
    const uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
    return sign | static_cast<uint16_t>((rounded - (112u << 23)) >> 13);
  }
  // Subnormal or zero in binary16: units of 2^-24, rounded to nearest even.
  const float units = std::bit_cast<float>(magnitude) * 0x1p24f;
  auto whole = static_cast<uint32_t>(units);
  const float rest = units - static_cast<float>(whole);
  if (rest > 0.5f || (rest == 0.5f && (whole & 1u) != 0)) ++whole;
  return sign | static_cast<uint16_t>(whole);
}

}  // namespace ringserve::quant
