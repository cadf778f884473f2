// The small-batch product over Q8_0 and Q4_0 weights in integer arithmetic, written once for
// any vector ISA and included only by the per-ISA translation units integer_avx512.cc and
// integer_avx2.cc (see small_batch_tile.h for why).
//
// Widening every weight to float32 costs more instructions per weight than reading it from
// memory takes time, at one input and more so at many. Here the activations are quantized
// instead, once per product, the way llama.cpp does for these formats: each block of 32 inputs
// to int8 with a float32 scale, q = rint(x * 127 / max|x|), d = max|x| / 127
// (quant::quantize_activation_block). A block's product is then an exact integer dot product
// of 32 byte pairs, scaled once by d_w * d_x:
//   y[b, r] = sum over blocks j, in order, of float(S[r, j]) * (d_w[r, j] * d_x[b, j]),
//   S[r, j] = sum over i of q_w[r, j, i] * q_x[b, j, i]
// one float32 accumulator per (row, input), added to block after block with a fused
// multiply-add. That order is the same in every tile, so an input gets the same bits alone as
// in any batch.
//
// Layout. The weights are held interleaved 16 rows at a time (block_formats.h): one vector of
// a group's quants holds the same 4 bytes of one block of 16 rows (8 vectors a block for Q8_0,
// 4 for Q4_0's nibbles, each giving a low and a high vector), so a lane is a row and stays one
// all the way to the output. Against it each input's 4 matching bytes are broadcast to every
// lane; an unsigned x signed 4-byte dot product per lane (VNNI's vpdpbusd, or AVX2's
// vpmaddubsw + vpmaddwd) adds them to the row's block sum. Nothing is reduced across lanes, the
// weights are read as they lie (one stream per group, no shuffles), and one weight vector
// serves every input of the tile.
//
// Unsigned x signed: Q4_0's nibbles n are unsigned and stand for n - 8, so the sum is taken
// over n and 8 * sum(q_x) taken off; Q8_0's signed weights go in as w ^ 0x80 = w + 128 on VNNI,
// and 128 * sum(q_x) taken off; AVX2 multiplies |w| by q_x with w's sign instead (offset 0),
// since w + 128 would saturate its 16-bit pair sums. The correction is computed when an input
// is quantized and is the block sum's starting value.
//
// ISA traits (integer_avx512.cc, integer_avx2_traits.h): V (kLanes floats), I (kLanes int32),
// kLanes (16 or 8: a group is 16 / kLanes vectors of rows), kInputs (the tile's inputs), kQ8Offset;
// zero(), zero_i(), set1(float), set1_i(int32), add_i, cvt(I) -> V, mul, fma, add, scales(const
// uint16_t*) -> V (kLanes float16 to float32), store(float*, V); Q8Weights / load_q8(p) /
// dot_q8(acc, weights, word) and Q4Weights / load_q4(p) (low and high nibbles) / dot_q4(acc,
// nibbles, word), word an int32 holding 4 input bytes; quantize_block(x, q, &d, &sum) (q: 32
// bytes).
#pragma once

#include <xmmintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/small_batch_tile.h"
#include "engine/quant/block_formats.h"

namespace ringserve::model::small_batch {

using quant::kBlockWeights;
using quant::kInterleavedRows;
using quant::kQuantWordBytes;

// One quantized input (quantized_input_bytes(k), cpu_kernels_isa.h), its start being
// -offset * sum(q_x) per block. A template of the ISA only so that each translation unit's copy,
// compiled for its own instruction set, is its own (see small_batch_tile.h).
template <class Isa>
struct QuantizedInput {
  const int8_t* q;
  const float* scale;
  const int32_t* start;
  static QuantizedInput at(const char* p, int64_t k) {
    const int64_t blocks = k / kBlockWeights;
    return {reinterpret_cast<const int8_t*>(p), reinterpret_cast<const float*>(p + k),
            reinterpret_cast<const int32_t*>(p + k + (blocks * 4))};
  }
  // The 4 bytes of word w of block b.
  int32_t word(int64_t b, int w) const {
    int32_t v = 0;
    std::memcpy(&v, q + (b * kBlockWeights) + (w * kQuantWordBytes), sizeof v);
    return v;
  }
};

// Quantizes `batch` inputs of k columns (k a multiple of kBlockWeights) for weights whose
// integer sums need `offset` * sum(q_x) taken off.
template <class Isa>
void quantize_inputs(int32_t offset, const float* x, int batch, int64_t k, void* out) {
  const int64_t blocks = k / kBlockWeights;
  const int64_t bytes = quantized_input_bytes(k);
  for (int b = 0; b < batch; ++b) {
    char* const p = static_cast<char*>(out) + (b * bytes);
    auto* q = reinterpret_cast<int8_t*>(p);
    auto* scale = reinterpret_cast<float*>(p + k);
    auto* start = reinterpret_cast<int32_t*>(p + k + (blocks * 4));
    for (int64_t j = 0; j < blocks; ++j) {
      int32_t sum = 0;
      Isa::quantize_block(x + (b * k) + (j * kBlockWeights), q + (j * kBlockWeights), &scale[j],
                          &sum);
      start[j] = -offset * sum;
    }
  }
}

// A block format's integer sums for the tile: adds to sum[h][i] (row vector h, input i) the dot
// products of one block of a group's rows with the inputs' block. Two accumulators per pair
// (even and odd words) halve the chain of dependent dot products; integer adds are exact, so
// how the sum is split does not change it.
template <class Isa>
struct Q8_0Sums {
  static constexpr quant::WeightFormat kFormat = quant::WeightFormat::kQ8_0;
  static constexpr int32_t kOffset = Isa::kQ8Offset;
  template <int H, int B>
  static void add(const char* quants, const QuantizedInput<Isa>* in, int64_t block,
                  typename Isa::I (&even)[H][B], typename Isa::I (&odd)[H][B]) {
#pragma GCC unroll 8
    for (int w = 0; w < 8; ++w) {
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) {
        const auto weights =
            Isa::load_q8(quants + (((w * kInterleavedRows) + (h * Isa::kLanes)) * kQuantWordBytes));
#pragma GCC unroll 8
        for (int i = 0; i < B; ++i) {
          auto& sum = (w % 2 == 0 ? even : odd)[h][i];
          sum = Isa::dot_q8(sum, weights, in[i].word(block, w));
        }
      }
    }
  }
};

