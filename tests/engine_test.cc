// Engine: a sequence's logits are the same whether it runs alone or packed into a batch with
// other sequences of different lengths, prefilled whole or in chunks, decoding while others
// prefill, in a cache slot another sequence used before, and in cache blocks anywhere in the
// pool, in any order, its first ones shared with another sequence -- in every weight format.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "engine/engine.h"
#include "engine/kernels/cpu_kernels.h"
#include "engine/model/model_weights.h"
#include "tools/model_making/random_model.h"

namespace ringserve::model {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  std::unique_ptr<Engine> engine;
};

Loaded load(const std::string& dir, int64_t slots, const std::string& dtype = "float32",
            int64_t kv_blocks = 0, int64_t max_seq_len = 64) {
  Loaded m;
  std::string error;
  EXPECT_TRUE(ModelConfig::load(dir, &m.config, &error)) << error;
  EXPECT_TRUE(ModelWeights::open(dir, m.config, &m.weights, &error)) << error;
  EngineOptions options;
  options.max_sequences = slots;
  options.max_seq_len = max_seq_len;
  options.dtype = dtype;
  options.kv_blocks = kv_blocks;
  EXPECT_TRUE(Engine::create(m.config, *m.weights, options, &m.engine, &error)) << error;
  return m;
}

int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

// Max |a - b| relative to max(1, max |b|).
double relative_error(std::span<const float> a, std::span<const float> b) {
  double diff = 0, scale = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::fabs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  }
  return diff / scale;
}

// Prefill then `steps` greedy decode steps, alone in slot 0. Returns one logits row per step.
std::vector<std::vector<float>> run_alone(Engine& engine, std::vector<int32_t> tokens, int steps) {
  std::vector<std::vector<float>> rows;
  std::vector<float> logits;
  EngineInput in{engine.slot_blocks(0), 0, tokens};
  engine.forward({&in, 1}, &logits);
  rows.push_back(logits);
  for (int s = 0; s < steps; ++s) {
    tokens.push_back(argmax(logits));
    EngineInput next{
        engine.slot_blocks(0), static_cast<int32_t>(tokens.size() - 1), {&tokens.back(), 1}};
    engine.forward({&next, 1}, &logits);
    rows.push_back(logits);
  }
  return rows;
}

