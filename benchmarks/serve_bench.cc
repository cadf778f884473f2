// ringserve-bench serve: drives a running daemon the way services would. N client processes
// share M requests, either closed loop (each process sends its next request when the previous
// one ends) or open loop with Poisson arrivals at a total rate R (each process sends its share
// at exponentially distributed gaps, without waiting for earlier answers). Prompt length and
// max_tokens are drawn uniformly from the given ranges. Latencies are measured by the clients
// on CLOCK_MONOTONIC, the clock the daemon stamps requests with:
//   queue wait   daemon received -> admitted (from the slot's record)
//   TTFT         submit -> first token read by the client
//   ITL          between consecutive tokens read by the client
//   end to end   submit -> end of stream read by the client
// While it runs, a progress line ("serve: requests 37/64, 412 tok/s, 12 s") is rewritten in
// place on stderr, only when stderr is a terminal: redirected or captured output (tables, the
// JSON file, tests, CI logs) gets nothing extra.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/percentiles.h"
#include "benchmarks/progress_line.h"
#include "benchmarks/timed_stream.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

struct Range {
  uint32_t min = 0;
  uint32_t max = 0;
};

// "K" or "MIN:MAX".
bool parse_range(const std::string& text, Range* out) {
  const size_t colon = text.find(':');
  char* end = nullptr;
  const unsigned long a = std::strtoul(text.c_str(), &end, 10);
  if (end == text.c_str()) return false;
  unsigned long b = a;
  if (colon != std::string::npos) {
    b = std::strtoul(text.c_str() + colon + 1, &end, 10);
    if (*end != '\0') return false;
  } else if (*end != '\0') {
    return false;
  }
  if (a == 0 || b < a) return false;
  *out = {static_cast<uint32_t>(a), static_cast<uint32_t>(b)};
  return true;
}

// Requests finished and their tokens, over all client processes: in memory mapped shared
// before fork(), so the parent can show progress. Counted per finished request, not per
// token, to stay out of the measured token loop.
struct SharedProgress {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> tokens{0};
};
static_assert(std::atomic<uint64_t>::is_always_lock_free, "shared across processes");

SharedProgress* g_progress = nullptr;

struct RequestResult {
  bool ok = false;
  std::string error;
  uint64_t queue_wait_ns = 0;
  uint64_t ttft_ns = 0;
  uint64_t e2e_ns = 0;
  uint32_t tokens = 0;
  std::vector<uint64_t> itl_ns;
};

RequestResult run_request(Client& client, const std::string& prompt, uint32_t max_tokens) {
  RequestResult r;
  GenerateParams params;
  params.max_tokens = max_tokens;
  params.temperature = 0;
  std::unique_ptr<Stream> stream;
  const uint64_t t0 = shm::monotonic_ns();
  Status s = client.generate(prompt, params, &stream);
  if (!s.ok()) {
    r.error = to_string(s.code());
    return r;
  }
  TokenTimes times;
  s = read_timed(*stream, t0, &times);
  r.ttft_ns = times.ttft_ns;
  r.itl_ns = std::move(times.gaps_ns);
  r.tokens = times.tokens;
  r.e2e_ns = shm::monotonic_ns() - t0;
  if (!s.end_of_stream()) {
    r.error = to_string(s.code());
    return r;
  }
  const RequestInfo info = stream->info();
  r.queue_wait_ns = info.admitted_ns > info.received_ns ? info.admitted_ns - info.received_ns : 0;
  r.ok = true;
  return r;
}

// Counts a finished request, failed ones too, towards the progress line.
void count_progress(const RequestResult& r) {
  if (g_progress == nullptr) return;
  g_progress->requests.fetch_add(1, std::memory_order_relaxed);
  g_progress->tokens.fetch_add(r.tokens, std::memory_order_relaxed);
}

void write_results(const std::string& path, const std::vector<RequestResult>& results) {
  std::ofstream out(path);
  for (const RequestResult& r : results) {
    out << (r.ok ? "ok" : "error") << ' ' << (r.error.empty() ? "-" : r.error) << ' '
        << r.queue_wait_ns << ' ' << r.ttft_ns << ' ' << r.e2e_ns << ' ' << r.tokens << ' '
        << r.itl_ns.size();
    for (uint64_t v : r.itl_ns) out << ' ' << v;
    out << '\n';
  }
}

