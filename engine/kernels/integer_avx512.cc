// The integer product over Q8_0 / Q4_0 blocks (integer_tile.h) for AVX-512 with VNNI (Ice Lake,
// Zen 4 and later): one vpdpbusd multiplies 64 byte pairs, the first or last 16 weights of four
// blocks. A tile of 4 weight rows x 4 inputs: 16 accumulators, 4 x 3 group vectors. On the Zen 5
// VM (TinyLlama's products, `ringserve-bench micro --benchmark_filter=PackedProduct`, int8 at
// batch 16) it took 103-105 ms against 147-173 for 1 x 4, 2 x 4, 3 x 4 and 2 x 8, and was as
// fast as any at batch 1 (34-36 ms against 38-39).
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")
// GCC 12's avx512fintrin.h builds several intrinsics on a deliberately undefined vector and then
// warns about it once inlined (a false positive fixed in later GCCs; see small_batch_avx512.cc).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <array>

#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/integer_tile.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {
namespace {

using quant::BlockQ4_0;
using quant::BlockQ8_0;

// Word indices for vpermt2w / vpermw: 0..31 the first source's words, 32..63 the second's.
using Words = std::array<uint16_t, 32>;

// Q8_0's halves: words from + 17j .. from + 17j + 7 for blocks j = 0..3, out of sources that
// start at word `base` and base + 32.
constexpr Words q8_words(int from, int base) {
  Words w{};
  for (int j = 0; j < 4; ++j) {
    for (int i = 0; i < 8; ++i) w[(8 * j) + i] = static_cast<uint16_t>(from + (17 * j) + i - base);
  }
  return w;
}

// Q4_0's nibbles: words 9j + 1 .. 9j + 8; 0..31 from the vector at word 0, 32..35 from the one
// at word 4.
constexpr Words q4_words() {
  Words w{};
  for (int j = 0; j < 4; ++j) {
    for (int i = 0; i < 8; ++i) {
      const int word = (9 * j) + 1 + i;
      w[(8 * j) + i] = static_cast<uint16_t>(word < 32 ? word : word - 4 + 32);
    }
  }
  return w;
}

// Block j's scale, word stride * j, into words 4j .. 4j + 3 (the low 16 of 32 words).
constexpr Words scale_words(int stride, int base) {
  Words w{};
  for (int j = 0; j < 4; ++j) {
    for (int i = 0; i < 4; ++i) w[(4 * j) + i] = static_cast<uint16_t>((stride * j) - base);
  }
  return w;
}

struct Avx512Vnni {
  using V = __m512;
  using I = __m512i;
  static constexpr int kLanes = 16;
  static constexpr int kGroupBlocks = 4;
  static constexpr int kRows = 4;
  static constexpr int kInputs = 4;
  static constexpr int32_t kQ8Offset = 128;  // weights w ^ 0x80 = w + 128, unsigned

  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static I load_i(const int32_t* p) { return _mm512_loadu_si512(p); }
  static V cvt(I v) { return _mm512_cvtepi32_ps(v); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V acc) { return _mm512_fmadd_ps(a, b, acc); }
  static float sum(V v) { return _mm512_reduce_add_ps(v); }

  static I dot(I acc, I weights, const int8_t* x) {
    return _mm512_dpbusd_epi32(acc, weights, _mm512_loadu_si512(x));
  }
  static I load_bytes(const void* p) { return _mm512_loadu_si512(p); }
  static I indices(const Words& w) { return _mm512_loadu_si512(w.data()); }
  // The four blocks' float16 scales picked from the group's words, each into its block's four
  // lanes, as float32.
  static V scales(I picked) { return _mm512_cvtph_ps(_mm512_castsi512_si256(picked)); }

