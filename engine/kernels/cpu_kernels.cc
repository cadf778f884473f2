#include "engine/kernels/cpu_kernels.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "engine/kernels/cpu_kernels_isa.h"

namespace ringserve::model {
namespace {

__attribute__((target("avx2,fma"))) inline float horizontal_sum(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v);
  const __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) float dot(const float* a, const float* b, int64_t n) {
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
  float s = horizontal_sum(acc);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

// out += w * v
__attribute__((target("avx2,fma"))) void add_scaled(float* out, const float* v, float w,
                                                    int64_t n) {
  const __m256 wv = _mm256_set1_ps(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i,
                     _mm256_fmadd_ps(wv, _mm256_loadu_ps(v + i), _mm256_loadu_ps(out + i)));
  }
  for (; i < n; ++i) out[i] += w * v[i];
}

// scores[j] = dot(q, keys + j * d) * scale for j in [0, count). Four keys at a time: four
// independent sums in flight instead of one FMA chain, and one horizontal reduction for all
// four instead of one per key.
__attribute__((target("avx2,fma"))) void scores_of(const float* q, const float* keys, int64_t d,
                                                   int64_t count, float scale, float* scores) {
  int64_t j = 0;
  if (d % 8 == 0) {
    for (; j + 4 <= count; j += 4) {
      const float* k0 = keys + j * d;
      __m256 a0 = _mm256_setzero_ps();
      __m256 a1 = a0;
      __m256 a2 = a0;
      __m256 a3 = a0;
      for (int64_t c = 0; c < d; c += 8) {
        const __m256 qv = _mm256_loadu_ps(q + c);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + c), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + d + c), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + (2 * d) + c), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + (3 * d) + c), a3);
      }
      // hadd pairs, then fold the two 128-bit halves: lane i = sum of a_i.
      const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
      const __m128 sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      _mm_storeu_ps(scores + j, _mm_mul_ps(sums, _mm_set1_ps(scale)));
    }
  }
  for (; j < count; ++j) scores[j] = dot(q, keys + j * d, d) * scale;
}

// Positions [start, start + count) of one kv head of a sequence whose rows lie one after another
// in the cache: a run of consecutive block ids in its table. The pool keeps a sequence's blocks
// in runs (KvBlockPool::allocate), so the whole context is usually one stretch, read exactly as
// a contiguous cache is; walking block by block instead cost 9-18% of attention's time against
// that (micro benchmark, one run of 160 and 1,024 positions at batch 16).
struct Stretch {
  int64_t start;
  int64_t count;
  const float* keys;    // row of position `start`
  const float* values;  // likewise
};

// The stretches of positions [0, context) of kv head h (whose blocks start `head_offset` floats
// into the caches) under `table`.
void stretches_of(const int32_t* table, int64_t context, int64_t block_positions,
                  int64_t block_floats, const float* k_cache, const float* v_cache,
                  int64_t head_offset, std::vector<Stretch>* out) {
  out->clear();
  for (int64_t start = 0; start < context; start += block_positions) {
    const int64_t b = start / block_positions;
    const int64_t count = std::min(block_positions, context - start);
    if (b > 0 && table[b] == table[b - 1] + 1) {
      out->back().count += count;
      continue;
    }
    const int64_t offset = head_offset + (table[b] * block_floats);
    out->push_back({start, count, k_cache + offset, v_cache + offset});
  }
}

// Asks for `floats` floats at p, a cache line at a time, into L1 (T0) or L2 (T1). Within a
// stretch the hardware prefetcher follows the rows; it loses the thread where a stretch ends
// and the next one starts elsewhere in the pool: without this, a batch-16 step over 1,024
// positions in scattered blocks read its keys and values 1.5x slower than contiguous.
// How many blocks ahead of the one being scored the start of a stretch is asked for: scoring a
// block of 16 positions takes about as long as one line's miss, so one block ahead left most
// of the next block's 128 lines still in flight (1.4x contiguous at batch 16 and 1,024
// positions, against 1.6x without any).
constexpr int64_t kPrefetchBlocks = 4;