std::vector<RequestResult> read_results(const std::string& path) {
  std::vector<RequestResult> results;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    RequestResult r;
    std::string status;
    size_t itl_count = 0;
    s >> status >> r.error >> r.queue_wait_ns >> r.ttft_ns >> r.e2e_ns >> r.tokens >> itl_count;
    r.ok = status == "ok";
    if (r.error == "-") r.error.clear();
    r.itl_ns.resize(itl_count);
    for (uint64_t& v : r.itl_ns) s >> v;
    results.push_back(std::move(r));
  }
  return results;
}

// One client process: its share of the requests, closed or open loop.
int client_process(const std::string& name, uint32_t index, uint32_t requests, double rate,
                   Range prompt_chars, Range max_tokens, const std::string& out_path) {
  std::unique_ptr<Client> client;
  const Status s = Client::connect(name, &client);
  if (!s.ok()) {
    std::fprintf(stderr, "ringserve-bench serve: client %u: %s\n", index, s.to_string().c_str());
    return 1;
  }
  std::mt19937_64 rng(0x5EEDull * (index + 1));
  auto draw = [&](Range r) {
    return r.min + static_cast<uint32_t>(rng() % (uint64_t{r.max} - r.min + 1));
  };
  std::vector<RequestResult> results(requests);
  if (rate <= 0) {
    for (uint32_t i = 0; i < requests; ++i) {
      const std::string prompt = prose(draw(prompt_chars), rng());
      results[i] = run_request(*client, prompt, draw(max_tokens));
      count_progress(results[i]);
    }
  } else {
    std::exponential_distribution<double> gap(rate);
    std::vector<std::thread> inflight;
    auto next = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < requests; ++i) {
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(gap(rng)));
      std::this_thread::sleep_until(next);
      std::string prompt = prose(draw(prompt_chars), rng());
      const uint32_t tokens = draw(max_tokens);
      inflight.emplace_back([&results, &client, i, prompt = std::move(prompt), tokens] {
        results[i] = run_request(*client, prompt, tokens);
        count_progress(results[i]);
      });
    }
    for (std::thread& t : inflight) t.join();
  }
  write_results(out_path, results);
  return 0;
}

nlohmann::json summary_json(const Summary& s) {
  return {{"count", s.count},
          {"p50_ms", s.p50 / 1e6},
          {"p90_ms", s.p90 / 1e6},
          {"p99_ms", s.p99 / 1e6},
          {"mean_ms", s.mean / 1e6}};
}

}  // namespace

