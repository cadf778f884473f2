// The small-batch product over GGUF's Q8_0 and Q4_0 blocks (engine/quant/block_formats.h) in
// integer arithmetic, written once for any vector ISA like small_batch_tile.h and included, after
// it, by the per-ISA translation units integer_avx512.cc and integer_avx2.cc only.
//
// Widening every weight to float32 costs more instructions per weight than reading it from
// memory takes time, at one input and more so at many. Here the activations are quantized
// instead, once per product, the way llama.cpp does for these formats: each block of 32 inputs
// to int8 with a float32 scale, q = rint(x * 127 / max|x|), d = max|x| / 127
// (quant::quantize_activation_block). A block's product is then an integer dot product of
// 32 int8 pairs, which one VNNI instruction (vpdpbusd) does for four blocks at a time, scaled
// once by d_w * d_x:
//   y[b, r] = sum over blocks j of d_w[r, j] * d_x[b, j] * sum over i of q_w[r, j, i] q_x[b, j, i]
// The integer sums are exact; the float32 part (scale, multiply, add) runs per lane in the same
// order whatever the tile, so an input gives the same bits alone as in any batch.
//
// Layout. A vector of kLanes int32 lanes holds the dot products of kGroupBlocks = kLanes / 4
// blocks, four lanes (sixteen byte pairs) per block: one vpdpbusd multiplies the first 16
// weights of each block of a group, a second the last 16. So an input is quantized into groups
// of kGroupBlocks blocks (ActivationGroup: the two halves' bytes, each block's d_x in its four
// lanes, and the integer correction below), and the weights of a group are loaded into the
// same two halves (the ISA's load_q8 / load_q4). vpdpbusd multiplies unsigned by signed bytes:
// Q4_0's nibbles n are unsigned and stand for n - 8, so the sum is taken over n and
// 8 * sum(q_x) taken off; Q8_0's signed weights are offset by 128 on VNNI (w ^ 0x80), and
// 128 * sum(q_x) taken off. Both corrections are made when the input is quantized: the group's
// accumulator starts from them.
//
// ISA traits: V (kLanes floats), I (kLanes int32), kLanes, kGroupBlocks, kRows, kInputs (the
// tile), kQ8Offset; zero(), load(const float*), load_i(const int32_t*), cvt(I) -> V, mul, fma,
// sum(V); Q8Group / Q4Group {..., V scale} with load_q8(blocks) / load_q4(blocks) (kGroupBlocks
// consecutive blocks) and dot_q8<Part> / dot_q4<Part>(acc, group, bytes); quantize_block(x,
// first, second, &d, &sum) (first, second: 16 bytes each).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/kernels/small_batch_tile.h"
#include "engine/quant/block_formats.h"

