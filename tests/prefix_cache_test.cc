// The paged KV cache and the prefix cache end to end: a real ringserved running small random
// models, real clients in threads. The cache must change nothing anyone gets -- the same tokens
// with it on and off, in every weight format, in batch and interleave modes, with
// conversations of different lengths sharing a system prompt's blocks -- and a pool too small
// for everyone must make requests wait (admission) or be preempted and recomputed (decode),
// never fail, and still give each its own tokens.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "ringserve/client.h"
#include "tests/daemon_process.h"
#include "tests/model_test_support.h"
#include "tools/model_making/random_model.h"

namespace ringserve::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct Output {
  std::vector<int32_t> ids;
  std::string text;
  Status status;
  RequestInfo info;
};

Output drain(const Status& submitted, std::unique_ptr<Stream> stream) {
  Output out;
  out.status = submitted;
  if (!submitted.ok()) return out;
  Token t;
  while ((out.status = stream->next(&t, 20s)).ok()) {
    out.ids.push_back(t.id);
    out.text += t.text;
  }
  out.info = stream->info();
  return out;
}

Output chat(Client& client, const std::vector<ChatMessage>& messages, const GenerateParams& p) {
  std::unique_ptr<Stream> stream;
  const Status s = client.chat(messages, p, &stream);
  return drain(s, std::move(stream));
}

Output generate(Client& client, const std::string& prompt, const GenerateParams& p) {
  std::unique_ptr<Stream> stream;
  const Status s = client.generate(prompt, p, &stream);
  return drain(s, std::move(stream));
}

GenerateParams seeded(uint32_t max_tokens) {
  GenerateParams p;
  p.max_tokens = max_tokens;
  p.temperature = 0.9f;
  p.top_k = 40;
  p.seed = 4242;
  return p;
}

std::unique_ptr<Daemon> start_daemon(const std::string& dir, std::vector<std::string> extra) {
  std::vector<std::string> args = {"--set", "model.backend=torch", "--set", "model.path=" + dir,
                                   "--set", "model.threads=1"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto daemon = std::make_unique<Daemon>(args);
  EXPECT_TRUE(daemon->ready());
  return daemon;
}

// Three conversations in three threads, four turns each, all after the same system prompt (so
// they share its blocks), each turn sending the whole history back with the previous answers.
// Conversation 1 samples (seeded), the others are greedy; their lengths differ. Returns every
// turn's output, conversation by conversation.
std::vector<std::vector<Output>> converse(Client& client) {
  const std::string system =
      "You are a careful assistant. Answer briefly, and never repeat the question back.";
  const std::vector<std::vector<std::string>> questions = {
      {"What is shared memory?", "And a ring buffer?", "Why lock-free?", "Thanks."},
      {"Tell me a story about a fox.", "Longer, please, with a river in it.", "Go on.", "End."},
      {"2+2?", "Times 3?", "Minus 1?", "And halved, rounded down to a whole number?"},
  };
  std::vector<std::vector<Output>> outputs(questions.size());
  std::vector<std::thread> threads;
  for (size_t c = 0; c < questions.size(); ++c) {
    threads.emplace_back([&, c] {
      std::vector<ChatMessage> history = {{"system", system}};
      for (const std::string& q : questions[c]) {
        history.push_back({"user", q});
        const Output out = chat(client, history, c == 1 ? seeded(12) : greedy(8 + (4 * c)));
        outputs[c].push_back(out);
        history.push_back({"assistant", out.text});
      }
    });
  }
  for (auto& t : threads) t.join();
  return outputs;
}

void expect_same_tokens(const std::vector<std::vector<Output>>& got,
                        const std::vector<std::vector<Output>>& want, const std::string& how) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t c = 0; c < want.size(); ++c) {
    ASSERT_EQ(got[c].size(), want[c].size());
    for (size_t t = 0; t < want[c].size(); ++t) {
      ASSERT_TRUE(want[c][t].status.end_of_stream()) << want[c][t].status.to_string();
      ASSERT_TRUE(got[c][t].status.end_of_stream()) << how << ": " << got[c][t].status.to_string();
      EXPECT_EQ(got[c][t].ids, want[c][t].ids)
          << how << ": conversation " << c << " turn " << t << " differs";
    }
  }
}

uint64_t cached_tokens(const std::vector<std::vector<Output>>& outputs) {
  uint64_t n = 0;
  for (const auto& conversation : outputs) {
    for (const Output& o : conversation) n += o.info.prompt_cached_tokens;
  }
  return n;
}

class PrefixCacheFormats : public ::testing::TestWithParam<const char*> {};

