// ringserve-bench chat: what the prefix cache is for. C client processes each hold a K-turn
// conversation with a running daemon, all after the same system prompt of S characters: every
// turn sends the whole history (system prompt, earlier questions and the answers as they came)
// plus a new question of U characters, greedy, up to M tokens, as a chat client does. Reports
// per turn the p50 (and p90) of time to first token over the clients -- with the cache it stays
// roughly flat as the conversation grows, without it it grows with the history -- and the
// prompt tokens sent, computed, and served from the cache (RequestInfo::prompt_cached_tokens).
// Run it against a daemon with scheduler.prefix_cache=true and one with false (same load) to
// compare: benchmarks/compare_prefix_cache.sh does both.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/percentiles.h"
#include "benchmarks/timed_stream.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

const char kWords[] =
    "a local daemon serves a language model to the processes beside it through shared memory "
    "rings so that every service on the machine gets its tokens without a network stack and "
    "the model is loaded once for all of them ";

// `chars` characters of prose starting at a place chosen by `seed`.
std::string text_of(uint32_t chars, uint64_t seed) {
  std::string t;
  const size_t n = sizeof(kWords) - 1;
  size_t at = std::mt19937_64(seed)() % n;
  while (t.size() < chars) t += kWords[at++ % n];
  return t;
}

struct TurnResult {
  bool ok = false;
  std::string error;
  uint64_t ttft_ns = 0;
  uint32_t prompt_tokens = 0;
  uint32_t cached_tokens = 0;
  uint32_t tokens = 0;
};

TurnResult run_turn(Client& client, const std::vector<ChatMessage>& history, uint32_t max_tokens,
                    std::string* answer) {
  TurnResult r;
  GenerateParams params;
  params.max_tokens = max_tokens;
  params.temperature = 0;
  std::unique_ptr<Stream> stream;
  const uint64_t t0 = shm::monotonic_ns();
  Status s = client.chat(history, params, &stream);
  if (!s.ok()) {
    r.error = to_string(s.code());
    return r;
  }
  TokenTimes times;
  s = read_timed(*stream, t0, &times);
  r.ttft_ns = times.ttft_ns;
  r.tokens = times.tokens;
  *answer += times.text;
  if (!s.end_of_stream()) {
    r.error = to_string(s.code());
    return r;
  }
  const RequestInfo info = stream->info();
  r.prompt_tokens = info.prompt_tokens;
  r.cached_tokens = info.prompt_cached_tokens;
  r.ok = true;
  return r;
}

// One client process: its conversation, one line per turn into out_path.
int client_process(const std::string& name, uint32_t index, uint32_t turns,
                   const std::string& system, uint32_t user_chars, uint32_t max_tokens,
                   uint64_t seed, const std::string& out_path) {
  std::unique_ptr<Client> client;
  const Status s = Client::connect(name, &client);
  if (!s.ok()) {
    std::fprintf(stderr, "ringserve-bench chat: client %u: %s\n", index, s.to_string().c_str());
    return 1;
  }
  std::vector<ChatMessage> history;
  if (!system.empty()) history.push_back({"system", system});
  std::ofstream out(out_path);
  for (uint32_t k = 0; k < turns; ++k) {
    history.push_back({"user", text_of(user_chars, seed ^ ((uint64_t{index} << 32) | k))});
    std::string answer;
    const TurnResult r = run_turn(*client, history, max_tokens, &answer);
    out << k << ' ' << (r.ok ? "ok" : "error") << ' ' << (r.error.empty() ? "-" : r.error) << ' '
        << r.ttft_ns << ' ' << r.prompt_tokens << ' ' << r.cached_tokens << ' ' << r.tokens << '\n';
    if (!r.ok) return 0;  // the conversation cannot go on without its answer
    history.push_back({"assistant", answer});
  }
  return 0;
}

}  // namespace

