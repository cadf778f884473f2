// The integer product over Q8_0 / Q4_0 weights (integer_tile.h) for AVX2 with AVX-VNNI (VEX
// vpdpbusd on 256 bits; CPUs with it but without AVX-512 VNNI): the traits are
// integer_avx2_traits.h's Avx2Integer<true>.
#pragma GCC target("avx2,fma,f16c,avxvnni")

#include <immintrin.h>

#include "engine/kernels/cpu_kernels_isa.h"
#include "engine/kernels/integer_avx2_traits.h"
#include "engine/kernels/integer_tile.h"
#include "engine/kernels/small_batch_tile.h"

namespace ringserve::model {

using Avx2Vnni = small_batch::Avx2Integer<true>;

void quantize_inputs_avxvnni(quant::WeightFormat format, const float* x, int batch, int64_t k,
                             void* out) {
  small_batch::quantize_inputs<Avx2Vnni>(small_batch::integer_offset<Avx2Vnni>(format), x, batch, k,
                                         out);
}

void integer_rows_avxvnni(quant::WeightFormat format, const void* x, int batch, const char* w,
                          int64_t k, const float* bias, float* y, int64_t n, int64_t row_begin,
                          int64_t row_end, int64_t prefetch_end) {
  small_batch::integer_rows<Avx2Vnni>(format, x, batch, w, k, bias, y, n, row_begin, row_end,
                                      prefetch_end);
}

}  // namespace ringserve::model
