// `ringserve-bench micro --benchmark_filter=Sampler`: the sampler on one GPT-2-sized vocabulary
// (50257 logits), per token, for the settings a request can ask for. Sampling runs on the
// daemon between forwards, so its cost is part of every step (docs/BENCHMARKS.md).
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "engine/sampler.h"

namespace ringserve::bench {
namespace {

constexpr size_t kVocab = 50257;

void run_sampler(benchmark::State& state, const model::SamplingParams& params) {
  // Logits of a realistic spread (normal, sd 3): a few hundred ids hold most of the mass.
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 3.0f);
  std::vector<float> logits(kVocab);
  for (float& l : logits) l = dist(rng);
  const std::vector<int32_t> history(256, 42);
  std::vector<float> scratch(kVocab);
  model::Sampler sampler(params);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    scratch = logits;
    benchmark::DoNotOptimize(sampler.sample(scratch, history));
  }
}

void BM_SamplerGreedy(benchmark::State& state) { run_sampler(state, {.temperature = 0.0f}); }
void BM_SamplerTemperature(benchmark::State& state) {
  run_sampler(state, {.temperature = 0.8f, .seed = 7});
}
void BM_SamplerTopK40(benchmark::State& state) {
  run_sampler(state, {.temperature = 0.8f, .top_k = 40, .seed = 7});
}
void BM_SamplerTopP09(benchmark::State& state) {
  run_sampler(state, {.temperature = 0.8f, .top_p = 0.9f, .seed = 7});
}
void BM_SamplerMinPRepetition(benchmark::State& state) {
  run_sampler(state, {.temperature = 0.8f, .min_p = 0.05f, .repetition_penalty = 1.1f, .seed = 7});
}
BENCHMARK(BM_SamplerGreedy);
BENCHMARK(BM_SamplerTemperature);
BENCHMARK(BM_SamplerTopK40);
BENCHMARK(BM_SamplerTopP09);
BENCHMARK(BM_SamplerMinPRepetition);

}  // namespace
}  // namespace ringserve::bench