TEST_P(PrefixCacheFormats, SameTokensWithTheCacheOnAndOff) {
  const std::string dtype = GetParam();
  const std::string dir = test_temp_dir("prefix-" + dtype);
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-llama", &spec));
  spec.max_positions = 512;
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  // Chunks of 16 prompt tokens: a prompt's match is extended between its chunks.
  const std::vector<std::string> common = {"--set", "model.dtype=" + dtype, "--set",
                                           "scheduler.max_batch_tokens=16"};
  std::vector<std::string> modes = {"batch"};
  if (dtype == "float32") modes.emplace_back("interleave");
  for (const std::string& mode : modes) {
    std::vector<std::vector<std::vector<Output>>> runs;
    for (const char* cache : {"false", "true"}) {
      std::vector<std::string> args = common;
      args.insert(args.end(), {"--set", "scheduler.mode=" + mode, "--set",
                               std::string("scheduler.prefix_cache=") + cache});
      auto daemon = start_daemon(dir, args);
      std::unique_ptr<Client> client;
      ASSERT_TRUE(Client::connect(daemon->name(), &client).ok());
      runs.push_back(converse(*client));
      // The daemon publishes its numbers at the end of the loop iteration that ended the last
      // request: a moment after its client saw the end.
      DaemonStatus st;
      EXPECT_TRUE(eventually([&] {
        return client->status(&st).ok() && st.kv_cache.blocks_in_use == 0 && st.completed == 12;
      })) << st.kv_cache.blocks_in_use
          << " blocks in use, " << st.kv_cache.blocks_cached << " cached of "
          << st.kv_cache.blocks_total << "; " << st.running << " running, " << st.completed
          << " completed, " << st.failed << " failed";
      if (std::string(cache) == "true") {
        // The system prompt alone is several blocks, shared by all from the second turn on
        // (and from the first where a conversation started after another's chunk).
        EXPECT_GT(cached_tokens(runs.back()), 3u * 3u * 16u) << mode;
        EXPECT_EQ(st.kv_cache.prompt_tokens_cached, cached_tokens(runs.back()));
        EXPECT_GT(st.kv_cache.blocks_cached, 0u);
      } else {
        EXPECT_EQ(cached_tokens(runs.back()), 0u);
        EXPECT_EQ(st.kv_cache.prompt_tokens_cached, 0u);
        EXPECT_EQ(st.kv_cache.blocks_cached, 0u);
      }
      EXPECT_EQ(st.kv_cache.prompt_tokens, [&] {
        uint64_t n = 0;
        for (const auto& c : runs.back()) {
          for (const Output& o : c) n += o.info.prompt_tokens;
        }
        return n;
      }());
    }
    std::string how = dtype;
    how += " " + mode + ", cache on against off";
    expect_same_tokens(runs[1], runs[0], how);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Formats, PrefixCacheFormats,
                         ::testing::Values("float32", "bfloat16", "float16", "int8", "int4"));

// Eight requests with one long system prompt, all at once, prefilled 256 tokens a step: the
// first computes the shared prompt (256 tokens, then the rest beside others' chunks), and each
// later one waits while a block it would compute is being computed by another in the same
// step, then takes it from the cache. So every request but one computes only what follows the
// shared prompt's last whole block.
TEST(PrefixCache, RequestsSentTogetherComputeASharedPromptOnce) {
  const std::string dir = test_temp_dir("together");
  model::RandomModelSpec spec;
  ASSERT_TRUE(model::random_model_preset("tiny-llama", &spec));
  spec.max_positions = 512;
  std::string error;
  ASSERT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  auto daemon = start_daemon(dir, {"--set", "scheduler.max_batch_tokens=256"});
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon->name(), &client).ok());
  std::string shared;
  while (shared.size() < 300) shared += "One system prompt for every service on the machine. ";
  shared.resize(300);
  const size_t requests = 8;
  std::vector<Output> outputs(requests);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < requests; ++i) {
    threads.emplace_back([&, i] {
      outputs[i] = generate(*client, shared + " question " + std::to_string(i), greedy(4));
    });
  }
  for (auto& t : threads) t.join();
  uint64_t computed = 0;
  size_t longest = 0;
  for (const Output& o : outputs) {
    ASSERT_TRUE(o.status.end_of_stream()) << o.status.to_string();
    computed += o.info.prompt_tokens - o.info.prompt_cached_tokens;
    longest = std::max<size_t>(longest, o.info.prompt_tokens);
  }
  // The byte tokenizer: the BOS and a token a byte. The shared part's whole blocks are
  // (1 + 300) / 16 = 18, so each later request computes at most its prompt less 288 tokens.
  const size_t shared_blocks = (1 + shared.size()) / 16;
  const size_t most = longest + ((requests - 1) * (longest - (shared_blocks * 16)));
  EXPECT_LE(computed, most) << "the shared prompt was computed more than once";
  fs::remove_all(dir);
}