// (model preset, model.dtype)
class EngineBatchTest : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {
 protected:
  void SetUp() override {
    family_ = std::get<0>(GetParam());
    dtype_ = std::get<1>(GetParam());
    dir_ = (fs::temp_directory_path() /
            ("ringserve-engine-test-" + std::to_string(::getpid()) + "-" + family_ + "-" + dtype_))
               .string();
    RandomModelSpec spec;
    ASSERT_TRUE(random_model_preset(family_, &spec));
    spec.llama3_rope_scaling = spec.model_type != "gpt2";
    std::string error;
    ASSERT_TRUE(write_random_model(dir_, spec, &error)) << error;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string family_, dtype_, dir_;
};

TEST_P(EngineBatchTest, BatchedLogitsEqualAlone) {
  const std::vector<std::vector<int32_t>> prompts = {
      {5, 17, 200, 3, 9, 44, 61},
      {250, 251, 252},
      {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
  };
  const int steps = 4;
  Loaded alone = load(dir_, 1, dtype_);
  std::vector<std::vector<std::vector<float>>> expected;
  for (const auto& p : prompts) expected.push_back(run_alone(*alone.engine, p, steps));

  // Same sequences in one engine, slots 2, 0, 1; sequence 2 is prefilled in chunks of 5 while
  // the others already decode, so one forward mixes prefill chunks and decode tokens.
  Loaded batched = load(dir_, 3, dtype_);
  const int32_t slot_of[] = {2, 0, 1};
  std::vector<std::vector<int32_t>> tokens = prompts;
  std::vector<size_t> cached(prompts.size(), 0);
  std::vector<std::vector<std::vector<float>>> got(prompts.size());
  std::vector<float> logits;
  while (
      std::any_of(got.begin(), got.end(), [&](const auto& g) { return g.size() < steps + 1u; })) {
    std::vector<EngineInput> inputs;
    std::vector<size_t> owner;
    for (size_t i = 0; i < prompts.size(); ++i) {
      if (got[i].size() == steps + 1u) continue;
      const size_t chunk = i == 2 ? 5 : tokens[i].size();
      const size_t n = std::min(chunk, tokens[i].size() - cached[i]);
      inputs.push_back({batched.engine->slot_blocks(slot_of[i]),
                        static_cast<int32_t>(cached[i]),
                        {tokens[i].data() + cached[i], n}});
      owner.push_back(i);
    }
    batched.engine->forward(inputs, &logits);
    const auto vocab = static_cast<size_t>(batched.engine->vocab_size());
    for (size_t r = 0; r < owner.size(); ++r) {
      const size_t i = owner[r];
      cached[i] += inputs[r].tokens.size();
      if (cached[i] < tokens[i].size()) continue;  // prefill chunk: no logits wanted yet
      std::span<const float> row(logits.data() + r * vocab, vocab);
      got[i].emplace_back(row.begin(), row.end());
      tokens[i].push_back(argmax(row));
    }
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    for (int s = 0; s <= steps; ++s) {
      EXPECT_LT(relative_error(got[i][s], expected[i][s]), 1e-5)
          << "sequence " << i << " step " << s;
    }
  }
}

TEST_P(EngineBatchTest, ReusedSlotForgetsThePreviousSequence) {
  Loaded m = load(dir_, 2, dtype_);
  const std::vector<int32_t> prompt = {9, 8, 7, 6};
  const auto fresh = run_alone(*m.engine, prompt, 2);
  // Fill slot 0 with a longer, different sequence, then run the prompt there again.
  std::vector<int32_t> other(40, 123);
  std::vector<float> logits;
  EngineInput in{m.engine->slot_blocks(0), 0, other};
  m.engine->forward({&in, 1}, &logits);
  const auto again = run_alone(*m.engine, prompt, 2);
  for (size_t s = 0; s < fresh.size(); ++s) EXPECT_LT(relative_error(again[s], fresh[s]), 1e-6);
}

// Two sequences in blocks scattered over a 12-block pool, the second's first block (16 prompt
// tokens) the first's: the second is prefilled from position 16 only, reading the shared block
// where the first wrote it. Both then decode together. Each must see what it sees alone.
void expect_shared_prefix_blocks_work(Engine& engine, Engine& reference) {
  std::vector<int32_t> a, b;
  for (int i = 0; i < 21; ++i) a.push_back((i * 29 + 3) % 250);
  b.assign(a.begin(), a.begin() + 16);
  for (int i = 0; i < 6; ++i) b.push_back((i * 13 + 100) % 250);
  const int steps = 3;
  const auto want_a = run_alone(reference, a, steps);
  const auto want_b = run_alone(reference, b, steps);

  const std::vector<int32_t> table_a = {7, 2, 10, 4};
  const std::vector<int32_t> table_b = {7, 5, 0, 11};
  std::vector<float> logits;
  std::vector<std::vector<float>> got_a, got_b;
  const auto vocab = static_cast<size_t>(engine.vocab_size());
  EngineInput in_a{table_a, 0, a};
  engine.forward({&in_a, 1}, &logits);
  got_a.push_back(logits);
  EngineInput in_b{table_b, 16, {b.data() + 16, b.size() - 16}};
  engine.forward({&in_b, 1}, &logits);
  got_b.push_back(logits);
  for (int s = 0; s < steps; ++s) {
    a.push_back(argmax(got_a.back()));
    b.push_back(argmax(got_b.back()));
    const EngineInput step[] = {
        {table_b, static_cast<int32_t>(b.size() - 1), {&b.back(), 1}},
        {table_a, static_cast<int32_t>(a.size() - 1), {&a.back(), 1}},
    };
    engine.forward(step, &logits);
    got_b.emplace_back(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(vocab));
    got_a.emplace_back(logits.begin() + static_cast<std::ptrdiff_t>(vocab), logits.end());
  }
  for (int s = 0; s <= steps; ++s) {
    EXPECT_LT(relative_error(got_a[s], want_a[s]), 1e-5) << "first sequence, step " << s;
    EXPECT_LT(relative_error(got_b[s], want_b[s]), 1e-5) << "second sequence, step " << s;
  }
}

TEST_P(EngineBatchTest, SharedPrefixBlocksAnywhereInThePool) {
  Loaded paged = load(dir_, 1, dtype_, 12);
  Loaded reference = load(dir_, 1, dtype_);
  EXPECT_EQ(paged.engine->kv_blocks(), 12);
  EXPECT_EQ(reference.engine->kv_blocks(), 4);  // one context of 64 positions
  expect_shared_prefix_blocks_work(*paged.engine, *reference.engine);
}

// A pool that cannot hold one whole context is refused at create(), with the numbers.
TEST_P(EngineBatchTest, PoolSmallerThanOneContextIsRefused) {
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  std::string error;
  ASSERT_TRUE(ModelConfig::load(dir_, &config, &error)) << error;
  ASSERT_TRUE(ModelWeights::open(dir_, config, &weights, &error)) << error;
  EngineOptions options;
  options.max_seq_len = 64;
  options.dtype = dtype_;
  options.kv_blocks = 3;
  std::unique_ptr<Engine> engine;
  EXPECT_FALSE(Engine::create(config, *weights, options, &engine, &error));
  EXPECT_EQ(error,
            "a KV cache of 3 blocks of 16 positions cannot hold one whole context of 64 positions "
            "(4 blocks)");
}

// Float32 alone has a BLAS path to agree with.
class EngineFloat32Test : public EngineBatchTest {};

TEST_P(EngineFloat32Test, SmallBatchKernelAgreesWithBlas) {
  Loaded m = load(dir_, 1);
  // 40 prompt tokens: prefill goes through BLAS either way; the decode steps (1 row) through
  // the kernel or BLAS.
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back((i * 37 + 5) % 250);
  if (!m.engine->use_small_batch_kernel(true)) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  const auto with_kernel = run_alone(*m.engine, prompt, 4);
  m.engine->use_small_batch_kernel(false);
  const auto with_blas = run_alone(*m.engine, prompt, 4);
  for (size_t s = 0; s < with_kernel.size(); ++s) {
    EXPECT_LT(relative_error(with_kernel[s], with_blas[s]), 1e-5) << "step " << s;
  }
}

// The ATen path (CUDA's) reads a block table in a few runs of consecutive ids in place, as
// views of the cache, and copies only a table in more pieces (the pool keeps tables in runs):
// the logits are those of one contiguous run either way.
TEST_P(EngineBatchTest, AtenPathReadsRunsInPlace) {
  const int64_t max_len = 96;  // six blocks
  Loaded aten = load(dir_, 1, dtype_, 12, max_len);
  Loaded reference = load(dir_, 1, dtype_, 0, max_len);
  aten.engine->use_paged_attention_kernel(false);
  reference.engine->use_paged_attention_kernel(false);
  std::vector<int32_t> prompt;
  for (int i = 0; i < 70; ++i) prompt.push_back((i * 31 + 7) % 250);
  const int steps = 4;  // 74 positions: five blocks
  const auto want = run_alone(*reference.engine, prompt, steps);
  const struct {
    std::vector<int32_t> table;
    uint64_t copies;  // sequence-layers gathered per forward
  } cases[] = {
      {{6, 7, 8, 9, 10, 11}, 0},                                             // one run
      {{1, 2, 8, 9, 4, 5}, 0},                                               // three runs
      {{11, 3, 9, 1, 7, 5}, static_cast<uint64_t>(aten.config.num_layers)},  // five pieces
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.table));
    std::vector<int32_t> tokens = prompt;
    std::vector<float> logits;
    for (int s = 0; s <= steps; ++s) {
      const uint64_t before = aten.engine->attention_copies();
      const auto start = static_cast<size_t>(s == 0 ? 0 : tokens.size() - 1);
      EngineInput in{
          c.table, static_cast<int32_t>(start), {tokens.data() + start, tokens.size() - start}};
      aten.engine->forward({&in, 1}, &logits);
      EXPECT_EQ(aten.engine->attention_copies() - before, c.copies) << "step " << s;
      EXPECT_LT(relative_error(logits, want[static_cast<size_t>(s)]), 1e-5) << "step " << s;
      tokens.push_back(argmax(want[static_cast<size_t>(s)]));
    }
  }
}