  // A group's bytes are 16-bit words (both block sizes are even), so one word permute picks
  // the halves of its four blocks out of two vectors of its bytes, and another its scales.
  // Q8_0: block j is words 17j (scale) and 17j + 1 .. 17j + 16 (weights); the group is 68
  // words, read as words 0..63 (vectors at byte 0 and 64) for the first halves and the scales,
  // and 4..67 (bytes 8 and 72) for the second halves -- never past the group's end.
  struct Q8Group {
    I first, second;  // weights + 128
    V scale;
  };
  static Q8Group load_q8(const BlockQ8_0* blocks) {
    static constexpr Words kFirst = q8_words(1, 0);
    static constexpr Words kSecond = q8_words(9, 4);
    static constexpr Words kScales = scale_words(17, 0);
    const auto* p = reinterpret_cast<const char*>(blocks);
    const I low = load_bytes(p);
    const I high = load_bytes(p + 64);
    const I flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const I first = _mm512_permutex2var_epi16(low, indices(kFirst), high);
    const I second =
        _mm512_permutex2var_epi16(load_bytes(p + 8), indices(kSecond), load_bytes(p + 72));
    return {_mm512_xor_si512(first, flip), _mm512_xor_si512(second, flip),
            scales(_mm512_permutex2var_epi16(low, indices(kScales), high))};
  }
  template <int Part>
  static I dot_q8(I acc, const Q8Group& g, const int8_t* x) {
    return dot(acc, Part == 0 ? g.first : g.second, x);
  }

  // Q4_0: block j is words 9j (scale) and 9j + 1 .. 9j + 8 (nibbles); the group is 36 words,
  // read as words 0..31 (byte 0) and 4..35 (byte 8).
  struct Q4Group {
    I first, second;  // nibbles
    V scale;
  };
  static Q4Group load_q4(const BlockQ4_0* blocks) {
    static constexpr Words kNibbles = q4_words();
    static constexpr Words kScales = scale_words(9, 0);
    const auto* p = reinterpret_cast<const char*>(blocks);
    const I low = load_bytes(p);
    const I q = _mm512_permutex2var_epi16(low, indices(kNibbles), load_bytes(p + 8));
    const I mask = _mm512_set1_epi8(0x0f);
    return {_mm512_and_si512(q, mask), _mm512_and_si512(_mm512_srli_epi16(q, 4), mask),
            scales(_mm512_permutexvar_epi16(indices(kScales), low))};
  }
  template <int Part>
  static I dot_q4(I acc, const Q4Group& g, const int8_t* x) {
    return dot(acc, Part == 0 ? g.first : g.second, x);
  }

  // quant::quantize_activation_block, in vectors: the same float32 operations, and cvtps
  // rounds to nearest even as rint does.
  static void quantize_block(const float* x, int8_t* first, int8_t* second, float* d,
                             int32_t* sum) {
    const __m512 a = _mm512_loadu_ps(x);
    const __m512 b = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
    const float inverse = amax != 0 ? 127.0f / amax : 0.0f;
    *d = amax / 127.0f;
    const __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, _mm512_set1_ps(inverse)));
    const __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, _mm512_set1_ps(inverse)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(first), _mm512_cvtepi32_epi8(qa));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(second), _mm512_cvtepi32_epi8(qb));
    *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(qa, qb));
  }
};

}  // namespace

int64_t quantized_input_bytes_avx512(int64_t k) {
  return small_batch::quantized_input_bytes<Avx512Vnni>(k);
}

void quantize_inputs_avx512(quant::WeightFormat format, const float* x, int batch, int64_t k,
                            void* out) {
  small_batch::quantize_inputs<Avx512Vnni>(small_batch::integer_offset<Avx512Vnni>(format), x,
                                           batch, k, out);
}

int integer_tile_rows_avx512() { return Avx512Vnni::kRows; }

void integer_rows_avx512(quant::WeightFormat format, const void* x, int batch, const char* w,
                         int64_t row_stride, int64_t k, const float* bias, float* y, int64_t n,
                         int64_t row_begin, int64_t row_end, int64_t prefetch_end) {
  small_batch::integer_rows<Avx512Vnni>(format, x, batch, w, row_stride, k, bias, y, n, row_begin,
                                        row_end, prefetch_end);
}

}  // namespace ringserve::model