// kLocality as __builtin_prefetch takes it: 3 is prefetcht0 (L1), 2 prefetcht1 (L2). (Not
// _mm_prefetch: its hint is an enum in GCC and a macro argument in clang.)
template <int kLocality>
inline void prefetch_floats(const float* p, int64_t floats) {
  const char* bytes = reinterpret_cast<const char*>(p);
  const int64_t n = floats * static_cast<int64_t>(sizeof(float));
  for (int64_t off = 0; off < n; off += 64) __builtin_prefetch(bytes + off, 0, kLocality);
}

// out[0, d) = sum over the positions j of `stretches` of weights[j] * (row j). In 64-column
// slices, each held in eight registers across all positions, so a position costs its value
// loads and FMAs only, not a load and a store of the output as well.
__attribute__((target("avx2,fma"))) void weighted_sum(const float* weights,
                                                      std::span<const Stretch> stretches, int64_t d,
                                                      float* out) {
  int64_t c0 = 0;
  for (; c0 + 64 <= d; c0 += 64) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int m = 0; m < 8; ++m) acc[m] = _mm256_setzero_ps();
    for (const Stretch& s : stretches) {
      const float* rows = s.values + c0;
      const float* w = weights + s.start;
      for (int64_t j = 0; j < s.count; ++j) {
        const __m256 wj = _mm256_set1_ps(w[j]);
        const float* v = rows + j * d;
#pragma GCC unroll 8
        for (int64_t m = 0; m < 8; ++m)
          acc[m] = _mm256_fmadd_ps(wj, _mm256_loadu_ps(v + (8 * m)), acc[m]);
      }
    }
#pragma GCC unroll 8
    for (int64_t m = 0; m < 8; ++m) _mm256_storeu_ps(out + c0 + (8 * m), acc[m]);
  }
  if (c0 == d) return;
  // The columns left over (a head not a multiple of 64 wide): through memory, a position at a time.
  std::fill(out + c0, out + d, 0.0f);
  for (const Stretch& s : stretches) {
    for (int64_t j = 0; j < s.count; ++j) {
      add_scaled(out + c0, s.values + (j * d) + c0, weights[s.start + j], d - c0);
    }
  }
}

}  // namespace

void paged_attention(const PagedAttentionShape& shape, int64_t tokens, const float* q,
                     const float* k_new, const float* v_new, float* k_cache, float* v_cache,
                     const int32_t* block_tables, const int64_t* table_offsets,
                     const int32_t* positions, float* out, int threads) {
  const int64_t d = shape.head_dim;
  const int64_t kv = shape.kv_heads;
  const int64_t bp = shape.block_positions;
  const int64_t group = shape.heads / kv;
  const int64_t block_floats = bp * d;
  const int64_t head_floats = shape.blocks * block_floats;
  const int64_t jobs = tokens * kv;
#pragma omp parallel num_threads(threads)
  {
    // Every new key and value first: a prompt chunk's token reads those of the tokens before
    // it, which other tasks store.
#pragma omp for schedule(static)
    for (int64_t job = 0; job < jobs; ++job) {
      const int64_t t = job / kv;
      const int64_t h = job % kv;
      const int64_t pos = positions[t];
      const int64_t row = (h * head_floats) +
                          (block_tables[table_offsets[t] + pos / bp] * block_floats) +
                          ((pos % bp) * d);
      std::memcpy(k_cache + row, k_new + (t * kv + h) * d, static_cast<size_t>(d) * sizeof(float));
      std::memcpy(v_cache + row, v_new + (t * kv + h) * d, static_cast<size_t>(d) * sizeof(float));
    }
    std::vector<float> weights;
    std::vector<Stretch> stretches;
    // Tasks of a prompt chunk differ in length (a token sees its own prefix): handed out one at
    // a time rather than in equal runs.
#pragma omp for schedule(dynamic, 1)
    for (int64_t job = 0; job < jobs; ++job) {
      const int64_t t = job / kv;
      const int64_t h = job % kv;
      const int64_t context = positions[t] + 1;
      stretches_of(block_tables + table_offsets[t], context, bp, block_floats, k_cache, v_cache,
                   h * head_floats, &stretches);
      weights.resize(static_cast<size_t>(context));
      for (int64_t g = 0; g < group; ++g) {
        const int64_t head = h * group + g;
        const float* qh = q + (t * shape.heads + head) * d;
        float* scores = weights.data();
        // The first query head of the group reads the keys from memory (the others from
        // cache): before each stretch it asks for the first blocks of the stretches that
        // start within kPrefetchBlocks blocks after it, keys for itself and values for the
        // weighted sums.
        size_t asked = 1;  // stretches asked for; the first is read from its start
        for (const Stretch& s : stretches) {
          for (; g == 0 && asked < stretches.size(); ++asked) {
            const Stretch& next = stretches[asked];
            if (next.start >= s.start + s.count + (kPrefetchBlocks * bp)) break;
            const int64_t n = std::min(next.count, kPrefetchBlocks * bp) * d;
            prefetch_floats<3>(next.keys, n);
            prefetch_floats<2>(next.values, n);
          }
          scores_of(qh, s.keys, d, s.count, shape.scale, scores + s.start);
        }
        softmax_avx2(scores, context);
        weighted_sum(scores, stretches, d, out + (t * shape.heads + head) * d);
      }
    }
  }
}