// The ATen path (CUDA's) reads the blocks itself; on the CPU it runs only when asked for.
TEST_P(EngineFloat32Test, AtenPathReadsSharedPrefixBlocks) {
  Loaded paged = load(dir_, 1, "float32", 12);
  Loaded reference = load(dir_, 1);
  EXPECT_FALSE(paged.engine->use_paged_attention_kernel(false));
  reference.engine->use_paged_attention_kernel(false);
  expect_shared_prefix_blocks_work(*paged.engine, *reference.engine);
}

// With BLAS for the products, attention still reads the blocks in place: the same logits.
TEST_P(EngineFloat32Test, PagedAttentionKernelAgreesWithAten) {
  if (best_kernel_isa() == KernelIsa::kNone) GTEST_SKIP() << "no AVX2/FMA on this CPU";
  Loaded kernel = load(dir_, 1, "float32", 12);
  Loaded aten = load(dir_, 1, "float32", 12);
  kernel.engine->use_small_batch_kernel(false);
  EXPECT_TRUE(kernel.engine->use_paged_attention_kernel(true));
  aten.engine->use_small_batch_kernel(false);
  aten.engine->use_paged_attention_kernel(false);
  expect_shared_prefix_blocks_work(*kernel.engine, *aten.engine);
}

// The test name's part for a (preset, dtype) parameter.
std::string param_name(const ::testing::TestParamInfo<std::tuple<const char*, const char*>>& info) {
  std::string name = std::string(std::get<0>(info.param)) + "_" + std::get<1>(info.param);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Families, EngineBatchTest,
                         ::testing::Combine(::testing::Values("tiny-gpt2", "tiny-llama"),
                                            ::testing::Values("float32", "bfloat16", "float16",
                                                              "int8", "int4")),
                         param_name);
