// What a daemon says it serves (issues 20 and 22): the model's path, architecture, weight
// format, device and context, the weights' and the KV cache's bytes, and the process's resident
// size, as a real ringserved publishes them and Client::status(), `ringctl status` (text and
// --json) and `ringctl metrics` show them; and that texts an attacker wrote into the segment
// come out bounded and printable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "ringserve/client.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "tests/daemon_process.h"
#include "tests/scripted_model.h"

namespace ringserve::testing {
namespace {

namespace fs = std::filesystem;

std::string mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// The kernel's count of a process's resident bytes, to compare the daemon's reading with.
uint64_t resident_of(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0;
  uint64_t pages = 0;
  statm >> size >> pages;
  return pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

nlohmann::json status_json(const std::string& name) {
  const ProcessResult r = run({RINGCTL_PATH, "--name", name, "status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.output;
  return j;
}

TEST(ModelInfo, BuiltinModelIsNamedWithItsMemoryEverywhere) {
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.threads=1", "--set",
                 "model.max_seq_len=256", "--set", "scheduler.max_concurrent=4"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(st.model.path, "built-in");
  EXPECT_EQ(st.model.architecture, "llama");
  EXPECT_EQ(st.model.format, "float32");
  EXPECT_EQ(st.model.device, "cpu");
  EXPECT_EQ(st.model.context_length, 256u);
  // About 3M parameters in float32; the KV cache of 4 sequences x 256 positions, 4 layers,
  // 4 kv heads of 32 dimensions, keys and values in float32: 4 * 256 * 4 * 2 * 128 * 4 bytes.
  EXPECT_GT(st.model.weight_bytes, 8u << 20);
  EXPECT_LT(st.model.weight_bytes, 16u << 20);
  EXPECT_EQ(st.model.kv_cache_bytes, 4u * 256 * 4 * 2 * 128 * 4);
  EXPECT_GT(st.resident_bytes, st.model.weight_bytes + st.model.kv_cache_bytes);
  const uint64_t kernel = resident_of(daemon.pid());
  EXPECT_NEAR(static_cast<double>(st.resident_bytes), static_cast<double>(kernel),
              static_cast<double>(kernel) / 4);

  const nlohmann::json j = status_json(daemon.name());
  ASSERT_TRUE(j.contains("model")) << j.dump();
  EXPECT_EQ(j["model"]["path"], "built-in");
  EXPECT_EQ(j["model"]["architecture"], "llama");
  EXPECT_EQ(j["model"]["format"], "float32");
  EXPECT_EQ(j["model"]["device"], "cpu");
  EXPECT_EQ(j["model"]["context_length"], 256);
  EXPECT_EQ(j["model"]["weight_bytes"], st.model.weight_bytes);
  EXPECT_EQ(j["model"]["kv_cache_bytes"], st.model.kv_cache_bytes);
  ASSERT_TRUE(j["resident_bytes"].is_number_unsigned()) << j.dump();
  EXPECT_GT(j["resident_bytes"].get<uint64_t>(), st.model.weight_bytes);

  ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("model built-in: llama, float32 on cpu, context 256\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("memory: weights " + mib(st.model.weight_bytes) + ", KV cache " +
                          mib(st.model.kv_cache_bytes) + ", resident "),
            std::string::npos)
      << r.output;

  r = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("ringserve_model_info{name=\"" + daemon.name() +
                          "\",model=\"built-in\",architecture=\"llama\",format=\"float32\","
                          "device=\"cpu\"} 1\n"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("ringserve_model_weight_bytes{name=\"" + daemon.name() + "\"} " +
                          std::to_string(st.model.weight_bytes) + "\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_model_kv_cache_bytes{name=\"" + daemon.name() + "\"} " +
                          std::to_string(st.model.kv_cache_bytes) + "\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_model_context_length{name=\"" + daemon.name() + "\"} 256\n"),
            std::string::npos);
  EXPECT_NE(r.output.find("ringserve_resident_memory_bytes{name=\"" + daemon.name() + "\"} "),
            std::string::npos);

  // The log says the same, and the resident size after loading.
  client.reset();
  const ProcessResult stopped = daemon.stop();
  EXPECT_NE(stopped.errors.find("weights " + mib(st.model.weight_bytes) + ", KV cache " +
                                mib(st.model.kv_cache_bytes)),
            std::string::npos)
      << stopped.errors;
  EXPECT_NE(
      stopped.errors.find(" blocks of 16 positions: 4 whole contexts of 256; prefix cache on), "
                          "resident "),
      std::string::npos)
      << stopped.errors;
  EXPECT_NE(stopped.errors.find("backend torch (built-in float32)"), std::string::npos)
      << stopped.errors;
}

TEST(ModelInfo, ModelDirectoryIsShownAbsoluteWithItsArchitectureAndFormat) {
  const fs::path dir =
      fs::temp_directory_path() / ("ringserve-model-info-" + std::to_string(::getpid()));
  std::string error;
  ASSERT_TRUE(write_scripted_model(dir.string(), {kScriptEos}, &error)) << error;
  // Given relative to the daemon's working directory (this process's): status shows it whole.
  const std::string relative = fs::relative(dir, fs::current_path()).string();
  Daemon daemon({"--set", "model.backend=torch", "--set", "model.path=" + relative, "--set",
                 "model.threads=1", "--set", "model.dtype=bfloat16"});
  ASSERT_TRUE(daemon.ready());
  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["model"]["path"], dir.lexically_normal().string()) << relative;
  EXPECT_EQ(j["model"]["architecture"], "gpt2");
  EXPECT_EQ(j["model"]["format"], "bfloat16");
  EXPECT_GT(j["model"]["weight_bytes"].get<uint64_t>(), 0u);
  daemon.stop();
  fs::remove_all(dir);
}

TEST(ModelInfo, EchoBackendSaysItHasNoModel) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const nlohmann::json j = status_json(daemon.name());
  ASSERT_TRUE(j.contains("model")) << j.dump();
  EXPECT_EQ(j["model"], nlohmann::json({{"path", "echo"},
                                        {"architecture", "none"},
                                        {"format", "none"},
                                        {"device", "none"},
                                        {"context_length", 0},
                                        {"weight_bytes", 0},
                                        {"kv_cache_bytes", 0}}));
  EXPECT_GT(j["resident_bytes"].get<uint64_t>(), 1u << 20);
  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_NE(r.output.find("model echo (no model), resident "), std::string::npos) << r.output;
}

TEST(ModelInfo, ScribbledTextsAreReadBoundedAndPrintable) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<shm::Segment> raw;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &raw, &message),
            shm::SegmentError::kOk)
      << message;
  shm::ModelInfo* m = raw->view().model_info();
  // What a process with access writes: no NUL anywhere, escapes, invalid UTF-8, quotes that
  // would break JSON or a Prometheus label, a newline that would forge a metric line.
  const std::string evil = "\x1B]0;pwn\x07\"\\\n\xFF\xFE";
  auto fill = [&evil](char* field, size_t size) {
    for (size_t i = 0; i < size; ++i) field[i] = evil[i % evil.size()];
  };
  fill(m->format, sizeof m->format);
  fill(m->architecture, sizeof m->architecture);
  fill(m->device, sizeof m->device);
  fill(m->path, sizeof m->path);
  // The field after `device` too: a reader running past the array would pick it up.
  std::memset(m->reserved1, 'X', sizeof m->reserved1);

  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_EQ(st.model.format.size(), sizeof m->format);
  EXPECT_EQ(st.model.device.size(), sizeof m->device);
  EXPECT_EQ(st.model.path.size(), sizeof m->path);
  EXPECT_EQ(st.model.device.find('X'), std::string::npos);
  for (const std::string* text :
       {&st.model.format, &st.model.architecture, &st.model.device, &st.model.path}) {
    for (const char c : *text) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7F) << "byte " << static_cast<int>(c) << " in " << *text;
    }
  }
  EXPECT_EQ(st.model.format.substr(0, 8), "?]0;pwn?");

  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["model"]["format"], st.model.format);
  EXPECT_EQ(j["model"]["path"], st.model.path);
  const ProcessResult text = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(text.exit_code, 0) << text.errors;
  EXPECT_EQ(text.output.find('\x1B'), std::string::npos);
  const ProcessResult metrics = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  EXPECT_EQ(metrics.exit_code, 0) << metrics.errors;
  std::istringstream lines(metrics.output);
  std::string line;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(line.rfind("# ", 0) == 0 || line.rfind("ringserve_", 0) == 0) << line;
  }
}

