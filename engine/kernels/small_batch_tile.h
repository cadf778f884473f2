// The small-batch product written once for any vector ISA: small_batch_avx2.cc and
// small_batch_avx512.cc include this under their own `#pragma GCC target` with their own
// vector traits, so each instantiation is compiled for its ISA and nothing else is. Include it
// nowhere else: only templates live here, instantiated with traits types that have internal
// linkage, so the two ISAs' copies can never be merged by the linker.
//
// Traits: `V` (a vector of kWidth floats), zero(), load(p), fma(a, b, acc) = a * b + acc,
// sum(v); kRows and kInputs size the register tile (kRows * kInputs accumulators, plus kRows
// weight vectors and one input vector, must fit the register file).
#pragma once

#include <xmmintrin.h>

#include <cstdint>

namespace ringserve::model::small_batch {

inline constexpr int64_t kLine = 64;  // bytes per cache line

// The rows of one slice that a batch larger than a tile buffers in a converted form (widened to
// float32, or loaded into integer groups): as many rows of row_bytes as fit slice_bytes, at
// least one, rounded up to whole tiles of tile_rows.
inline int64_t slice_rows(int64_t slice_bytes, int64_t row_bytes, int tile_rows) {
  const int64_t fit = slice_bytes / row_bytes > 0 ? slice_bytes / row_bytes : 1;
  return (fit + tile_rows - 1) / tile_rows * tile_rows;
}

// R weight rows against B input rows: per kWidth columns, R weight loads and B input loads
// feed R * B fused multiply-adds, so the loads, not the FMA units, stop being the limit that
// one row at a time hits. y[b * n + r] = dot(x[b], w[r]) + (bias ? bias[r] : 0), written
// straight from the accumulators.
//
// It also prefetches [prefetch, prefetch_end) into the cache, a line per kWidth columns (two if
// the range needs it): the rows() loop hands each tile a slice of the next weight block, so the
// memory reads of that block overlap this block's arithmetic instead of following it.
template <class Isa, int R, int B>
void tile(const void* inputs, int64_t k, const char* weights, int64_t /*row_stride*/,
          const float* bias, float* y, int64_t n, const char* prefetch, const char* prefetch_end) {
  using V = typename Isa::V;
  const auto* x = static_cast<const float*>(inputs);
  const auto* w = reinterpret_cast<const float*>(weights);
  V acc[R][B];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) acc[r][b] = Isa::zero();
  }
  int64_t c = 0;
  for (; c + Isa::kWidth <= k; c += Isa::kWidth) {
#pragma GCC unroll 2
    for (int line = 0; line < 2 && prefetch < prefetch_end; ++line, prefetch += kLine) {
      _mm_prefetch(prefetch, _MM_HINT_T1);
    }
    V wv[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) wv[r] = Isa::load(w + r * k + c);
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      const V xv = Isa::load(x + b * k + c);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) acc[r][b] = Isa::fma(wv[r], xv, acc[r][b]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float add = bias != nullptr ? bias[r] : 0.0f;
#pragma GCC unroll 8
    for (int b = 0; b < B; ++b) {
      float s = Isa::sum(acc[r][b]);
      for (int64_t t = c; t < k; ++t) s += w[r * k + t] * x[b * k + t];
      y[b * n + r] = s + add;
    }
  }
}

// A tile: B inputs of k columns (float32 rows [B, k], or whatever form the tile reads them in),
// weights from `weights` (rows `row_stride` bytes apart, in whatever format the tile reads),
// bias, y [B, n] written at its R rows; then the prefetch range.
using TileFn = void (*)(const void* inputs, int64_t k, const char* weights, int64_t row_stride,
                        const float* bias, float* y, int64_t n, const char* prefetch,
                        const char* prefetch_end);

// The float32 tile for R rows and B inputs, the table's default. input_bytes(k): the bytes of
// one input in the form the tile reads (here k floats).
template <class Isa, int R, int B>
struct FloatTile {
  static constexpr TileFn fn = &tile<Isa, R, B>;
  static int64_t input_bytes(int64_t k) { return k * int64_t{sizeof(float)}; }
};

// tiles[r][b]: the tile for r rows and b inputs, 1 <= r <= kRows, 1 <= b <= kInputs (the full
// tile almost everywhere; the smaller ones for the edges). Tile<Isa, R, B>::fn is the tile.
template <class Isa, template <class, int, int> class Tile = FloatTile>
struct TileTable {
  TileFn fn[Isa::kRows + 1][Isa::kInputs + 1] = {};
  TileTable() { fill_rows<1>(); }