INSTANTIATE_TEST_SUITE_P(Families, EngineFloat32Test,
                         ::testing::Combine(::testing::Values("tiny-gpt2", "tiny-llama"),
                                            ::testing::Values("float32")),
                         param_name);

TEST(EngineOptionsTest, BadDeviceAndDtypeAreClearErrors) {
  const std::string dir =
      (fs::temp_directory_path() / ("ringserve-engine-opts-" + std::to_string(::getpid())))
          .string();
  RandomModelSpec spec;
  ASSERT_TRUE(random_model_preset("tiny-llama", &spec));
  std::string error;
  ASSERT_TRUE(write_random_model(dir, spec, &error)) << error;
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  ASSERT_TRUE(ModelConfig::load(dir, &config, &error));
  ASSERT_TRUE(ModelWeights::open(dir, config, &weights, &error));
  std::unique_ptr<Engine> engine;
  EngineOptions options;
  options.dtype = "float8";
  EXPECT_FALSE(Engine::create(config, *weights, options, &engine, &error));
  EXPECT_EQ(error, "model.dtype 'float8' is not one of float32, bfloat16, float16, int8, int4");
  options.dtype = "float32";
  options.device = "tpu";
  EXPECT_FALSE(Engine::create(config, *weights, options, &engine, &error));
  EXPECT_EQ(error, "model.device 'tpu' is not a device (use cpu or cuda[:N])");
  if (!cuda_available()) {
    options.device = "cuda";
    EXPECT_FALSE(Engine::create(config, *weights, options, &engine, &error));
    EXPECT_NE(error.find("no CUDA support"), std::string::npos) << error;
  }
  options.device = "cpu";
  // A float32 file held in each format: the matrices at the format's bytes per weight, the
  // norms in float32 (a 64-wide model's norms are 2 x 64 floats a layer plus the final one).
  const uint64_t total = weights->total_bytes();
  const uint64_t norms = (2 * static_cast<uint64_t>(config.num_layers) + 1) * 64 * 4;
  const std::pair<const char*, double> bytes_per_weight[] = {
      {"bfloat16", 2.0}, {"float16", 2.0}, {"int8", 34.0 / 32}, {"int4", 18.0 / 32}};
  for (const auto& [dtype, bytes] : bytes_per_weight) {
    options.dtype = dtype;
    ASSERT_TRUE(Engine::create(config, *weights, options, &engine, &error)) << error;
    EXPECT_EQ(engine->dtype_name(), dtype);
    const double matrices = static_cast<double>(total - norms) / 4 * bytes;
    // int4 holds the tied embedding / logits head in int8: between the two sizes.
    EXPECT_GE(static_cast<double>(engine->weight_bytes()), matrices + norms - 1) << dtype;
    const double most = static_cast<double>(total - norms) / 4 * std::max(bytes, 34.0 / 32);
    // A block format holds its matrices in groups of 16 rows: the embedding's and the logits
    // head's rows (the vocabulary, 300; every other matrix here has a multiple of 16) are
    // padded to a whole group, in int8.
    const bool blocks = bytes < 2.0;
    const double padding =
        blocks ? 2.0 * static_cast<double>((16 - (config.vocab_size % 16)) % 16) * 64 * 34 / 32
               : 0.0;
    EXPECT_LE(static_cast<double>(engine->weight_bytes()), most + norms + padding) << dtype;
  }
  fs::remove_all(dir);
}