void gelu_tanh(KernelIsa isa, float* x, int64_t n, int threads) {
  // Chunks a multiple of every ISA's width, so only the very last one has a partial vector. A
  // decode step's [16, 3072] is three of them; fewer than two go without a parallel region, which
  // would cost more than the few microseconds the second thread saves.
  constexpr int64_t kChunk = 16384;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  auto run = isa == KernelIsa::kAvx512 ? &gelu_tanh_avx512 : &gelu_tanh_avx2;
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) run(x + c * kChunk, std::min(kChunk, n - c * kChunk));
}

namespace {

// CPUID.1:ECX bit 29. Read directly: clang's __builtin_cpu_supports (clang-tidy's parser)
// does not know "f16c".
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & (1u << 29)) != 0;
}

}  // namespace

KernelIsa best_kernel_isa() {
  // kAvx512 also runs the AVX2 tile (for one row), so it needs both; the packed formats' tiles
  // widen float16 with F16C (every AVX2 CPU has it).
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !cpu_has_f16c()) {
    return KernelIsa::kNone;
  }
  if (__builtin_cpu_supports("avx512f")) return KernelIsa::kAvx512;
  return KernelIsa::kAvx2;
}

const char* to_string(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512:
      return "avx512";
    case KernelIsa::kAvx2:
      return "avx2";
    case KernelIsa::kNone:
      break;
  }
  return "none";
}

namespace {

// A thread's run of row blocks, [front, back), in one word so that its owner (taking blocks
// from the front) and a thread that has finished its own run (taking them from the back) can
// never both get the same block.
class BlockRun {
 public:
  void reset(uint32_t front, uint32_t back) {
    word_.store(pack(front, back), std::memory_order_relaxed);
  }
  // The next block from the front (-1: none left); *back_now: where the run ends at that moment.
  int64_t take_front(int64_t* back_now) {
    uint64_t old = word_.load(std::memory_order_relaxed);
    while (front_of(old) < back_of(old)) {
      if (word_.compare_exchange_weak(old, pack(front_of(old) + 1, back_of(old)),
                                      std::memory_order_relaxed)) {
        *back_now = back_of(old);
        return front_of(old);
      }
    }
    return -1;
  }
  int64_t take_back() {
    uint64_t old = word_.load(std::memory_order_relaxed);
    while (front_of(old) < back_of(old)) {
      if (word_.compare_exchange_weak(old, pack(front_of(old), back_of(old) - 1),
                                      std::memory_order_relaxed)) {
        return back_of(old) - 1;
      }
    }
    return -1;
  }

