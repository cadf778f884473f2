// The small-batch product over weights held in 16 bits (bfloat16, float16), written once for
// any vector ISA like small_batch_tile.h and included, after it, by the same two per-ISA
// translation units only. (The block formats have integer products: integer_tile.h.)
//
// The weights are widened to float32 in registers, a block of kBlockWeights columns at a time
// (bfloat16: a shift; float16: F16C), and multiplied into the same register tile as the
// float32 product: each widened weight vector feeds every input of the tile, so the widening
// costs once per weight and tile, and a small batch reads the packed bytes from memory once.
// The activations stay float32: the product is the float32 product of the dequantized weights
// (quant::dequantize_row) with x, accumulated in float32, whatever the batch.
//
// Besides small_batch_tile.h's traits, the ISA traits give: widen_bf16(p), widen_f16(p) (kWidth
// weights from p), store(p, v).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/kernels/small_batch_tile.h"
#include "engine/quant/block_formats.h"
#include "engine/quant/half.h"

namespace ringserve::model::small_batch {

using quant::kBlockWeights;

// A format's view of one block of one row: block(row, i) finds it; part<S>(block) is its S-th
// group of kWidth weights as float32. Rows may end inside a block: vector(row, c) is the
// kWidth weights from column c, at(row, c) weight c, for the tail.
template <class Isa>
struct Bf16Weights {
  static typename Isa::V vector(const char* row, int64_t c) {
    return Isa::widen_bf16(reinterpret_cast<const uint16_t*>(row) + c);
  }
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
  static typename Isa::V vector(const char* row, int64_t c) {
    return Isa::widen_f16(reinterpret_cast<const uint16_t*>(row) + c);
  }
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

// R weight rows of format Weights<Isa> against B float32 inputs (k a multiple of kBlockWeights
// for the block formats). Same contract as small_batch_tile.h's tile().
template <class Isa, template <class> class Weights, int R, int B>
void packed_tile(const void* inputs, int64_t k, const char* w, int64_t row_stride,
                 const float* bias, float* y, int64_t n, const char* prefetch,
                 const char* prefetch_end) {
  using V = typename Isa::V;
  const auto* x = static_cast<const float*>(inputs);
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
  // A 16-bit row that ends inside a block: whole vectors, then single weights, so every column
  // is added in the order of the float32 tile over the same weights (see dequantized_rows).
  int64_t c = blocks * kBlockWeights;
  for (; c + Isa::kWidth <= k; c += Isa::kWidth) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V wv = Format::vector(w + r * row_stride, c);
#pragma GCC unroll 8
      for (int b = 0; b < B; ++b) acc[r][b] = Isa::fma(wv, Isa::load(x + b * k + c), acc[r][b]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float add = bias != nullptr ? bias[r] : 0.0f;
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      float sum = Isa::sum(acc[r][b]);
      for (int64_t t = c; t < k; ++t) {
        sum += Format::at(w + r * row_stride, t) * x[b * k + t];
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
    static int64_t input_bytes(int64_t k) { return k * int64_t{sizeof(float)}; }
  };
};

// Writes rows [0, count) of `w` as float32 into out (rows of k floats): the weights the packed
// tile multiplies by, widened the same way.
template <class Isa, template <class> class Weights>
void widen_rows(const char* w, int64_t row_stride, int64_t k, int64_t count, float* out) {
  using Format = Weights<Isa>;
  constexpr int kParts = kBlockWeights / Isa::kWidth;
  for (int64_t r = 0; r < count; ++r, w += row_stride, out += k) {
    const int64_t blocks = k / kBlockWeights;
    for (int64_t i = 0; i < blocks; ++i) {
      const typename Format::Block block = Format::block(w, i);
      [&]<int... S>(std::integer_sequence<int, S...>) {
        (Isa::store(out + i * kBlockWeights + S * Isa::kWidth, Format::template part<S>(block)),
         ...);
      }
      (std::make_integer_sequence<int, kParts>{});
    }
    int64_t c = blocks * kBlockWeights;
    for (; c + Isa::kWidth <= k; c += Isa::kWidth) Isa::store(out + c, Format::vector(w, c));
    for (; c < k; ++c) out[c] = Format::at(w, c);
  }
}

// More inputs than one tile takes: the tiles would go over the block once per group of
// kInputs inputs, widening every weight again each time. Instead each slice of rows is widened
// once into an L1-sized float32 buffer and multiplied there by the float32 tile (FloatIsa,
// the ISA's own float32 traits), so the widening costs once per weight whatever the batch and
// the arithmetic is the float32 product's. The sums are the same, bit for bit, as the packed
// tile's for a smaller batch: same weights, same columns in the same order.
inline constexpr int64_t kWidenedSliceBytes = 32 << 10;

template <class Isa, class FloatIsa, template <class> class Weights>
void dequantized_rows(const float* x, int batch, const char* w, int64_t row_stride, int64_t k,
                      const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                      int64_t prefetch_end) {
  const int64_t row_floats_bytes = k * int64_t{sizeof(float)};
  const int64_t slice = slice_rows(kWidenedSliceBytes, row_floats_bytes, FloatIsa::kRows);
  thread_local std::vector<float> widened;
  widened.resize(static_cast<size_t>(slice * k));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += slice) {
    const int64_t count = std::min(slice, row_end - r0);
    widen_rows<Isa, Weights>(w + r0 * row_stride, row_stride, k, count, widened.data());
    // While the buffer is multiplied, the next slice's packed rows are read into the cache.
    const PrefetchRange next = next_rows(w, row_stride, r0 + count, slice, prefetch_end);
    rows_prefetching<FloatIsa>(x, batch, reinterpret_cast<const char*>(widened.data()),
                               row_floats_bytes, k, bias != nullptr ? bias + r0 : nullptr, y + r0,
                               n, 0, count, next.next, next.stop);
  }
}

template <class Isa, class FloatIsa, template <class> class Weights>
void packed_rows_of(const float* x, int batch, const char* w, int64_t row_stride, int64_t k,
                    const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                    int64_t prefetch_end) {
  // Rows of whole blocks only: a row's tail past its last block is added by the two tiles'
  // scalar loops, which the compiler may contract into FMAs differently.
  if (batch > Isa::kInputs && k % kBlockWeights == 0) {
    dequantized_rows<Isa, FloatIsa, Weights>(x, batch, w, row_stride, k, bias, y, n, row_begin,
                                             row_end, prefetch_end);
  } else {
    rows<Isa, PackedTile<Weights>::template Of>(x, batch, w, row_stride, k, bias, y, n, row_begin,
                                                row_end, prefetch_end);
  }
}

// rows() over packed weights of `format`; float32 is small_batch_rows_*'s, not this.
template <class Isa, class FloatIsa>
void packed_rows(quant::WeightFormat format, const float* x, int batch, const char* w,
                 int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                 int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  switch (format) {
    case quant::WeightFormat::kBFloat16:
      packed_rows_of<Isa, FloatIsa, Bf16Weights>(x, batch, w, row_stride, k, bias, y, n, row_begin,
                                                 row_end, prefetch_end);
      break;
    case quant::WeightFormat::kFloat16:
      packed_rows_of<Isa, FloatIsa, F16Weights>(x, batch, w, row_stride, k, bias, y, n, row_begin,
                                                row_end, prefetch_end);
      break;
    case quant::WeightFormat::kQ8_0:  // the integer product's (integer_tile.h)
    case quant::WeightFormat::kQ4_0:
    case quant::WeightFormat::kFloat32:  // small_batch_rows_*, with the float32 tile's shape
      break;
  }
}

}  // namespace ringserve::model::small_batch
