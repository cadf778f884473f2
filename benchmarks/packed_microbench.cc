// `ringserve-bench micro --benchmark_filter=PackedProduct`: every matrix product of one decode
// step of a TinyLlama-1.1B-shaped model (22 layers of qkv 2560x2048, out 2048x2048, gate+up
// 11264x2048, down 2048x5632, then the 32000x2048 lm_head) with the weights in each format the
// engine holds (float32, bfloat16, float16, int8, int4), at a given batch, on 2 threads, with
// the best kernels this CPU runs or (third argument 1, 2) the AVX2 ones. GB/s is
// the packed weights' bytes over the time: against the machine's memory bandwidth it says how
// close a format's decode comes to its floor. The weights of one format are made on first use
// (quantized from random floats, as the engine does at load) and dropped before the next.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "engine/kernels/cpu_kernels.h"
#include "engine/quant/quantize.h"

namespace ringserve::bench {
namespace {

using quant::WeightFormat;

struct Product {
  int64_t n, k;
  int count;
};
constexpr Product kTinyLlamaStep[] = {
    {2560, 2048, 22}, {2048, 2048, 22}, {11264, 2048, 22}, {2048, 5632, 22}, {32000, 2048, 1}};
constexpr int kThreads = 2;
constexpr WeightFormat kFormats[] = {WeightFormat::kFloat32, WeightFormat::kBFloat16,
                                     WeightFormat::kFloat16, WeightFormat::kQ8_0,
                                     WeightFormat::kQ4_0};

// Every layer's weights distinct, so each product streams its matrix from memory.
struct Weights {
  WeightFormat format;
  std::vector<std::vector<char>> bytes;
  std::vector<model::PackedMatrix> matrices;
  double total_bytes = 0;
  explicit Weights(WeightFormat f) : format(f) {
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> row(8192);
    for (const Product& p : kTinyLlamaStep) {
      const int64_t row_bytes = quant::row_bytes(f, p.k);
      for (int layer = 0; layer < p.count; ++layer) {
        std::vector<char> rows(static_cast<size_t>(p.n * row_bytes));
        for (int64_t r = 0; r < p.n; ++r) {
          for (int64_t i = 0; i < p.k; ++i) row[i] = dist(rng);
          quant::quantize_row(f, row.data(), p.k, rows.data() + r * row_bytes);
        }
        std::vector<char>& m = bytes.emplace_back(std::move(rows));
        if (quant::is_block_format(f)) {  // interleaved, as the engine holds them
          std::vector<char> held(static_cast<size_t>(quant::matrix_bytes(f, p.n, p.k)));
          for (int64_t r0 = 0; r0 < p.n; r0 += quant::kInterleavedRows) {
            quant::interleave_rows(
                f, m.data() + r0 * row_bytes, quant::kInterleavedRows, p.k,
                held.data() + r0 / quant::kInterleavedRows * quant::group_bytes(f, p.k));
          }
          m = std::move(held);
        }
        total_bytes += static_cast<double>(m.size());
      }
    }
    for (size_t i = 0, j = 0; j < std::size(kTinyLlamaStep); ++j) {
      for (int layer = 0; layer < kTinyLlamaStep[j].count; ++layer, ++i) {
        matrices.push_back({f, bytes[i].data(), kTinyLlamaStep[j].n, kTinyLlamaStep[j].k});
      }
    }
  }
};

const Weights& weights_of(WeightFormat format) {
  static std::unique_ptr<Weights> held;
  if (!held || held->format != format) {
    held.reset();  // one format's weights at a time: float32's are 4.4 GB
    held = std::make_unique<Weights>(format);
  }
  return *held;
}

void BM_PackedProduct(benchmark::State& state) {
  // Third argument: 0 the best kernels this CPU runs; 1 the AVX2 ones, the integer product
  // without VNNI (an AVX2-only CPU's code path, on this CPU's memory and clock); 2 AVX2 with the
  // AVX-VNNI integer product (Alder Lake's), where this CPU has it.
  const model::KernelIsa best = model::best_kernel_isa();
  const model::KernelIsa isa = state.range(2) == 0 ? best : model::KernelIsa::kAvx2;
  if (best == model::KernelIsa::kNone) {
    state.SkipWithError("no AVX2+FMA on this CPU");
    return;
  }
  const model::IntegerKernel integer = state.range(2) == 0   ? model::IntegerKernel::kAuto
                                       : state.range(2) == 1 ? model::IntegerKernel::kAvx2
                                                             : model::IntegerKernel::kAvxVnni;
  const std::vector<model::IntegerKernel> runnable = model::runnable_integer_kernels();
  if (integer != model::IntegerKernel::kAuto &&
      std::find(runnable.begin(), runnable.end(), integer) == runnable.end()) {
    state.SkipWithError("this CPU does not run that integer kernel");
    return;
  }
  const WeightFormat format = kFormats[state.range(0)];
  if (state.range(2) == 2 && !quant::is_block_format(format)) {
    state.SkipWithError("the same as third argument 1 for this format");
    return;
  }
  model::force_integer_kernel(integer);
  const auto batch = static_cast<int>(state.range(1));
  state.SetLabel(std::string(quant::format_name(format)) + " " + model::to_string(isa) +
                 (quant::is_block_format(format)
                      ? std::string(" ") + model::integer_kernel_name(isa)
                      : std::string()));
  const Weights& w = weights_of(format);
  std::vector<float> x(static_cast<size_t>(batch) * 5632, 0.01f);
  std::vector<float> y(static_cast<size_t>(batch) * 32000);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    for (const model::PackedMatrix& m : w.matrices) {
      model::packed_matmul_parallel(isa, x.data(), batch, m, nullptr, y.data(), kThreads);
    }
    benchmark::DoNotOptimize(y.data());
  }
  model::force_integer_kernel(model::IntegerKernel::kAuto);
  state.counters["GB/s"] =
      benchmark::Counter(w.total_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["tokens/s"] =
      benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_PackedProduct)
    ->ArgsProduct({{0, 1, 2, 3, 4}, {1, 16}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

}  // namespace
}  // namespace ringserve::bench