 private:
  static uint64_t pack(uint32_t front, uint32_t back) {
    return (static_cast<uint64_t>(back) << 32) | front;
  }
  static uint32_t front_of(uint64_t v) { return static_cast<uint32_t>(v); }
  static uint32_t back_of(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
  std::atomic<uint64_t> word_{0};
};

// CPUID.0: the vendor string in EBX, EDX, ECX.
bool cpu_is_intel() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
  char vendor[12];
  std::memcpy(vendor, &ebx, 4);
  std::memcpy(vendor + 4, &edx, 4);
  std::memcpy(vendor + 8, &ecx, 4);
  return std::memcmp(vendor, "GenuineIntel", sizeof(vendor)) == 0;
}

// One row is bound by reading the weights, and which tile streams them faster depends on the
// core: on the Zen 5 VM AVX2's one-row tile was 4-6% faster than the AVX-512 tile (an ad hoc A/B
// over the GPT-2-small products), on an Ice Lake server the AVX-512 tile 1.3x faster (the
// product micro benchmark, docs/BENCHMARKS.md). So one row runs the AVX-512 tile on Intel's
// cores and the AVX2 tile on every other vendor's (AMD's, where it was measured). From two rows on
// AVX-512 is as fast or faster everywhere (1.5x at 16). The 16-bit formats' tiles widen the weights
// first, which one AVX-512 row does in half the instructions of two AVX2 rows.
bool runs_avx512_tile(KernelIsa isa, const PackedMatrix& w, int batch) {
  static const bool intel = cpu_is_intel();
  return isa == KernelIsa::kAvx512 &&
         (batch > 1 || w.format != quant::WeightFormat::kFloat32 || intel);
}

// CPUID.7.0: EBX bits 30 and 31 (AVX512BW, AVX512VL), ECX bit 11 (AVX512-VNNI); the caller has
// seen AVX512F, whose check includes the OS's.
bool cpu_has_avx512_vnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) != 0 && (ebx & (1u << 30)) != 0 &&
         (ebx & (1u << 31)) != 0 && (ecx & (1u << 11)) != 0;
}

// CPUID.7.1: EAX bit 4 (AVX-VNNI, the VEX-encoded vpdpbusd on 128/256 bits); the caller has
// seen AVX2.
bool cpu_has_avx_vnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) != 0 && (eax & (1u << 4)) != 0;
}

std::atomic<IntegerKernel> forced_integer_kernel{IntegerKernel::kAuto};

// The block formats' integer product runs on AVX-512 with VNNI, else on AVX-VNNI, else on AVX2
// (unless force_integer_kernel() says otherwise).
IntegerKernel integer_kernel(KernelIsa isa) {
  const IntegerKernel forced = forced_integer_kernel.load(std::memory_order_relaxed);
  if (forced != IntegerKernel::kAuto) return forced;
  static const bool avx512_vnni = cpu_has_avx512_vnni();
  static const bool avx_vnni = cpu_has_avx_vnni();
  if (isa == KernelIsa::kAvx512 && avx512_vnni) return IntegerKernel::kAvx512Vnni;
  return avx_vnni ? IntegerKernel::kAvxVnni : IntegerKernel::kAvx2;
}

int tile_rows(KernelIsa isa, const PackedMatrix& w, int batch) {
  if (quant::is_block_format(w.format)) return quant::kInterleavedRows;  // a group
  if (w.format == quant::WeightFormat::kFloat32) {
    return runs_avx512_tile(isa, w, batch) ? small_batch_tile_rows_avx512(batch)
                                           : small_batch_tile_rows_avx2(batch);
  }
  return runs_avx512_tile(isa, w, batch) ? packed_tile_rows_avx512(batch)
                                         : packed_tile_rows_avx2(batch);
}

// One product: the inputs as its kernel reads them (float32, or quantized for a block
// format's integer product, once for all its row blocks).
struct Operands {
  KernelIsa isa;
  const void* x;
  int batch;
  const PackedMatrix& w;
  const float* bias;
  float* y;
};

constexpr uintptr_t kLineBytes = 64;