// ---- The KV cache and the prefix cache, as every view shows them ----

// 100 bytes; the built-in tokenizer gives one id per byte, and a raw prompt gets a BOS.
const char kRepeatedPrompt[] =
    "The prefix cache keeps the blocks of a prompt it has seen, so the same prompt again skips "
    "them all!!";
static_assert(sizeof(kRepeatedPrompt) - 1 == 100);

struct Answer {
  std::string text;
  RequestInfo info;  // as the stream has it after its end
};

// One greedy request of a few tokens, read to its end.
Answer greedy(Client& client, const std::string& prompt) {
  GenerateParams params;
  params.temperature = 0;
  params.max_tokens = 4;
  std::unique_ptr<Stream> stream;
  Answer a;
  Status s = client.generate(prompt, params, &stream);
  EXPECT_TRUE(s.ok()) << s.to_string();
  if (!s.ok()) return a;
  Token t;
  while ((s = stream->next(&t)).ok()) a.text += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  a.info = stream->info();
  return a;
}

// The daemon's status once it counts `completed` requests and no block is held any more: the
// KV cache numbers trail a finished stream by up to one loop iteration.
DaemonStatus settled_status(Client& client, uint64_t completed) {
  DaemonStatus st;
  const bool settled = eventually([&] {
    return client.status(&st).ok() && st.completed == completed && st.kv_cache.blocks_in_use == 0;
  });
  EXPECT_TRUE(settled) << "completed " << st.completed << ", blocks in use "
                       << st.kv_cache.blocks_in_use;
  return st;
}