// A block format cannot hold rows that are not whole blocks: such a matrix is held in float16
// (the model still loads and runs, at float16's size for that matrix).
TEST(EngineOptionsTest, RowsOfPartBlocksFallBackToFloat16) {
  const std::string dir =
      (fs::temp_directory_path() / ("ringserve-engine-rows-" + std::to_string(::getpid())))
          .string();
  RandomModelSpec spec;
  ASSERT_TRUE(random_model_preset("tiny-llama", &spec));
  spec.intermediate = 80;  // the down projection's rows: 2.5 blocks of 32
  std::string error;
  ASSERT_TRUE(write_random_model(dir, spec, &error)) << error;
  ModelConfig config;
  std::unique_ptr<ModelWeights> weights;
  ASSERT_TRUE(ModelConfig::load(dir, &config, &error)) << error;
  ASSERT_TRUE(ModelWeights::open(dir, config, &weights, &error)) << error;
  EngineOptions options;
  options.max_seq_len = 32;
  std::unique_ptr<Engine> f16, int8;
  options.dtype = "float16";
  ASSERT_TRUE(Engine::create(config, *weights, options, &f16, &error)) << error;
  options.dtype = "int8";
  ASSERT_TRUE(Engine::create(config, *weights, options, &int8, &error)) << error;
  // Each layer's down projection [64, 80] in float16 (2 bytes a weight), the rest in int8.
  const uint64_t down = uint64_t{64} * 80;
  const uint64_t norms = uint64_t{5} * 64 * 4;  // 2 per layer and the final one, float32
  const auto layers = static_cast<uint64_t>(spec.layers);
  const uint64_t others = (f16->weight_bytes() - (layers * down * 2) - norms) / 2;
  // int8 holds its matrices in groups of 16 rows: the embedding's and the logits head's rows
  // (the vocabulary, 300) are padded to a whole group.
  const auto padding =
      2 * static_cast<uint64_t>((16 - (config.vocab_size % 16)) % 16) * 64 * 34 / 32;
  EXPECT_EQ(int8->weight_bytes(), (layers * down * 2) + (others * 34 / 32) + norms + padding);
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5};
  const auto want = run_alone(*f16, prompt, 3);
  const auto got = run_alone(*int8, prompt, 3);
  for (size_t s = 0; s < want.size(); ++s) {
    EXPECT_LT(relative_error(got[s], want[s]), 0.05) << "step " << s;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ringserve::model