int chat_main(const Options& opts) {
  const std::string name = opts.get("name", "");
  if (name.empty()) {
    std::fprintf(stderr, "ringserve-bench chat: --name NAME (a running ringserved) is required\n");
    return 2;
  }
  const uint32_t clients = opts.get_u32("clients", 1);
  const uint32_t turns = opts.get_u32("turns", 8);
  const uint32_t system_chars = opts.get_u32("system-chars", 2000);
  const uint32_t user_chars = opts.get_u32("user-chars", 100);
  const uint32_t max_tokens = opts.get_u32("max-tokens", 32);
  // Texts differ from seed to seed, so that runs against one daemon do not find each other's
  // conversations in its prefix cache.
  const uint64_t seed = opts.get_u32("seed", 0) * 0x9E3779B97F4A7C15ULL;
  std::unique_ptr<Client> probe;
  if (const Status s = Client::connect(name, &probe); !s.ok()) {
    std::fprintf(stderr, "ringserve-bench chat: %s\n", s.to_string().c_str());
    return 1;
  }
  DaemonStatus before;
  probe->status(&before);
  std::printf(
      "chat: %u client processes x %u turns, system prompt %u chars (shared), questions %u "
      "chars, answers up to %u tokens, daemon '%s'\n",
      clients, turns, system_chars, user_chars, max_tokens, name.c_str());
  std::fflush(stdout);

  const std::string system = system_chars == 0 ? "" : text_of(system_chars, seed ^ 0x5157);
  const std::string dir = "/tmp/ringserve-chat-" + std::to_string(::getpid());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  for (uint32_t c = 0; c < clients; ++c) {
    const std::string out_path = dir + "-" + std::to_string(c) + ".txt";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::_exit(client_process(name, c, turns, system, user_chars, max_tokens, seed, out_path));
    }
    pids.push_back(pid);
  }
  int failed_processes = 0;
  for (const pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_processes;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::vector<std::vector<uint64_t>> ttft(turns);
  std::vector<uint64_t> prompt_by_turn(turns, 0), cached_by_turn(turns, 0);
  uint64_t prompt = 0, cached = 0, output = 0, failed_turns = 0;
  for (uint32_t c = 0; c < clients; ++c) {
    const std::string path = dir + "-" + std::to_string(c) + ".txt";
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream s(line);
      uint32_t k = 0;
      std::string status, error;
      TurnResult r;
      s >> k >> status >> error >> r.ttft_ns >> r.prompt_tokens >> r.cached_tokens >> r.tokens;
      if (status != "ok" || k >= turns) {
        ++failed_turns;
        continue;
      }
      ttft[k].push_back(r.ttft_ns);
      prompt_by_turn[k] += r.prompt_tokens;
      cached_by_turn[k] += r.cached_tokens;
      prompt += r.prompt_tokens;
      cached += r.cached_tokens;
      output += r.tokens;
    }
    ::unlink(path.c_str());
  }
  DaemonStatus after;
  probe->status(&after);

  std::printf("%6s %12s %12s %14s %14s\n", "turn", "ttft p50 ms", "ttft p90 ms", "prompt tokens",
              "from cache");
  nlohmann::json by_turn = nlohmann::json::array();
  nlohmann::json p90_by_turn = nlohmann::json::array();
  for (uint32_t k = 0; k < turns; ++k) {
    const Summary s = summarize(ttft[k]);
    std::printf("%6u %12.1f %12.1f %14llu %14llu\n", k + 1, s.p50 / 1e6, s.p90 / 1e6,
                static_cast<unsigned long long>(prompt_by_turn[k]),
                static_cast<unsigned long long>(cached_by_turn[k]));
    by_turn.push_back(s.p50 / 1e6);
    p90_by_turn.push_back(s.p90 / 1e6);
  }
  const uint64_t computed = prompt - cached;
  std::printf(
      "prompt tokens: %llu sent, %llu computed, %llu from the cache (%.1f%%); output tokens "
      "%llu; %.1f s; %llu turns failed; daemon preemptions %llu\n",
      static_cast<unsigned long long>(prompt), static_cast<unsigned long long>(computed),
      static_cast<unsigned long long>(cached),
      prompt == 0 ? 0.0 : 100.0 * static_cast<double>(cached) / static_cast<double>(prompt),
      static_cast<unsigned long long>(output), seconds,
      static_cast<unsigned long long>(failed_turns),
      static_cast<unsigned long long>(after.kv_cache.preemptions - before.kv_cache.preemptions));

  const std::string json_path = opts.get("json", "");
  if (!json_path.empty()) {
    const nlohmann::json j = {
        {"benchmark", "chat"},
        {"daemon", name},
        {"clients", clients},
        {"turns", turns},
        {"system_chars", system_chars},
        {"user_chars", user_chars},
        {"max_tokens", max_tokens},
        {"seconds", seconds},
        {"ttft_ms_by_turn", by_turn},
        {"ttft_p90_ms_by_turn", p90_by_turn},
        {"prompt_tokens", prompt},
        {"prompt_tokens_computed", computed},
        {"prompt_tokens_cached", cached},
        {"output_tokens", output},
        {"failed_turns", failed_turns},
        {"kv_blocks_total", after.kv_cache.blocks_total},
        {"preemptions", after.kv_cache.preemptions - before.kv_cache.preemptions}};
    std::ofstream(json_path) << j.dump(2) << "\n";
  }
  return failed_processes == 0 && failed_turns == 0 ? 0 : 1;
}

}  // namespace ringserve::bench