namespace ringserve::model::small_batch {

using quant::kBlockWeights;

// One group of one quantized input.
template <class Isa>
struct ActivationGroup {
  int8_t first[Isa::kLanes * 4];   // q_x of elements 0..15 of each block, block after block
  int8_t second[Isa::kLanes * 4];  // elements 16..31
  float scale[Isa::kLanes];        // each block's d_x, in its four lanes
  int32_t start[Isa::kLanes];      // the accumulator's start: -offset * sum(q_x) in a block's
                                   // first lane (offset: 128 or 8, see above), 0 elsewhere
};

template <class Isa>
int64_t groups_of(int64_t k) {
  const int64_t blocks = k / kBlockWeights;
  return (blocks + Isa::kGroupBlocks - 1) / Isa::kGroupBlocks;
}

// Bytes of one quantized input of k columns.
template <class Isa>
int64_t quantized_input_bytes(int64_t k) {
  return groups_of<Isa>(k) * int64_t{sizeof(ActivationGroup<Isa>)};
}

// Quantizes `batch` inputs of k columns (k a multiple of kBlockWeights) for weights whose
// integer sums need `offset` * sum(q_x) taken off. The last group of an input is padded with
// zero blocks.
template <class Isa>
void quantize_inputs(int32_t offset, const float* x, int batch, int64_t k, void* out) {
  const int64_t blocks = k / kBlockWeights;
  const int64_t groups = groups_of<Isa>(k);
  auto* group = static_cast<ActivationGroup<Isa>*>(out);
  for (int b = 0; b < batch; ++b) {
    for (int64_t g = 0; g < groups; ++g, ++group) {
      std::memset(group->start, 0, sizeof group->start);
      const int64_t first_block = g * Isa::kGroupBlocks;
      if (first_block + Isa::kGroupBlocks > blocks) std::memset(group, 0, sizeof *group);
      for (int j = 0; j < Isa::kGroupBlocks && first_block + j < blocks; ++j) {
        float d = 0;
        int32_t sum = 0;
        Isa::quantize_block(x + (b * k) + ((first_block + j) * kBlockWeights),
                            group->first + (16 * j), group->second + (16 * j), &d, &sum);
        std::fill(group->scale + (4 * j), group->scale + (4 * j) + 4, d);
        group->start[4 * j] = -offset * sum;
      }
    }
  }
}

// A block format's group loads and dot products, from the ISA.
template <class Isa>
struct Q8_0Groups {
  using Block = quant::BlockQ8_0;
  using Group = typename Isa::Q8Group;
  static constexpr int kGroupBlocks = Isa::kGroupBlocks;
  static constexpr int32_t kOffset = Isa::kQ8Offset;
  static Group load(const Block* blocks) { return Isa::load_q8(blocks); }
  template <int Part>
  static typename Isa::I dot(typename Isa::I acc, const Group& g, const int8_t* x) {
    return Isa::template dot_q8<Part>(acc, g, x);
  }
};

template <class Isa>
struct Q4_0Groups {
  using Block = quant::BlockQ4_0;
  using Group = typename Isa::Q4Group;
  static constexpr int kGroupBlocks = Isa::kGroupBlocks;
  static constexpr int32_t kOffset = 8;
  static Group load(const Block* blocks) { return Isa::load_q4(blocks); }
  template <int Part>
  static typename Isa::I dot(typename Isa::I acc, const Group& g, const int8_t* x) {
    return Isa::template dot_q4<Part>(acc, g, x);
  }
};

// Where a tile's weight groups come from. PackedRows: the packed rows themselves (a row's last
// group, if it has fewer blocks, from a copy padded with zero blocks); PreparedRows: rows of
// groups already loaded (prepare_rows), for a batch that goes over the same rows many times.
template <class Format>
struct PackedRows {
  using Group = typename Format::Group;
  using Block = typename Format::Block;
  static constexpr int kGroupBlocks = Format::kGroupBlocks;
  static Group group(const char* row, int64_t g) {
    return Format::load(reinterpret_cast<const Block*>(row) + g * kGroupBlocks);
  }
  static Group last_group(const char* row, int64_t g, int64_t blocks) {
    Block padded[kGroupBlocks] = {};
    const int64_t first = g * kGroupBlocks;
    std::memcpy(padded, reinterpret_cast<const Block*>(row) + first,
                static_cast<size_t>(blocks - first) * sizeof(Block));
    return Format::load(padded);
  }
};

template <class Format>
struct PreparedRows {
  using Group = typename Format::Group;
  static Group group(const char* row, int64_t g) { return reinterpret_cast<const Group*>(row)[g]; }
  static Group last_group(const char* row, int64_t g, int64_t /*blocks*/) { return group(row, g); }
};

// R weight rows against B quantized inputs (quantize_inputs), weights from Source<Format>.
// Same contract as small_batch_tile.h's tile().
template <class Isa, class Format, template <class> class Source, int R, int B>
void integer_tile(const void* inputs, int64_t k, const char* w, int64_t row_stride,
                  const float* bias, float* y, int64_t n, const char* prefetch,
                  const char* prefetch_end) {
  using V = typename Isa::V;
  using I = typename Isa::I;
  using Group = typename Format::Group;
  using Rows = Source<Format>;
  const auto* x = static_cast<const ActivationGroup<Isa>*>(inputs);
  const int64_t blocks = k / kBlockWeights;
  const int64_t groups = groups_of<Isa>(k);
  const int64_t whole_groups = blocks / Isa::kGroupBlocks;
  V acc[R][B];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) acc[r][b] = Isa::zero();
  }
  // A row's group at a time against each input: the registers hold the accumulators and one
  // row's group, the inputs' bytes and scales are read from L1 as operands.
  const auto multiply = [&](const Group& group, int r, int64_t g) __attribute__((always_inline)) {
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      const ActivationGroup<Isa>& in = x[(b * groups) + g];
      I sum = Isa::load_i(in.start);
      sum = Format::template dot<0>(sum, group, in.first);
      sum = Format::template dot<1>(sum, group, in.second);
      acc[r][b] = Isa::fma(Isa::cvt(sum), Isa::mul(group.scale, Isa::load(in.scale)), acc[r][b]);
    }
  };
  for (int64_t g = 0; g < whole_groups; ++g) {
#pragma GCC unroll 2
    for (int line = 0; line < 2 && prefetch < prefetch_end; ++line, prefetch += kLine) {
      _mm_prefetch(prefetch, _MM_HINT_T1);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) multiply(Rows::group(w + (r * row_stride), g), r, g);
  }
  if (whole_groups < groups) {
    for (int r = 0; r < R; ++r) {
      multiply(Rows::last_group(w + (r * row_stride), whole_groups, blocks), r, whole_groups);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float add = bias != nullptr ? bias[r] : 0.0f;
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) y[(b * n) + r] = Isa::sum(acc[r][b]) + add;
  }
}