// A daemon of the built-in model with 4 whole contexts of 256 positions (64 blocks of 16), and
// `more` arguments.
std::vector<std::string> four_contexts(const std::vector<std::string>& more = {}) {
  std::vector<std::string> args = {
      "--set", "model.backend=torch",   "--set", "model.threads=1",
      "--set", "model.max_seq_len=256", "--set", "scheduler.max_concurrent=4"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(ModelInfo, PrefixCacheServesARepeatedPromptAndEveryViewCountsIt) {
  Daemon daemon(four_contexts());
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  const Answer first = greedy(*client, kRepeatedPrompt);
  const Answer second = greedy(*client, kRepeatedPrompt);
  // The cached keys and values are the ones the first request computed: the same answer.
  EXPECT_EQ(second.text, first.text);
  EXPECT_EQ(first.info.prompt_tokens, 101u);  // BOS and one id per byte
  EXPECT_EQ(first.info.prompt_cached_tokens, 0u);
  EXPECT_EQ(second.info.prompt_tokens, first.info.prompt_tokens);
  // Whole blocks only, and never the prompt's last token (computed again for its logits): here
  // every block but the one that holds it.
  const uint32_t cached = second.info.prompt_cached_tokens;
  EXPECT_GT(cached, 0u);
  EXPECT_EQ(cached % 16, 0u) << cached;
  EXPECT_LT(cached, second.info.prompt_tokens);
  EXPECT_EQ(cached, (second.info.prompt_tokens - 1) / 16 * 16);

  const DaemonStatus st = settled_status(*client, 2);
  const KvCacheStatus& kv = st.kv_cache;
  EXPECT_EQ(kv.block_positions, 16u);
  EXPECT_EQ(kv.blocks_total, 4u * 256 / 16);
  EXPECT_EQ(kv.blocks_in_use, 0u);
  // The first request's full blocks stay, held by none; the second took them and gave them back.
  EXPECT_GE(kv.blocks_cached, cached / 16);
  EXPECT_LE(kv.blocks_cached, kv.blocks_total);
  EXPECT_EQ(kv.prompt_tokens, uint64_t{first.info.prompt_tokens} + second.info.prompt_tokens);
  EXPECT_EQ(kv.prompt_tokens_cached, cached);
  EXPECT_EQ(kv.preemptions, 0u);
  EXPECT_DOUBLE_EQ(kv.hit_rate(),
                   static_cast<double>(cached) / static_cast<double>(kv.prompt_tokens));

  // Nothing runs any more, so every view reads the same numbers.
  const nlohmann::json j = status_json(daemon.name());
  ASSERT_TRUE(j.contains("kv_cache")) << j.dump();
  const nlohmann::json& jkv = j["kv_cache"];
  EXPECT_EQ(jkv["block_positions"], 16);
  EXPECT_EQ(jkv["blocks_total"], kv.blocks_total);
  EXPECT_EQ(jkv["blocks_in_use"], 0);
  EXPECT_EQ(jkv["blocks_cached"], kv.blocks_cached);
  EXPECT_EQ(jkv["prompt_tokens"], kv.prompt_tokens);
  EXPECT_EQ(jkv["prompt_tokens_cached"], kv.prompt_tokens_cached);
  EXPECT_EQ(jkv["preemptions"], 0);
  ASSERT_TRUE(jkv["hit_rate"].is_number_float()) << jkv.dump();
  EXPECT_DOUBLE_EQ(jkv["hit_rate"].get<double>(), kv.hit_rate());
  EXPECT_EQ(jkv.size(), 8u) << jkv.dump();

  ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  char line[256];
  std::snprintf(line, sizeof line,
                "kv cache  64 blocks of 16 positions: 0 in use, %u cached, %u free; 0 preemptions\n"
                "prompts   %llu tokens, %u from the prefix cache (hit rate %.1f%%)\n",
                kv.blocks_cached, kv.blocks_total - kv.blocks_cached,
                static_cast<unsigned long long>(kv.prompt_tokens), cached, 100 * kv.hit_rate());
  EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;

  r = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  const std::string label = "{name=\"" + daemon.name() + "\"} ";
  for (const auto& [metric, value] : std::vector<std::pair<std::string, uint64_t>>{
           {"ringserve_kv_cache_block_positions", 16},
           {"ringserve_kv_cache_blocks", kv.blocks_total},
           {"ringserve_kv_cache_blocks_in_use", 0},
           {"ringserve_kv_cache_blocks_cached", kv.blocks_cached},
           {"ringserve_prompt_tokens_total", kv.prompt_tokens},
           {"ringserve_prompt_tokens_cached_total", kv.prompt_tokens_cached},
           {"ringserve_kv_cache_preemptions_total", 0}}) {
    std::string sample = "\n" + metric;
    sample += label;
    sample += std::to_string(value) + "\n";
    EXPECT_NE(r.output.find(sample), std::string::npos) << sample << r.output;
  }
}

TEST(ModelInfo, PrefixCacheOffComputesEveryPromptWhole) {
  Daemon daemon(four_contexts({"--set", "scheduler.prefix_cache=false"}));
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  const Answer first = greedy(*client, kRepeatedPrompt);
  const Answer second = greedy(*client, kRepeatedPrompt);
  EXPECT_EQ(second.text, first.text);
  EXPECT_EQ(first.info.prompt_tokens, 101u);
  EXPECT_EQ(second.info.prompt_tokens, 101u);
  EXPECT_EQ(first.info.prompt_cached_tokens, 0u);
  EXPECT_EQ(second.info.prompt_cached_tokens, 0u);

  const DaemonStatus st = settled_status(*client, 2);
  EXPECT_EQ(st.kv_cache.blocks_total, 4u * 256 / 16);
  EXPECT_EQ(st.kv_cache.blocks_in_use, 0u);
  EXPECT_EQ(st.kv_cache.blocks_cached, 0u);  // nothing is indexed, so released blocks are free
  EXPECT_EQ(st.kv_cache.prompt_tokens, 202u);
  EXPECT_EQ(st.kv_cache.prompt_tokens_cached, 0u);
  EXPECT_EQ(st.kv_cache.hit_rate(), 0.0);

  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["kv_cache"]["blocks_cached"], 0) << j.dump();
  EXPECT_EQ(j["kv_cache"]["prompt_tokens"], 202) << j.dump();
  EXPECT_EQ(j["kv_cache"]["prompt_tokens_cached"], 0) << j.dump();
  EXPECT_EQ(j["kv_cache"]["hit_rate"], 0.0) << j.dump();
  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_NE(r.output.find("kv cache  64 blocks of 16 positions: 0 in use, 0 cached, 64 free; "
                          "0 preemptions\nprompts   202 tokens, 0 from the prefix cache (hit "
                          "rate 0.0%)\n"),
            std::string::npos)
      << r.output;
}

TEST(ModelInfo, EchoBackendHasNoKvCacheToShow) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  const Answer a = greedy(*client, "abc");
  EXPECT_EQ(a.text, "abca");
  // Its tokens are the prompt's characters; it has no prefix cache.
  EXPECT_EQ(a.info.prompt_tokens, 3u);
  EXPECT_EQ(a.info.prompt_cached_tokens, 0u);
  const DaemonStatus st = settled_status(*client, 1);
  EXPECT_EQ(st.kv_cache.blocks_total, 0u);
  EXPECT_EQ(st.kv_cache.prompt_tokens, 0u);
  const nlohmann::json j = status_json(daemon.name());
  EXPECT_EQ(j["kv_cache"], nlohmann::json({{"block_positions", 0},
                                           {"blocks_total", 0},
                                           {"blocks_in_use", 0},
                                           {"blocks_cached", 0},
                                           {"prompt_tokens", 0},
                                           {"prompt_tokens_cached", 0},
                                           {"hit_rate", 0.0},
                                           {"preemptions", 0}}));
  // The text leaves the line out: the model line already says there is no model.
  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "status"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output.find("kv cache"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("prompts "), std::string::npos) << r.output;
}

}  // namespace
}  // namespace ringserve::testing