// Quantizes x for w's integer product into `buffer` (a block format's), or leaves it as it is.
const void* kernel_inputs(KernelIsa isa, const float* x, int batch, const PackedMatrix& w,
                          std::vector<char>* buffer, int threads) {
  if (!quant::is_block_format(w.format)) return x;
  const IntegerKernel kernel = integer_kernel(isa);
  const int64_t bytes = quantized_input_bytes(w.k);
  // Aligned to a cache line, as each input's block is: its 4-byte words are broadcast from
  // there.
  buffer->resize(static_cast<size_t>((bytes * batch) + kLineBytes));
  char* const out =
      buffer->data() +
      ((kLineBytes - (reinterpret_cast<uintptr_t>(buffer->data()) % kLineBytes)) % kLineBytes);
  auto* quantize = kernel == IntegerKernel::kAvx512Vnni ? &quantize_inputs_avx512
                   : kernel == IntegerKernel::kAvxVnni  ? &quantize_inputs_avxvnni
                                                        : &quantize_inputs_avx2;
#pragma omp parallel for num_threads(std::max(1, threads)) schedule(static) if (batch > 1)
  for (int b = 0; b < batch; ++b) {
    quantize(w.format, x + (b * w.k), 1, w.k, out + (b * bytes));
  }
  return out;
}

void multiply_rows(const Operands& p, int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  const PackedMatrix& w = p.w;
  const auto* bytes = static_cast<const char*>(w.data);
  const int64_t stride = quant::row_bytes(w.format, w.k);
  if (quant::is_block_format(w.format)) {
    const IntegerKernel kernel = integer_kernel(p.isa);
    auto* rows = kernel == IntegerKernel::kAvx512Vnni ? &integer_rows_avx512
                 : kernel == IntegerKernel::kAvxVnni  ? &integer_rows_avxvnni
                                                      : &integer_rows_avx2;
    rows(w.format, p.x, p.batch, bytes, w.k, p.bias, p.y, w.n, row_begin, row_end, prefetch_end);
    return;
  }
  const auto* x = static_cast<const float*>(p.x);
  const bool avx512 = runs_avx512_tile(p.isa, w, p.batch);
  if (w.format == quant::WeightFormat::kFloat32) {
    const auto* wf = static_cast<const float*>(w.data);
    auto* rows = avx512 ? &small_batch_rows_avx512 : &small_batch_rows_avx2;
    rows(x, p.batch, wf, w.k, p.bias, p.y, w.n, row_begin, row_end, prefetch_end);
    return;
  }
  auto* rows = avx512 ? &packed_rows_avx512 : &packed_rows_avx2;
  rows(w.format, x, p.batch, bytes, stride, w.k, p.bias, p.y, w.n, row_begin, row_end,
       prefetch_end);
}

// The most weight bytes in one row block, the one blocking of the small-batch product: the
// threads share a product out in blocks, and the tiles go over a block once per group of four
// inputs (small_batch_tile.h's rows()). Sized for L2: from the second group on the block is
// read from L2 (64 KB is past the 32-48 KB L1d of Zen 3 to 5) while the next block is
// prefetched into L2 beside it, and the two, 128 KB, leave room for the inputs and outputs in a
// 512 KB (Zen 3) or 1 MB (Zen 4 and 5) L2. Small enough to balance the threads (GPT-2's
// 768 x 768 products are 43 blocks), large enough to stream. On the Zen 3 host 32-128 KB were
// within the noise of each other (docs/BENCHMARKS.md).
constexpr int64_t kWeightBlockBytes = 64 << 10;

// A block's rows, for rows of `row_bytes`: whole tiles (a block ending inside a tile would run
// its last rows on a smaller, slower one), at most kWeightBlockBytes unless one tile is more.
int64_t block_rows(int64_t row_bytes, int tile_rows) {
  return std::max<int64_t>(1, kWeightBlockBytes / row_bytes / tile_rows) * tile_rows;
}

}  // namespace

