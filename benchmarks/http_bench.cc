// ringserve-bench http: the same load through ringserve-http (streaming SSE) and through the
// shared-memory client, on the same daemon, alternating. C client threads per round, each
// sending M requests back to back (closed loop) with the same prompts in both transports;
// rounds alternate the order (shm, http, http, shm, ...) so that a machine whose speed drifts
// (other processes, frequency) is shared fairly. Both clients live in this one process and
// take token times the same way: CLOCK_MONOTONIC when the client can first see the token
// (the shm client's next() returning it; for HTTP, the recv() that completed its SSE event).
//   TTFT         just before submitting (generate() / send()) -> first token seen
//   inter-token  between consecutive deliveries; tokens that arrive in one SSE event (the
//                gateway batches what its 1 ms pump found) count as one delivery
//   tokens/s     output tokens of a round / the round's wall time, summed over rounds
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/http_client.h"
#include "benchmarks/percentiles.h"
#include "benchmarks/timed_stream.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

struct Sample {
  bool ok = false;
  std::string error;
  uint64_t ttft_ns = 0;
  uint32_t tokens = 0;
  uint32_t deliveries = 0;
  std::vector<uint64_t> itl_ns;
};

// What one transport measured over all its rounds.
struct Totals {
  std::vector<uint64_t> ttft_ns, itl_ns;
  uint64_t tokens = 0, deliveries = 0, requests_ok = 0, errors = 0;
  double seconds = 0;
  std::vector<double> round_tokens_per_s;
};

// One delivery at `now`: the first gives TTFT, later ones an inter-token gap.
void deliver(Sample* s, uint64_t t0, uint64_t now, uint64_t* last) {
  if (s->deliveries == 0) {
    s->ttft_ns = now - t0;
  } else {
    s->itl_ns.push_back(now - *last);
  }
  *last = now;
  ++s->deliveries;
}

Sample shm_request(Client& client, const std::string& prompt, uint32_t max_tokens) {
  Sample s;
  GenerateParams params;
  params.max_tokens = max_tokens;
  params.temperature = 0;
  std::unique_ptr<Stream> stream;
  const uint64_t t0 = shm::monotonic_ns();
  Status st = client.generate(prompt, params, &stream);
  if (!st.ok()) {
    s.error = to_string(st.code());
    return s;
  }
  TokenTimes times;
  st = read_timed(*stream, t0, &times);
  s.ttft_ns = times.ttft_ns;
  s.itl_ns = std::move(times.gaps_ns);
  s.tokens = times.tokens;
  s.deliveries = times.tokens;  // one token per ring entry
  s.ok = st.end_of_stream();
  if (!s.ok) s.error = to_string(st.code());
  return s;
}

Sample http_request(HttpClient& http, const std::string& prompt, uint32_t max_tokens) {
  Sample s;
  const std::string body = nlohmann::json{{"prompt", prompt},
                                          {"max_tokens", max_tokens},
                                          {"temperature", 0},
                                          {"stream", true},
                                          {"stream_options", {{"include_usage", true}}}}
                               .dump();
  uint64_t last = 0;
  bool done = false;
  const uint64_t t0 = shm::monotonic_ns();
  std::string response, error;
  const int status = http.post(
      "/v1/completions", body,
      [&](std::string_view data, uint64_t read_ns) {
        if (data == "[DONE]") {
          done = true;
          return;
        }
        const nlohmann::json j = nlohmann::json::parse(data, nullptr, false);
        if (j.is_discarded() || j.contains("error")) {
          s.error = "error event";
          return;
        }
        if (!j["choices"].empty() && !j["choices"][0]["text"].get<std::string>().empty()) {
          deliver(&s, t0, read_ns, &last);
        }
        if (j.contains("usage") && j["usage"].is_object()) {
          s.tokens = j["usage"]["completion_tokens"].get<uint32_t>();
        }
      },
      &response, &error);
  if (status != 200) {
    s.error = status == 0 ? error : "HTTP " + std::to_string(status);
  } else if (!done && s.error.empty()) {
    s.error = "no [DONE]" + (error.empty() ? "" : ": " + error);
  }
  s.ok = s.error.empty();
  return s;
}

nlohmann::json totals_json(const Totals& t) {
  const Summary ttft = summarize(t.ttft_ns), itl = summarize(t.itl_ns);
  return {{"requests_ok", t.requests_ok},
          {"errors", t.errors},
          {"output_tokens", t.tokens},
          {"deliveries", t.deliveries},
          {"seconds", t.seconds},
          {"output_tokens_per_s", t.seconds > 0 ? t.tokens / t.seconds : 0},
          {"round_output_tokens_per_s", t.round_tokens_per_s},
          {"ttft_p50_ms", ttft.p50 / 1e6},
          {"ttft_p99_ms", ttft.p99 / 1e6},
          {"ttft_mean_ms", ttft.mean / 1e6},
          {"itl_p50_ms", itl.p50 / 1e6},
          {"itl_p99_ms", itl.p99 / 1e6},
          {"itl_mean_ms", itl.mean / 1e6}};
}

void print_totals(const char* label, const Totals& t) {
  const Summary ttft = summarize(t.ttft_ns), itl = summarize(t.itl_ns);
  std::printf("%-5s %9.1f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %8.3f %7llu\n", label,
              t.seconds > 0 ? t.tokens / t.seconds : 0.0, ttft.p50 / 1e6, ttft.p99 / 1e6,
              ttft.mean / 1e6, itl.p50 / 1e6, itl.p99 / 1e6, itl.mean / 1e6,
              t.tokens > 0 ? static_cast<double>(t.deliveries) / t.tokens : 0.0,
              static_cast<unsigned long long>(t.errors));
}

}  // namespace

