// `ringserve-bench micro --benchmark_filter=Product`: every matrix product of one GPT-2-small
// decode step (12 layers of qkv 2304x768, out 768x768, up 3072x768, down 768x3072, then the
// 50257x768 lm_head) at a given batch, through the small-batch kernel the engine uses
// (cpu_kernels.h) on 2 threads. The FMA/s counter is the products' arithmetic rate; time per
// iteration is the products' share of a decode step. Add --benchmark_repetitions=5 on a noisy
// machine and read the medians.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/kernels/cpu_kernels.h"

namespace ringserve::bench {
namespace {

struct Product {
  int64_t n, k;
  int count;
};
constexpr Product kGpt2Step[] = {
    {2304, 768, 12}, {768, 768, 12}, {3072, 768, 12}, {768, 3072, 12}, {50257, 768, 1}};
constexpr int kThreads = 2;

// Every layer's weights distinct (498 MB), so each product streams its matrix from memory as a
// real step does; one matrix per shape reused 12 times would sit in a 32 MB L3.
struct Weights {
  std::vector<std::vector<float>> plain;  // kGpt2Step's products in order, layer by layer
  Weights() {
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
    for (const Product& p : kGpt2Step) {
      for (int layer = 0; layer < p.count; ++layer) {
        std::vector<float> w(static_cast<size_t>(p.n * p.k));
        for (float& v : w) v = dist(rng);
        plain.push_back(std::move(w));
      }
    }
  }
};

const Weights& weights() {
  static const Weights w;
  return w;
}

// GPT-2-small's decode products with the kernel of `isa`: the best this CPU has, or AVX2 on an
// AVX-512 CPU (BM_ProductAvx2), so the AVX2 tiles and their blocking can be measured anywhere.
void run_products(benchmark::State& state, model::KernelIsa isa) {
  if (isa == model::KernelIsa::kNone) {
    state.SkipWithError("no AVX2+FMA on this CPU");
    return;
  }
  const auto batch = static_cast<int>(state.range(0));
  const Weights& w = weights();
  std::vector<float> x(static_cast<size_t>(batch) * 3072, 0.01f);
  std::vector<float> y(static_cast<size_t>(batch) * 50257);
  double fmas = 0;
  for (const Product& p : kGpt2Step) fmas += static_cast<double>(p.n * p.k * p.count) * batch;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    size_t i = 0;
    for (const Product& p : kGpt2Step) {
      for (int layer = 0; layer < p.count; ++layer, ++i) {
        model::small_batch_matmul_parallel(isa, x.data(), batch, w.plain[i].data(), p.k, nullptr,
                                           y.data(), p.n, kThreads);
      }
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["FMA/s"] = benchmark::Counter(fmas, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Product(benchmark::State& state) { run_products(state, model::best_kernel_isa()); }

void BM_ProductAvx2(benchmark::State& state) {
  run_products(state, model::best_kernel_isa() == model::KernelIsa::kNone
                          ? model::KernelIsa::kNone
                          : model::KernelIsa::kAvx2);
}

BENCHMARK(BM_Product)->Arg(1)->Arg(4)->Arg(8)->Arg(16)->Arg(28)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProductAvx2)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ringserve::bench
