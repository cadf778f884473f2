// ringserve-bench model: the engine alone, no daemon. Measures prefill tokens/s, decode
// tokens/s at several batch sizes, and compares batch-1 decode with its memory-bandwidth
// floor: every decode step reads all weights once, so a step cannot beat
// weight bytes / memory bandwidth. The bandwidth is measured here, with as many threads as
// the engine uses, by streaming a buffer larger than the caches.
// While it runs, a progress line ("model: decode batch 8 (3/4), step 12/32, 9 s") is rewritten
// in place on stderr, only when stderr is a terminal: redirected or captured output gets
// nothing extra.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <immintrin.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/progress_line.h"
#include "engine/engine.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/model/model_weights.h"
#include "tools/model_making/random_model.h"

namespace ringserve::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Sums 32-byte vectors so the loop is load-bound, not add-bound.
typedef uint64_t Vec4 __attribute__((vector_size(32)));

uint64_t sum_range(const Vec4* begin, const Vec4* end) {
  Vec4 a = {0, 0, 0, 0}, b = a, c = a, d = a;
  for (const Vec4* p = begin; p + 4 <= end; p += 4) {
    a += p[0];
    b += p[1];
    c += p[2];
    d += p[3];
  }
  const Vec4 s = a + b + c + d;
  return s[0] + s[1] + s[2] + s[3];
}

// The same with 64-byte loads, on a CPU with AVX-512: on an Ice Lake server the 32-byte loop
// read 15.8-17.7 GB/s where this one read 22.4-23.5, and the product kernel (64-byte loads)
// streamed decode's weights at ~26, "137% of the floor".
__attribute__((target("avx512f"))) uint64_t sum_range_avx512(const Vec4* begin, const Vec4* end) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  const auto* p = reinterpret_cast<const char*>(begin);
  const auto* last = reinterpret_cast<const char*>(end);
  for (; p + 256 <= last; p += 256) {
    a = _mm512_add_epi64(a, _mm512_loadu_si512(p));
    b = _mm512_add_epi64(b, _mm512_loadu_si512(p + 64));
    c = _mm512_add_epi64(c, _mm512_loadu_si512(p + 128));
    d = _mm512_add_epi64(d, _mm512_loadu_si512(p + 192));
  }
  // Through memory, not _mm512_reduce_add_epi64: GCC 12 warns inside it (an undefined vector).
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
  uint64_t total = 0;
  for (const uint64_t lane : lanes) total += lane;
  return total;
}

// Best of several passes of `threads` threads each reading its part of a 1 GiB buffer, with the
// widest loads the CPU has (the floor is what the hardware can stream, not what one loop does).
double measure_bandwidth_gbps(int threads) {
  const size_t bytes = size_t{1} << 30;
  const size_t count = bytes / sizeof(Vec4);
  std::unique_ptr<Vec4[]> buffer(new Vec4[count]);
  std::memset(static_cast<void*>(buffer.get()), 1, bytes);  // fault every page in first
  const bool avx512 = __builtin_cpu_supports("avx512f");
  double best = 0;
  volatile uint64_t sink = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::thread> pool;
    std::vector<uint64_t> sums(static_cast<size_t>(threads));
    const auto t0 = Clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t per = count / static_cast<size_t>(threads);
        const Vec4* begin = buffer.get() + per * static_cast<size_t>(t);
        sums[static_cast<size_t>(t)] =
            avx512 ? sum_range_avx512(begin, begin + per) : sum_range(begin, begin + per);
      });
    }
    for (auto& th : pool) th.join();
    const double s = seconds_since(t0);
    for (uint64_t v : sums) sink = sink + v;
    best = std::max(best, static_cast<double>(bytes) / s / 1e9);
  }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<uint32_t> parse_batches(const std::string& text) {
  std::vector<uint32_t> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ',')) {
    const long v = std::strtol(item.c_str(), nullptr, 10);
    if (v > 0) out.push_back(static_cast<uint32_t>(v));
  }
  return out;
}

// One forward, timed: the step's wall time and the attention's share of it, appended.
void timed_forward(model::Engine& engine, std::span<const model::EngineInput> inputs,
                   std::vector<float>* logits, std::vector<double>* step_times,
                   std::vector<double>* attention_times) {
  const double attention_before = engine.attention_seconds();
  const auto t0 = Clock::now();
  engine.forward(inputs, logits);
  step_times->push_back(seconds_since(t0));
  attention_times->push_back(engine.attention_seconds() - attention_before);
}