 private:
  template <int R>
  void fill_rows() {
    if constexpr (R <= Isa::kRows) {
      fill_inputs<R, 1>();
      fill_rows<R + 1>();
    }
  }
  template <int R, int B>
  void fill_inputs() {
    if constexpr (B <= Isa::kInputs) {
      fn[R][B] = Tile<Isa, R, B>::fn;
      fill_inputs<R, B + 1>();
    }
  }
};

// The bytes of [next, next_stop) each of `calls` tiles prefetches: an equal share, in whole
// cache lines (0 with no calls or nothing to prefetch).
inline int64_t prefetch_slice(const char* next, const char* next_stop, int64_t calls) {
  return calls > 0 && next_stop > next ? ((next_stop - next) / calls + kLine - 1) / kLine * kLine
                                       : 0;
}

// rows() below with the range to prefetch given: [next, next_stop) is read into the cache
// during the second and later groups of kInputs inputs, when this block already sits in L2 (or
// in a buffer the caller converted it into) and the memory would otherwise be idle; each of
// those tiles prefetches an equal slice of it. With one group there is nothing to overlap: the
// tile streams its weights, and the hardware prefetcher follows.
template <class Isa, template <class, int, int> class Tile = FloatTile>
void rows_prefetching(const void* x, int batch, const char* w, int64_t row_stride, int64_t k,
                      const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                      const char* next, const char* next_stop) {
  static const TileTable<Isa, Tile> table;
  const int64_t input_bytes = Tile<Isa, 1, 1>::input_bytes(k);
  const int groups = (batch + Isa::kInputs - 1) / Isa::kInputs;
  const int64_t block = row_end - row_begin;
  const int64_t calls = (groups - 1) * ((block + Isa::kRows - 1) / Isa::kRows);
  const int64_t slice = prefetch_slice(next, next_stop, calls);
  for (int b0 = 0; b0 < batch; b0 += Isa::kInputs) {
    const int inputs = batch - b0 < Isa::kInputs ? batch - b0 : Isa::kInputs;
    for (int64_t r = row_begin; r < row_end; r += Isa::kRows) {
      const int rows_here = row_end - r < Isa::kRows ? static_cast<int>(row_end - r) : Isa::kRows;
      const char* const prefetch = next;
      if (b0 > 0) next = next_stop - next > slice ? next + slice : next_stop;
      table.fn[rows_here][inputs](
          static_cast<const char*>(x) + b0 * input_bytes, k, w + r * row_stride, row_stride,
          bias != nullptr ? bias + r : nullptr, y + b0 * n + r, n, prefetch, next);
    }
  }
}

// The bytes of rows [row_end, min(row_end + count, prefetch_end)) of rows row_stride apart
// from w: the next rows a caller will go over, as a range for rows_prefetching().
struct PrefetchRange {
  const char* next;
  const char* stop;
};
inline PrefetchRange next_rows(const char* w, int64_t row_stride, int64_t row_end, int64_t count,
                               int64_t prefetch_end) {
  const int64_t end = row_end + count < prefetch_end ? row_end + count : prefetch_end;
  return {w + row_end * row_stride, w + (end > row_end ? end : row_end) * row_stride};
}

// y[b * n + r] = dot(x[b], w[r]) + bias[r] for r in [row_begin, row_end), b in [0, batch),
// row r of w starting at w + r * row_stride bytes. The rows are one block (the caller sizes it, see
// kWeightBlockBytes in cpu_kernels.cc): it is gone over once per group of kInputs inputs, from
// memory the first time and from L2 after, so the weights come from memory once whatever the batch.
// Rows [row_end, prefetch_end) are the caller's next ones: as many of them as this block has are
// prefetched while it is worked on.
template <class Isa, template <class, int, int> class Tile = FloatTile>
void rows(const void* x, int batch, const char* w, int64_t row_stride, int64_t k, const float* bias,
          float* y, int64_t n, int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  const PrefetchRange next = next_rows(w, row_stride, row_end, row_end - row_begin, prefetch_end);
  rows_prefetching<Isa, Tile>(x, batch, w, row_stride, k, bias, y, n, row_begin, row_end, next.next,
                              next.stop);
}

}  // namespace ringserve::model::small_batch