template <class Isa>
struct Q4_0Sums {
  static constexpr quant::WeightFormat kFormat = quant::WeightFormat::kQ4_0;
  static constexpr int32_t kOffset = 8;
  template <int H, int B>
  static void add(const char* quants, const QuantizedInput<Isa>* in, int64_t block,
                  typename Isa::I (&even)[H][B], typename Isa::I (&odd)[H][B]) {
    // Word w of a row's 16 bytes holds weights 4w..4w+3 in its low nibbles and 16+4w..16+4w+3
    // in its high ones: input words w and 4 + w.
#pragma GCC unroll 4
    for (int w = 0; w < 4; ++w) {
#pragma GCC unroll 2
      for (int h = 0; h < H; ++h) {
        const auto nibbles =
            Isa::load_q4(quants + (((w * kInterleavedRows) + (h * Isa::kLanes)) * kQuantWordBytes));
#pragma GCC unroll 8
        for (int i = 0; i < B; ++i) {
          even[h][i] = Isa::dot_q4(even[h][i], nibbles.low, in[i].word(block, w));
          odd[h][i] = Isa::dot_q4(odd[h][i], nibbles.high, in[i].word(block, 4 + w));
        }
      }
    }
  }
};

// One group of 16 interleaved rows against B quantized inputs: y[i * n + row0 + r] for the
// group's rows r in [first, last), plus bias[row0 + r] if bias. Prefetches [prefetch,
// prefetch_end) as it goes, up to kPrefetchLines lines a block.
inline constexpr int kPrefetchLines = 4;

template <class Isa, class Sums, int B>
void integer_tile(const char* inputs, int64_t input_bytes, int64_t k, const char* group,
                  const float* bias, float* y, int64_t n, int64_t row0, int first, int last,
                  const char* prefetch, const char* prefetch_end) {
  using V = typename Isa::V;
  using I = typename Isa::I;
  constexpr int H = kInterleavedRows / Isa::kLanes;
  constexpr quant::WeightFormat kFormat = Sums::kFormat;
  const int64_t blocks = k / kBlockWeights;
  const int64_t block_quant_bytes =
      int64_t{quant::quant_words(kFormat)} * kInterleavedRows * kQuantWordBytes;
  const auto* scales =
      reinterpret_cast<const uint16_t*>(group + quant::group_quant_bytes(kFormat, k));
  QuantizedInput<Isa> in[B];
#pragma GCC unroll 8
  for (int i = 0; i < B; ++i) in[i] = QuantizedInput<Isa>::at(inputs + (i * input_bytes), k);
  V acc[H][B];
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h) {
#pragma GCC unroll 8
    for (int i = 0; i < B; ++i) acc[h][i] = Isa::zero();
  }
  for (int64_t j = 0; j < blocks; ++j) {
#pragma GCC unroll 4
    for (int line = 0; line < kPrefetchLines && prefetch < prefetch_end; ++line) {
      _mm_prefetch(prefetch, _MM_HINT_T1);
      prefetch += kLine;
    }
    I even[H][B];
    I odd[H][B];
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) {
#pragma GCC unroll 8
      for (int i = 0; i < B; ++i) {
        even[h][i] = Isa::set1_i(in[i].start[j]);
        odd[h][i] = Isa::zero_i();
      }
    }
    Sums::template add<H, B>(group + (j * block_quant_bytes), in, j, even, odd);