// --compare-kv-layouts: each batch's decode steps twice over in one run, alternating step by
// step (which goes first alternates too): every sequence's blocks one run in order, as a
// contiguous cache holds a sequence (the attention kernel reads it as one stretch of rows),
// against every block apart in shuffled order, the worst a pool can hand out (a stretch per
// block, each one prefetched). Prints the medians and their ratio.
nlohmann::json compare_kv_layouts(model::Engine& engine, const std::vector<int32_t>& prompt,
                                  const std::vector<uint32_t>& batches, uint32_t steps,
                                  ProgressLine* progress) {
  using model::EngineInput;
  std::printf("decode, KV blocks in order against scattered (alternating steps):\n");
  std::printf("%8s %12s %12s %12s %12s %10s\n", "batch", "in order ms", "attention", "scattered",
              "attention", "ratio");
  nlohmann::json out = nlohmann::json::array();
  const auto vocab = static_cast<uint32_t>(engine.vocab_size());
  const auto prompt_tokens = static_cast<int32_t>(prompt.size());
  std::mt19937 rng(1);
  for (const uint32_t batch : batches) {
    // Arm 0: slots 0..batch-1 as they are. Arm 1: the blocks of slots batch..2*batch-1,
    // shuffled and dealt out.
    std::vector<std::vector<int32_t>> tables[2];
    std::vector<int32_t> spare;
    for (uint32_t b = 0; b < batch; ++b) {
      const auto own = engine.slot_blocks(b);
      tables[0].emplace_back(own.begin(), own.end());
      const auto other = engine.slot_blocks(batch + b);
      spare.insert(spare.end(), other.begin(), other.end());
    }
    std::shuffle(spare.begin(), spare.end(), rng);
    const size_t per = tables[0].front().size();
    for (uint32_t b = 0; b < batch; ++b) {
      tables[1].emplace_back(spare.begin() + static_cast<std::ptrdiff_t>(b * per),
                             spare.begin() + static_cast<std::ptrdiff_t>((b + 1) * per));
    }
    std::vector<float> logits;
    std::vector<EngineInput> inputs(batch);
    for (const auto& arm : tables) {
      progress->show("layouts, batch %u, prefill", batch);
      for (uint32_t b = 0; b < batch; ++b) inputs[b] = {arm[b], 0, prompt};
      engine.forward(inputs, &logits);
    }
    std::vector<double> step_times[2], attention_times[2];
    std::vector<int32_t> next(batch);
    for (uint32_t s = 0; s < steps; ++s) {
      progress->show("layouts, batch %u, step %u/%u", batch, s + 1, steps);
      for (int turn = 0; turn < 2; ++turn) {
        const int arm = (turn + static_cast<int>(s)) % 2;
        for (uint32_t b = 0; b < batch; ++b) {
          next[b] = static_cast<int32_t>((s * 31u + b) % vocab);
          inputs[b] = {tables[arm][b], prompt_tokens + static_cast<int32_t>(s), {&next[b], 1}};
        }
        timed_forward(engine, inputs, &logits, &step_times[arm], &attention_times[arm]);
      }
    }
    progress->clear();
    const double step[2] = {median(step_times[0]), median(step_times[1])};
    const double attention[2] = {median(attention_times[0]), median(attention_times[1])};
    std::printf("%8u %12.2f %12.2f %12.2f %12.2f %9.3fx\n", batch, step[0] * 1e3,
                attention[0] * 1e3, step[1] * 1e3, attention[1] * 1e3, step[1] / step[0]);
    out.push_back({{"batch", batch},
                   {"in_order_step_ms", step[0] * 1e3},
                   {"in_order_attention_ms", attention[0] * 1e3},
                   {"scattered_step_ms", step[1] * 1e3},
                   {"scattered_attention_ms", attention[1] * 1e3},
                   {"ratio", step[1] / step[0]}});
  }
  return out;
}

}  // namespace