// A model whose block of 16 positions is 256 KiB (8 layers x 4 kv heads x 64 dims, keys and
// values, float32), so model.kv_cache_mb=2 is 8 blocks: two whole 64-position contexts.
std::string write_wide_kv_model(const std::string& dir, int64_t positions = 64) {
  model::RandomModelSpec spec;
  EXPECT_TRUE(model::random_model_preset("tiny-llama", &spec));
  spec.layers = 8;
  spec.hidden = 256;
  spec.heads = 4;
  spec.kv_heads = 4;
  spec.intermediate = 64;
  spec.max_positions = positions;
  std::string error;
  EXPECT_TRUE(model::write_random_model(dir, spec, &error)) << error;
  return dir;
}

// Four requests that need 16 blocks between them at the end, on a pool of 8: admission keeps
// those whose prompt does not fit waiting, and decode preempts the newest, which is recomputed
// later. Everyone finishes, with the tokens it gets alone.
TEST(PrefixCache, ASmallPoolMakesRequestsWaitOrBePreemptedNeverFail) {
  const std::string dir = write_wide_kv_model(test_temp_dir("small-pool"));
  for (const char* cache : {"true", "false"}) {
    auto daemon =
        start_daemon(dir, {"--set", "model.kv_cache_mb=2", "--set", "scheduler.max_concurrent=4",
                           "--set", std::string("scheduler.prefix_cache=") + cache});
    std::unique_ptr<Client> client;
    ASSERT_TRUE(Client::connect(daemon->name(), &client).ok());
    DaemonStatus st;
    // Published at the end of the daemon's first loop iteration.
    ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.kv_cache.blocks_total; }));
    ASSERT_EQ(st.kv_cache.blocks_total, 8u);
    const std::vector<std::string> prompts = {"short one",
                                              "a prompt of about forty bytes, two blocks",
                                              "another prompt, of a length in between", "x"};
    std::vector<Output> alone;
    for (const std::string& p : prompts) alone.push_back(generate(*client, p, greedy(48)));
    ASSERT_TRUE(client->status(&st).ok());
    EXPECT_EQ(st.kv_cache.preemptions, 0u);

    std::vector<Output> together(prompts.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < prompts.size(); ++i) {
      threads.emplace_back([&, i] { together[i] = generate(*client, prompts[i], greedy(48)); });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < prompts.size(); ++i) {
      ASSERT_TRUE(together[i].status.end_of_stream()) << together[i].status.to_string();
      EXPECT_EQ(together[i].ids, alone[i].ids) << "request " << i << ", prefix cache " << cache;
    }
    EXPECT_TRUE(eventually([&] {
      return client->status(&st).ok() && st.kv_cache.blocks_in_use == 0 && st.completed == 8;
    })) << st.kv_cache.blocks_in_use
        << " blocks in use";
    // 4 x (prompt + 48) positions is about 4 x 4 blocks: more than 8 unless most stopped early.
    size_t positions = 0;
    for (const Output& o : together) positions += o.info.prompt_tokens + o.ids.size();
    if (positions > 8 * 16 + 4 * 16) {
      EXPECT_GT(st.kv_cache.preemptions, 0u) << "prefix cache " << cache;
    }
    std::printf("prefix cache %s: %zu positions, %llu preemptions\n", cache, positions,
                static_cast<unsigned long long>(st.kv_cache.preemptions));
    EXPECT_EQ(st.failed, 0u);
  }
  fs::remove_all(dir);
}

// A pool that cannot hold one whole context is refused at start with the numbers.
TEST(PrefixCache, KvCacheSmallerThanOneContextIsAStartError) {
  const std::string dir = write_wide_kv_model(test_temp_dir("tiny-pool"), 128);
  // 1 MiB is 4 blocks: 64 positions, half a context of 128.
  const ProcessResult r =
      run({RINGSERVED_PATH, "--name", "kv-too-small-" + std::to_string(::getpid()), "--set",
           "model.path=" + dir, "--set", "model.kv_cache_mb=1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("model.kv_cache_mb: a KV cache of 4 blocks of 16 positions cannot hold "
                          "one whole context of 128 positions (8 blocks)"),
            std::string::npos)
      << r.errors;
  // With max_seq_len 64 it fits.
  Daemon fits({"--set", "model.path=" + dir, "--set", "model.kv_cache_mb=1", "--set",
               "model.max_seq_len=64"});
  EXPECT_TRUE(fits.ready());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ringserve::testing