// The tiles of one format and source, for TileTable.
template <template <class> class FormatOf, template <class> class Source>
struct IntegerTile {
  template <class Isa, int R, int B>
  struct Of {
    static constexpr TileFn fn = &integer_tile<Isa, FormatOf<Isa>, Source, R, B>;
    static int64_t input_bytes(int64_t k) { return quantized_input_bytes<Isa>(k); }
  };
};

// More inputs than one tile takes: the tiles would load (shuffle, offset, scale) every group of
// the block's rows again for each group of kInputs inputs. Instead each slice of rows is loaded
// once into an L1-sized buffer of groups and the tiles read them from there: the same groups,
// multiplied in the same order, so the same bits as with fewer inputs.
inline constexpr int64_t kPreparedSliceBytes = 32 << 10;

template <class Isa, template <class> class FormatOf>
void integer_rows_of(const void* x, int batch, const char* w, int64_t row_stride, int64_t k,
                     const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                     int64_t prefetch_end) {
  using Format = FormatOf<Isa>;
  using Group = typename Format::Group;
  if (batch <= Isa::kInputs) {
    rows<Isa, IntegerTile<FormatOf, PackedRows>::template Of>(x, batch, w, row_stride, k, bias, y,
                                                              n, row_begin, row_end, prefetch_end);
    return;
  }
  const int64_t blocks = k / kBlockWeights;
  const int64_t groups = groups_of<Isa>(k);
  const int64_t prepared_row_bytes = groups * int64_t{sizeof(Group)};
  const int64_t slice = slice_rows(kPreparedSliceBytes, prepared_row_bytes, Isa::kRows);
  thread_local std::vector<Group> prepared;
  prepared.resize(static_cast<size_t>(slice * groups));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += slice) {
    const int64_t count = std::min(slice, row_end - r0);
    for (int64_t r = 0; r < count; ++r) {
      const char* row = w + ((r0 + r) * row_stride);
      Group* out = prepared.data() + (r * groups);
      for (int64_t g = 0; g < groups; ++g) {
        out[g] = g < blocks / Isa::kGroupBlocks ? PackedRows<Format>::group(row, g)
                                                : PackedRows<Format>::last_group(row, g, blocks);
      }
    }
    rows<Isa, IntegerTile<FormatOf, PreparedRows>::template Of>(
        x, batch, reinterpret_cast<const char*>(prepared.data()), prepared_row_bytes, k,
        bias != nullptr ? bias + r0 : nullptr, y + r0, n, 0, count, count);
  }
}

// The offset quantize_inputs must take off for `format`'s integer sums.
template <class Isa>
int32_t integer_offset(quant::WeightFormat format) {
  return format == quant::WeightFormat::kQ8_0 ? Q8_0Groups<Isa>::kOffset : Q4_0Groups<Isa>::kOffset;
}

// rows() over Q8_0 or Q4_0 weights and inputs quantized for them.
template <class Isa>
void integer_rows(quant::WeightFormat format, const void* x, int batch, const char* w,
                  int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                  int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  if (format == quant::WeightFormat::kQ8_0) {
    integer_rows_of<Isa, Q8_0Groups>(x, batch, w, row_stride, k, bias, y, n, row_begin, row_end,
                                     prefetch_end);
  } else {
    integer_rows_of<Isa, Q4_0Groups>(x, batch, w, row_stride, k, bias, y, n, row_begin, row_end,
                                     prefetch_end);
  }
}

}  // namespace ringserve::model::small_batch