int http_main(const Options& opts) {
  const std::string name = opts.get("name", "");
  const uint32_t port = opts.get_u32("port", 0);
  if (name.empty() || port == 0 || port > 65535) {
    std::fprintf(stderr,
                 "ringserve-bench http: --name NAME (a running ringserved) and --port PORT (a "
                 "ringserve-http serving it on 127.0.0.1) are required\n");
    return 2;
  }
  const uint32_t clients = opts.get_u32("clients", 16);
  const uint32_t requests = opts.get_u32("requests", 2);
  const uint32_t rounds = opts.get_u32("rounds", 6);
  const uint32_t max_tokens = opts.get_u32("max-tokens", 64);
  const uint32_t prompt_chars = opts.get_u32("prompt-chars", 64);

  std::vector<std::unique_ptr<Client>> shm_clients(clients);
  std::vector<std::unique_ptr<HttpClient>> http_clients(clients);
  for (uint32_t c = 0; c < clients; ++c) {
    const Status s = Client::connect(name, &shm_clients[c]);
    if (!s.ok()) {
      std::fprintf(stderr, "ringserve-bench http: %s\n", s.to_string().c_str());
      return 1;
    }
    http_clients[c] = std::make_unique<HttpClient>("127.0.0.1", static_cast<int>(port));
  }
  std::printf(
      "http: %u clients x %u requests per round, %u rounds per transport, %u-char "
      "prompts, max_tokens %u, daemon '%s', gateway 127.0.0.1:%u\n",
      clients, requests, rounds, prompt_chars, max_tokens, name.c_str(), port);
  std::fflush(stdout);

  // One round of one transport; round < 0 is the warm-up (one request per client, unmeasured).
  auto run_round = [&](bool http, int round, Totals* totals) {
    const uint32_t count = round < 0 ? 1 : requests;
    std::vector<std::vector<Sample>> samples(clients);
    std::atomic<uint32_t> waiting{clients};
    std::vector<std::thread> threads;
    const auto t0 = std::chrono::steady_clock::now();
    for (uint32_t c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        waiting.fetch_sub(1);
        while (waiting.load() != 0) std::this_thread::yield();
        for (uint32_t i = 0; i < count; ++i) {
          // The same prompts for both transports in a round; different ones across rounds.
          const std::string prompt =
              prose(prompt_chars,
                    std::mt19937_64((static_cast<uint64_t>(round + 1) << 32) | (c << 16) | i)());
          samples[c].push_back(http ? http_request(*http_clients[c], prompt, max_tokens)
                                    : shm_request(*shm_clients[c], prompt, max_tokens));
        }
      });
    }
    for (std::thread& t : threads) t.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (round < 0) return;
    uint64_t tokens = 0;
    for (const std::vector<Sample>& per_client : samples) {
      for (const Sample& s : per_client) {
        if (!s.ok) {
          ++totals->errors;
          std::fprintf(stderr, "ringserve-bench http: %s request failed: %s\n",
                       http ? "http" : "shm", s.error.c_str());
          continue;
        }
        ++totals->requests_ok;
        tokens += s.tokens;
        totals->deliveries += s.deliveries;
        totals->ttft_ns.push_back(s.ttft_ns);
        totals->itl_ns.insert(totals->itl_ns.end(), s.itl_ns.begin(), s.itl_ns.end());
      }
    }
    totals->tokens += tokens;
    totals->seconds += seconds;
    totals->round_tokens_per_s.push_back(static_cast<double>(tokens) / seconds);
    std::printf("round %d %-4s %6llu tokens in %6.2f s: %8.1f tokens/s\n", round + 1,
                http ? "http" : "shm", static_cast<unsigned long long>(tokens), seconds,
                static_cast<double>(tokens) / seconds);
    std::fflush(stdout);
  };

  Totals shm_totals, http_totals;
  run_round(false, -1, &shm_totals);
  run_round(true, -1, &http_totals);
  for (uint32_t r = 0; r < rounds; ++r) {
    const bool http_first = r % 2 == 1;  // shm http | http shm | shm http ...
    run_round(http_first, static_cast<int>(r), http_first ? &http_totals : &shm_totals);
    run_round(!http_first, static_cast<int>(r), http_first ? &shm_totals : &http_totals);
  }

  std::printf("\n%-5s %9s %9s %9s %9s %9s %9s %9s %8s %7s\n", "", "tokens/s", "TTFT p50",
              "TTFT p99", "TTFT avg", "ITL p50", "ITL p99", "ITL avg", "deliv/tok", "errors");
  std::printf("%-5s %9s %9s %9s %9s %9s %9s %9s\n", "", "", "(ms)", "(ms)", "(ms)", "(ms)", "(ms)",
              "(ms)");
  print_totals("shm", shm_totals);
  print_totals("http", http_totals);
  if (opts.has("json")) {
    const nlohmann::json j = {{"clients", clients},
                              {"requests_per_round", requests},
                              {"rounds", rounds},
                              {"max_tokens", max_tokens},
                              {"prompt_chars", prompt_chars},
                              {"shm", totals_json(shm_totals)},
                              {"http", totals_json(http_totals)}};
    std::ofstream(opts.get("json", "")) << j.dump(2) << "\n";
  }
  return shm_totals.errors + http_totals.errors == 0 ? 0 : 1;
}

}  // namespace ringserve::bench