void packed_matmul_parallel(KernelIsa isa, const float* x, int batch, const PackedMatrix& w,
                            const float* bias, float* y, int threads) {
  // Each thread starts on a contiguous run of blocks (as schedule(static) would), so each block
  // can prefetch the thread's next one. A thread that finishes its run early takes blocks from
  // the back of the others' runs: the two cores of a VM do not run at the same speed from one
  // product to the next, and with a fixed split the slower one's surplus, about a tenth of the
  // products' time on the Zen 3 host, was spent by the other waiting at the end of the parallel
  // region.
  const int64_t n = w.n;
  threads = std::max(1, threads);
  thread_local std::vector<char> quantized;
  const Operands p{isa, kernel_inputs(isa, x, batch, w, &quantized, threads), batch, w, bias, y};
  const int64_t block = block_rows(quant::row_bytes(w.format, w.k), tile_rows(isa, w, batch));
  const int64_t blocks = (n + block - 1) / block;
  std::vector<BlockRun> runs(static_cast<size_t>(threads));
  const int64_t per_thread = (blocks + threads - 1) / threads;
  for (int64_t t = 0; t < threads; ++t) {
    runs[static_cast<size_t>(t)].reset(
        static_cast<uint32_t>(std::min(blocks, t * per_thread)),
        static_cast<uint32_t>(std::min(blocks, (t + 1) * per_thread)));
  }
  // Every thread also goes over every other run, so a run whose thread the team lacks (a team
  // smaller than `threads`) is still done.
#pragma omp parallel num_threads(threads)
  {
    const int64_t me = omp_get_thread_num();
    int64_t back = 0;
    for (int64_t i; (i = runs[static_cast<size_t>(me)].take_front(&back)) >= 0;) {
      multiply_rows(p, i * block, std::min(n, (i + 1) * block), std::min(n, back * block));
    }
    for (int64_t other = 1; other < threads; ++other) {
      BlockRun& run = runs[static_cast<size_t>((me + other) % threads)];
      for (int64_t i; (i = run.take_back()) >= 0;) {
        // No prefetch: the rows after a block taken from the back are already done.
        const int64_t end = std::min(n, (i + 1) * block);
        multiply_rows(p, i * block, end, end);
      }
    }
  }
}

const char* integer_kernel_name(KernelIsa isa) {
  switch (integer_kernel(isa)) {
    case IntegerKernel::kAvx512Vnni:
      return "avx512-vnni";
    case IntegerKernel::kAvxVnni:
      return "avx-vnni";
    case IntegerKernel::kAvx2:
    case IntegerKernel::kAuto:
      break;
  }
  return "avx2";
}

std::vector<IntegerKernel> runnable_integer_kernels() {
  std::vector<IntegerKernel> kernels;
  if (best_kernel_isa() == KernelIsa::kNone) return kernels;
  kernels.push_back(IntegerKernel::kAvx2);
  if (cpu_has_avx_vnni()) kernels.push_back(IntegerKernel::kAvxVnni);
  if (best_kernel_isa() == KernelIsa::kAvx512 && cpu_has_avx512_vnni()) {
    kernels.push_back(IntegerKernel::kAvx512Vnni);
  }
  return kernels;
}

void force_integer_kernel(IntegerKernel kernel) {
  forced_integer_kernel.store(kernel, std::memory_order_relaxed);
}

void packed_matmul(KernelIsa isa, const float* x, int batch, const PackedMatrix& w,
                   const float* bias, float* y, int64_t row_begin, int64_t row_end,
                   int64_t prefetch_end) {
  thread_local std::vector<char> quantized;
  const Operands p{isa, kernel_inputs(isa, x, batch, w, &quantized, 1), batch, w, bias, y};
  multiply_rows(p, row_begin, row_end, prefetch_end);
}

void small_batch_matmul_parallel(KernelIsa isa, const float* x, int batch, const float* w,
                                 int64_t k, const float* bias, float* y, int64_t n, int threads) {
  packed_matmul_parallel(isa, x, batch, {quant::WeightFormat::kFloat32, w, n, k}, bias, y, threads);
}

void small_batch_matmul(KernelIsa isa, const float* x, int batch, const float* w, int64_t k,
                        const float* bias, float* y, int64_t n, int64_t row_begin, int64_t row_end,
                        int64_t prefetch_end) {
  packed_matmul(isa, x, batch, {quant::WeightFormat::kFloat32, w, n, k}, bias, y, row_begin,
                row_end, prefetch_end);
}

}  // namespace ringserve::model