#pragma GCC unroll 2
    for (int h = 0; h < H; ++h) {
      const V d_w = Isa::scales(scales + (j * kInterleavedRows) + (h * Isa::kLanes));
#pragma GCC unroll 8
      for (int i = 0; i < B; ++i) {
        const V sum = Isa::cvt(Isa::add_i(even[h][i], odd[h][i]));
        acc[h][i] = Isa::fma(sum, Isa::mul(d_w, Isa::set1(in[i].scale[j])), acc[h][i]);
      }
    }
  }
  alignas(64) float out[Isa::kLanes];
#pragma GCC unroll 2
  for (int h = 0; h < H; ++h) {
    const int lane0 = h * Isa::kLanes;
    const int from = std::max(first - lane0, 0);
    const int to = std::min(last - lane0, Isa::kLanes);
#pragma GCC unroll 8
    for (int i = 0; i < B; ++i) {
      if (from >= to) continue;
      Isa::store(out, acc[h][i]);
      float* const row = y + (i * n) + row0 + lane0;
      for (int r = from; r < to; ++r) {
        row[r] = bias != nullptr ? out[r] + bias[row0 + lane0 + r] : out[r];
      }
    }
  }
}

using IntegerTileFn = void (*)(const char* inputs, int64_t input_bytes, int64_t k,
                               const char* group, const float* bias, float* y, int64_t n,
                               int64_t row0, int first, int last, const char* prefetch,
                               const char* prefetch_end);

// tiles[b]: the tile for b inputs, 1 <= b <= kInputs.
template <class Isa, class Sums>
struct IntegerTiles {
  IntegerTileFn fn[Isa::kInputs + 1] = {};
  IntegerTiles() { fill<1>(); }

 private:
  template <int B>
  void fill() {
    if constexpr (B <= Isa::kInputs) {
      fn[B] = &integer_tile<Isa, Sums, B>;
      fill<B + 1>();
    }
  }
};

// y[b * n + r] = dot(d * q of x[b], W[r]) + bias[r] for r in [row_begin, row_end), b in
// [0, batch), W held interleaved at w. Goes over the groups of those rows once per kInputs
// inputs: from memory the first time, from L2 after (the caller sizes the rows to fit), while
// those later passes prefetch as many of the rows [row_end, prefetch_end) as there are here.
template <class Isa, class Sums>
void integer_rows_of(const void* x, int batch, const char* w, int64_t k, const float* bias,
                     float* y, int64_t n, int64_t row_begin, int64_t row_end,
                     int64_t prefetch_end) {
  static const IntegerTiles<Isa, Sums> tiles;
  const int64_t input_bytes = quantized_input_bytes(k);
  const int64_t group_bytes = quant::group_bytes(Sums::kFormat, k);
  const int64_t group_begin = row_begin / kInterleavedRows;
  const int64_t group_end = quant::interleaved_groups(row_end);
  const int64_t groups = group_end - group_begin;
  const int64_t next_end = std::min(group_end + groups, quant::interleaved_groups(prefetch_end));
  const char* next = w + (group_end * group_bytes);
  const char* const next_stop = w + (std::max(next_end, group_end) * group_bytes);
  const int64_t passes = (batch + Isa::kInputs - 1) / Isa::kInputs;
  const int64_t calls = (passes - 1) * groups;
  const int64_t slice = prefetch_slice(next, next_stop, calls);
  for (int b0 = 0; b0 < batch; b0 += Isa::kInputs) {
    const int inputs = std::min(batch - b0, Isa::kInputs);
    for (int64_t g = group_begin; g < group_end; ++g) {
      const int64_t row0 = g * kInterleavedRows;
      const char* const prefetch = next;
      if (b0 > 0) next = next_stop - next > slice ? next + slice : next_stop;
      tiles.fn[inputs](
          static_cast<const char*>(x) + (b0 * input_bytes), input_bytes, k, w + (g * group_bytes),
          bias, y + (b0 * n), n, row0, static_cast<int>(std::max(row_begin, row0) - row0),
          static_cast<int>(std::min(row_end, row0 + kInterleavedRows) - row0), prefetch, next);
    }
  }
}

// The offset quantize_inputs must take off for `format`'s integer sums.
template <class Isa>
int32_t integer_offset(quant::WeightFormat format) {
  return format == quant::WeightFormat::kQ8_0 ? Q8_0Sums<Isa>::kOffset : Q4_0Sums<Isa>::kOffset;
}

// integer_rows_of() over Q8_0 or Q4_0 weights and inputs quantized for them.
template <class Isa>
void integer_rows(quant::WeightFormat format, const void* x, int batch, const char* w, int64_t k,
                  const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                  int64_t prefetch_end) {
  if (format == quant::WeightFormat::kQ8_0) {
    integer_rows_of<Isa, Q8_0Sums<Isa>>(x, batch, w, k, bias, y, n, row_begin, row_end,
                                        prefetch_end);
  } else {
    integer_rows_of<Isa, Q4_0Sums<Isa>>(x, batch, w, k, bias, y, n, row_begin, row_end,
                                        prefetch_end);
  }
}

}  // namespace ringserve::model::small_batch