int model_main(const Options& opts) {
  using namespace ringserve::model;
  std::string dir = opts.get("model", "");
  std::string temp_dir;
  if (dir.empty()) {
    const std::string preset = opts.get("preset", "gpt2-small");
    RandomModelSpec spec;
    if (!random_model_preset(preset, &spec)) {
      std::fprintf(stderr, "ringserve-bench model: unknown --preset '%s'\n", preset.c_str());
      return 2;
    }
    temp_dir = (std::filesystem::temp_directory_path() /
                ("ringserve-bench-model-" + std::to_string(::getpid())))
                   .string();
    std::string error;
    std::fprintf(stderr, "writing a random %s model to %s ...\n", preset.c_str(), temp_dir.c_str());
    if (!write_random_model(temp_dir, spec, &error)) {
      std::fprintf(stderr, "ringserve-bench model: %s\n", error.c_str());
      return 1;
    }
    dir = temp_dir;
  }
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      if (!path.empty()) std::filesystem::remove_all(path);
    }
  } cleanup{temp_dir};

  const uint32_t prompt_tokens = opts.get_u32("prompt-tokens", 128);
  const uint32_t steps = opts.get_u32("steps", 32);
  std::vector<uint32_t> batches = parse_batches(opts.get("batches", "1,4,8,16"));
  if (batches.empty()) {
    std::fprintf(stderr, "ringserve-bench model: --batches must list sizes, e.g. 1,4,8,16\n");
    return 2;
  }
  EngineOptions eo;
  eo.threads = static_cast<int>(opts.get_u32(
      "threads", static_cast<uint32_t>(std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN)))));
  eo.dtype = opts.get("dtype", "float32");
  eo.device = opts.get("device", "cpu");
  // --mixed-chunk C: every decode step also prefills a C-token chunk of one more sequence, the
  // shape of a served step right after a request is admitted.
  const uint32_t mixed_chunk = opts.get_u32("mixed-chunk", 0);
  const bool compare_layouts = opts.has("compare-kv-layouts");
  const uint32_t max_batch = *std::max_element(batches.begin(), batches.end());
  // --compare-kv-layouts: a second set of blocks as large, for the scattered tables.
  eo.max_sequences =
      std::max(max_batch + (mixed_chunk > 0 ? 1 : 0), compare_layouts ? 2 * max_batch : 0);
  eo.max_seq_len = prompt_tokens + steps + 1;

  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Engine> engine;
  std::string error;
  ProgressLine progress("model: ", /*show_elapsed=*/true);
  progress.show("loading %s", dir.c_str());
  if (!ModelConfig::load(dir, &config, &error) ||
      !ModelWeights::open(dir, config, &weights, &error) ||
      !Engine::create(config, *weights, eo, &engine, &error)) {
    progress.clear();
    std::fprintf(stderr, "ringserve-bench model: %s\n", error.c_str());
    return 1;
  }
  weights.reset();  // the engine holds its own copy; drop the mapping
  progress.clear();
  if (eo.max_seq_len > engine->max_seq_len()) {
    std::fprintf(stderr, "ringserve-bench model: --prompt-tokens + --steps exceed the context\n");
    return 2;
  }

  progress.show("measuring memory bandwidth");
  const double bandwidth = eo.device == "cpu" ? measure_bandwidth_gbps(engine->threads()) : 0;
  progress.clear();
  const double weight_mb = static_cast<double>(engine->weight_bytes()) / 1e6;
  std::printf("model %s: %s, %lld layers, hidden %lld, vocab %lld; %s %s, %d threads\n",
              dir.c_str(), config.model_type.c_str(), static_cast<long long>(config.num_layers),
              static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size),
              engine->device_name().c_str(), engine->dtype_name().c_str(), engine->threads());
  std::printf(
      "weights %.1f MB; measured read bandwidth %.1f GB/s -> batch-1 decode floor %.2f ms\n",
      weight_mb, bandwidth, bandwidth > 0 ? weight_mb / 1e3 / bandwidth * 1e3 : 0.0);

  std::vector<int32_t> prompt(prompt_tokens);
  for (uint32_t i = 0; i < prompt_tokens; ++i) {
    prompt[i] = static_cast<int32_t>((i * 7919u + 13u) % static_cast<uint32_t>(config.vocab_size));
  }
  std::vector<float> logits;

  // Prefill: one prompt of prompt_tokens, alone.
  std::vector<double> prefill_times;
  for (int r = 0; r < 3; ++r) {
    progress.show("prefill %d/3", r + 1);
    EngineInput in{engine->slot_blocks(0), 0, prompt};
    const auto t0 = Clock::now();
    engine->forward({&in, 1}, &logits);
    prefill_times.push_back(seconds_since(t0));
  }
  progress.clear();
  const double prefill_tps = prompt_tokens / median(prefill_times);
  std::printf("prefill: %u tokens in %.1f ms = %.0f tokens/s\n", prompt_tokens,
              median(prefill_times) * 1e3, prefill_tps);

  nlohmann::json results = nlohmann::json::array();
  double batch1_ratio = 0;
  // --compare-blas: the same decode loop again with BLAS for every product and ATen's
  // attention, in this run.
  const bool compare = opts.has("compare-blas");
  for (int variant = 0; variant < (compare ? 2 : 1); ++variant) {
    const bool kernel = engine->use_small_batch_kernel(variant == 0);
    engine->use_paged_attention_kernel(variant == 0);
    const std::string products = kernel ? engine->products_name() : "BLAS only";
    std::printf("decode%s, %s:\n",
                mixed_chunk > 0
                    ? (" + a " + std::to_string(mixed_chunk) + "-token prompt chunk").c_str()
                    : "",
                products.c_str());
    std::printf("%8s %14s %14s %12s %14s\n", "batch", "ms/step", "tokens/s", "floor/step",
                "attention ms");
    for (size_t bi = 0; bi < batches.size(); ++bi) {
      const uint32_t batch = batches[bi];
      progress.show("decode batch %u (%zu/%zu), prefill", batch, bi + 1, batches.size());
      std::vector<std::vector<int32_t>> seqs(batch, prompt);
      std::vector<EngineInput> inputs(batch + (mixed_chunk > 0 ? 1 : 0));
      if (mixed_chunk > 0) {
        inputs[batch] = {engine->slot_blocks(batch),
                         0,
                         {prompt.data(), std::min<size_t>(mixed_chunk, prompt.size())}};
      }
      for (uint32_t b = 0; b < batch; ++b) {
        inputs[b] = {engine->slot_blocks(b), 0, seqs[b]};
      }
      engine->forward({inputs.data(), batch}, &logits);  // prefill all
      std::vector<int32_t> next(batch, 1);
      std::vector<double> step_times, attention_times;
      for (uint32_t s = 0; s < steps; ++s) {
        for (uint32_t b = 0; b < batch; ++b) {
          next[b] = static_cast<int32_t>((s * 31u + b) % static_cast<uint32_t>(config.vocab_size));
          inputs[b] = {
              engine->slot_blocks(b), static_cast<int32_t>(prompt_tokens + s), {&next[b], 1}};
        }
        progress.show("decode batch %u (%zu/%zu), step %u/%u", batch, bi + 1, batches.size(), s + 1,
                      steps);
        timed_forward(*engine, inputs, &logits, &step_times, &attention_times);
      }
      progress.clear();
      const double step = median(step_times);
      const double attention = median(attention_times);
      const double floor_s = bandwidth > 0 ? weight_mb / 1e3 / bandwidth : 0;
      const double ratio = step > 0 ? floor_s / step : 0;
      if (batch == 1 && variant == 0) batch1_ratio = ratio;
      std::printf("%8u %14.2f %14.1f %11.0f%% %14.2f\n", batch, step * 1e3, batch / step,
                  ratio * 100, attention * 1e3);
      results.push_back({{"batch", batch},
                         {"kernel", kernel ? to_string(best_kernel_isa()) : "blas"},
                         {"mixed_chunk", mixed_chunk},
                         {"step_ms", step * 1e3},
                         {"attention_ms", attention * 1e3},
                         {"tokens_per_s", batch / step},
                         {"floor_ratio", ratio}});
    }
  }
  engine->use_small_batch_kernel(true);
  engine->use_paged_attention_kernel(true);
  nlohmann::json layouts = nlohmann::json::array();
  if (compare_layouts) layouts = compare_kv_layouts(*engine, prompt, batches, steps, &progress);
  if (batch1_ratio > 0) {
    std::printf("batch-1 decode reaches %.0f%% of the bandwidth floor\n", batch1_ratio * 100);
  }
  if (opts.has("json")) {
    nlohmann::json j = {{"model", dir},
                        {"model_type", config.model_type},
                        {"threads", engine->threads()},
                        {"dtype", engine->dtype_name()},
                        {"weight_bytes", engine->weight_bytes()},
                        {"bandwidth_gbps", bandwidth},
                        {"prefill_tokens", prompt_tokens},
                        {"prefill_tokens_per_s", prefill_tps},
                        {"batch1_floor_ratio", batch1_ratio},
                        {"decode", results}};
    if (compare_layouts) j["kv_layouts"] = layouts;
    std::ofstream(opts.get("json", "")) << j.dump(2) << "\n";
  }
  return 0;
}

}  // namespace ringserve::bench
