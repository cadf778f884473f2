// The small-batch product over weights held in 16 bits or in quantized blocks
// (engine/quant/block_formats.h), written once for any vector ISA like small_batch_tile.h and
// included, after it, by the same two per-ISA translation units only.
//
// The weights are widened to float32 in registers, a block of kBlockWeights columns at a time
// (bfloat16: a shift; float16: F16C; int8 and int4: integer widening and the block's scale),
// and multiplied into the same register tile as the float32 product: each widened weight
// vector feeds every input of the tile, so the widening costs once per weight and tile, and a
// small batch reads the packed bytes from memory once. The activations stay float32: the
// product is the float32 product of the dequantized weights (quant::dequantize_row) with x,
// accumulated in float32, whatever the batch.
//
// Besides small_batch_tile.h's traits, the ISA traits give: widen_bf16(p), widen_f16(p),
// widen_i8(p) (kWidth weights from p), widen_nibbles<Shift>(p) ((p[i] >> Shift & 15) - 8 for
// kWidth bytes), broadcast_f16(h), mul(a, b).
#pragma once

#include <cstdint>
#include <utility>

#include "engine/kernels/small_batch_tile.h"
#include "engine/quant/block_formats.h"
#include "engine/quant/half.h"

namespace ringserve::model::small_batch {

using quant::kBlockWeights;

// A format's view of one block of one row: block(row, i) reads what the block needs once (its
// scale); part<S>(block) is its S-th group of kWidth weights as float32. The 16-bit formats
// also take rows that end inside a block: at(row, c) is weight c, for the scalar tail.
template <class Isa>
struct Bf16Weights {
  static float at(const char* row, int64_t c) {
    return quant::bf16_to_float(reinterpret_cast<const uint16_t*>(row)[c]);
  }
  using Block = const uint16_t*;
  static Block block(const char* row, int64_t i) {
    return reinterpret_cast<const uint16_t*>(row) + i * kBlockWeights;
  }
  template <int S>
  static typename Isa::V part(Block b) {
    return Isa::widen_bf16(b + S * Isa::kWidth);
  }
};

template <class Isa>
struct F16Weights {
  static float at(const char* row, int64_t c) {
    return quant::f16_to_float(reinterpret_cast<const uint16_t*>(row)[c]);
  }
  using Block = const uint16_t*;
  static Block block(const char* row, int64_t i) {
    return reinterpret_cast<const uint16_t*>(row) + i * kBlockWeights;
  }
  template <int S>
  static typename Isa::V part(Block b) {
    return Isa::widen_f16(b + S * Isa::kWidth);
  }
};

template <class Isa>
struct Q8_0Weights {
  static float at(const char* /*row*/, int64_t /*c*/) { return 0; }  // rows are whole blocks
  struct Block {
    const int8_t* q;
    typename Isa::V scale;
  };
  static Block block(const char* row, int64_t i) {
    const auto* b = reinterpret_cast<const quant::BlockQ8_0*>(row) + i;
    return {b->q, Isa::broadcast_f16(b->scale)};
  }
  template <int S>
  static typename Isa::V part(const Block& b) {
    return Isa::mul(Isa::widen_i8(b.q + S * Isa::kWidth), b.scale);
  }
};

// Q4_0: weights 0..15 are the low nibbles of q[0..15], weights 16..31 the high nibbles.
template <class Isa>
struct Q4_0Weights {
  static float at(const char* /*row*/, int64_t /*c*/) { return 0; }  // rows are whole blocks
  struct Block {
    const uint8_t* q;
    typename Isa::V scale;
  };
  static Block block(const char* row, int64_t i) {
    const auto* b = reinterpret_cast<const quant::BlockQ4_0*>(row) + i;
    return {b->q, Isa::broadcast_f16(b->scale)};
  }
  template <int S>
  static typename Isa::V part(const Block& b) {
    constexpr int kFirst = S * Isa::kWidth;  // the first weight of this part
    constexpr int kHalf = kBlockWeights / 2;
    return Isa::mul(Isa::template widen_nibbles < kFirst < kHalf ? 0 : 4 > (b.q + kFirst % kHalf),
                    b.scale);
  }
};

// R weight rows of format Weights<Isa> against B float32 inputs (k a multiple of kBlockWeights
// for the block formats). Same contract as small_batch_tile.h's tile().
template <class Isa, template <class> class Weights, int R, int B>
void packed_tile(const float* x, int64_t k, const char* w, int64_t row_stride, const float* bias,
                 float* y, int64_t n, const char* prefetch, const char* prefetch_end) {
  using V = typename Isa::V;
  using Format = Weights<Isa>;
  constexpr int kParts = kBlockWeights / Isa::kWidth;
  V acc[R][B];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) acc[r][b] = Isa::zero();
  }
  const int64_t blocks = k / kBlockWeights;
  for (int64_t i = 0; i < blocks; ++i) {
    if (prefetch < prefetch_end) {
      _mm_prefetch(prefetch, _MM_HINT_T1);
      prefetch += kLine;
    }
    typename Format::Block block[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) block[r] = Format::block(w + r * row_stride, i);
    const float* xi = x + i * kBlockWeights;
    [&]<int... S>(std::integer_sequence<int, S...>) {
      (
          [&] {
            V wv[R];
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) wv[r] = Format::template part<S>(block[r]);
#pragma GCC unroll 8
            for (int b = 0; b < B; ++b) {
              const V xv = Isa::load(xi + b * k + S * Isa::kWidth);
#pragma GCC unroll 8
              for (int r = 0; r < R; ++r) acc[r][b] = Isa::fma(wv[r], xv, acc[r][b]);
            }
          }(),
          ...);
    }
    (std::make_integer_sequence<int, kParts>{});
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float add = bias != nullptr ? bias[r] : 0.0f;
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      float sum = Isa::sum(acc[r][b]);
      for (int64_t c = blocks * kBlockWeights; c < k; ++c) {
        sum += Format::at(w + r * row_stride, c) * x[b * k + c];
      }
      y[b * n + r] = sum + add;
    }
  }
}

// The tiles of one format, for TileTable.
template <template <class> class Weights>
struct PackedTile {
  template <class Isa, int R, int B>
  struct Of {
    static constexpr TileFn fn = &packed_tile<Isa, Weights, R, B>;
  };
};

// rows() over packed weights of `format`; float32 is small_batch_rows_*'s, not this.
template <class Isa>
void packed_rows(quant::WeightFormat format, const float* x, int batch, const char* w,
                 int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                 int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  switch (format) {
    case quant::WeightFormat::kBFloat16:
      rows<Isa, PackedTile<Bf16Weights>::template Of>(x, batch, w, row_stride, k, bias, y, n,
                                                      row_begin, row_end, prefetch_end);
      break;
    case quant::WeightFormat::kFloat16:
      rows<Isa, PackedTile<F16Weights>::template Of>(x, batch, w, row_stride, k, bias, y, n,
                                                     row_begin, row_end, prefetch_end);
      break;
    case quant::WeightFormat::kQ8_0:
      rows<Isa, PackedTile<Q8_0Weights>::template Of>(x, batch, w, row_stride, k, bias, y, n,
                                                      row_begin, row_end, prefetch_end);
      break;
    case quant::WeightFormat::kQ4_0:
      rows<Isa, PackedTile<Q4_0Weights>::template Of>(x, batch, w, row_stride, k, bias, y, n,
                                                      row_begin, row_end, prefetch_end);
      break;
    case quant::WeightFormat::kFloat32:  // small_batch_rows_*, with the float32 tile's shape
      break;
  }
}

}  // namespace ringserve::model::small_batch