int serve_main(const Options& opts) {
  const std::string name = opts.get("name", "");
  if (name.empty()) {
    std::fprintf(stderr, "ringserve-bench serve: --name NAME (a running ringserved) is required\n");
    return 2;
  }
  const uint32_t clients = opts.get_u32("clients", 16);
  const uint32_t requests = opts.get_u32("requests", clients * 4);
  const double rate = opts.get_double("rate", 0);
  Range prompt_chars{64, 64}, max_tokens{64, 64};
  if (!parse_range(opts.get("prompt-chars", "64"), &prompt_chars) ||
      !parse_range(opts.get("max-tokens", "64"), &max_tokens)) {
    std::fprintf(stderr,
                 "ringserve-bench serve: --prompt-chars / --max-tokens take K or MIN:MAX\n");
    return 2;
  }
  {
    std::unique_ptr<Client> probe;
    const Status s = Client::connect(name, &probe);
    if (!s.ok()) {
      std::fprintf(stderr, "ringserve-bench serve: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  std::printf(
      "serve: %u client processes, %u requests, %s, prompt %u..%u chars, max_tokens "
      "%u..%u, daemon '%s'\n",
      clients, requests,
      rate > 0 ? ("Poisson arrivals at " + std::to_string(rate) + " requests/s").c_str()
               : "closed loop",
      prompt_chars.min, prompt_chars.max, max_tokens.min, max_tokens.max, name.c_str());
  std::fflush(stdout);

  const std::string dir = "/tmp/ringserve-serve-" + std::to_string(::getpid());
  ProgressLine progress_line("", /*show_elapsed=*/false);
  if (progress_line.on()) {
    void* shared = ::mmap(nullptr, sizeof(SharedProgress), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared != MAP_FAILED) g_progress = new (shared) SharedProgress();
  }
  std::vector<pid_t> pids;
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t c = 0; c < clients; ++c) {
    const uint32_t share = requests / clients + (c < requests % clients ? 1 : 0);
    const std::string out_path = dir + "-" + std::to_string(c) + ".txt";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::_exit(client_process(name, c, share, rate / clients, prompt_chars, max_tokens, out_path));
    }
    pids.push_back(pid);
  }
  // The progress line has its own thread, so the wait below (and the time it measures) is the
  // same with and without it.
  std::mutex progress_mutex;
  std::condition_variable progress_cv;
  bool clients_done = false;
  std::thread progress_thread;
  if (g_progress != nullptr) {
    progress_thread = std::thread([&] {
      std::unique_lock<std::mutex> lock(progress_mutex);
      while (!progress_cv.wait_for(lock, std::chrono::milliseconds(250),
                                   [&] { return clients_done; })) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        const uint64_t tokens = g_progress->tokens.load(std::memory_order_relaxed);
        progress_line.show(
            "serve: requests %llu/%u, %.0f tok/s, %.0f s",
            static_cast<unsigned long long>(g_progress->requests.load(std::memory_order_relaxed)),
            requests, s > 0 ? static_cast<double>(tokens) / s : 0.0, s);
      }
      progress_line.clear();
    });
  }
  int failed_processes = 0;
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_processes;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (progress_thread.joinable()) {
    {
      const std::lock_guard<std::mutex> lock(progress_mutex);
      clients_done = true;
    }
    progress_cv.notify_one();
    progress_thread.join();
    ::munmap(g_progress, sizeof(SharedProgress));
    g_progress = nullptr;
  }

  std::vector<uint64_t> queue_wait, ttft, itl, e2e;
  uint64_t ok = 0, tokens = 0;
  std::map<std::string, uint64_t> errors;
  for (uint32_t c = 0; c < clients; ++c) {
    const std::string path = dir + "-" + std::to_string(c) + ".txt";
    for (const RequestResult& r : read_results(path)) {
      if (!r.ok) {
        ++errors[r.error];
        continue;
      }
      ++ok;
      tokens += r.tokens;
      queue_wait.push_back(r.queue_wait_ns);
      ttft.push_back(r.ttft_ns);
      e2e.push_back(r.e2e_ns);
      itl.insert(itl.end(), r.itl_ns.begin(), r.itl_ns.end());
    }
    std::remove(path.c_str());
  }
  const Summary sq = summarize(queue_wait), st = summarize(ttft), si = summarize(itl),
                se = summarize(e2e);
  const double rps = ok / seconds;
  const double tps = tokens / seconds;
  std::printf("%llu requests ok in %.2f s: %.2f requests/s, %.1f output tokens/s\n",
              static_cast<unsigned long long>(ok), seconds, rps, tps);
  for (const auto& [kind, n] : errors) {
    std::printf("  errors: %llu x %s\n", static_cast<unsigned long long>(n), kind.c_str());
  }
  std::printf("%-14s %10s %10s %10s %10s\n", "latency (ms)", "p50", "p90", "p99", "mean");
  const std::pair<const char*, const Summary*> rows[] = {
      {"queue wait", &sq}, {"TTFT", &st}, {"inter-token", &si}, {"end to end", &se}};
  for (const auto& [label, s] : rows) {
    std::printf("%-14s %10.3f %10.3f %10.3f %10.3f\n", label, s->p50 / 1e6, s->p90 / 1e6,
                s->p99 / 1e6, s->mean / 1e6);
  }
  if (opts.has("json")) {
    nlohmann::json errors_json = nlohmann::json::object();
    for (const auto& [kind, n] : errors) errors_json[kind] = n;
    const nlohmann::json j = {{"clients", clients},
                              {"requests", requests},
                              {"rate", rate},
                              {"seconds", seconds},
                              {"requests_ok", ok},
                              {"errors", errors_json},
                              {"requests_per_s", rps},
                              {"output_tokens", tokens},
                              {"output_tokens_per_s", tps},
                              {"queue_wait", summary_json(sq)},
                              {"ttft", summary_json(st)},
                              {"itl", summary_json(si)},
                              {"end_to_end", summary_json(se)},
                              {"ttft_p50_ms", st.p50 / 1e6},
                              {"itl_p50_ms", si.p50 / 1e6}};
    std::ofstream(opts.get("json", "")) << j.dump(2) << "\n";
  }
  return failed_processes == 0 ? 0 : 1;
}

}  // namespace ringserve::bench
