// `ringserve-bench throughput`: aggregate tokens/s the daemon (echo backend, no step delay)
// delivers to C concurrent client processes, each streaming long requests back to back.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/daemon_runner.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

struct alignas(64) ClientCounters {
  std::atomic<uint64_t> tokens;
  std::atomic<uint64_t> requests;
  std::atomic<uint64_t> errors;
};

// Child process body: stream requests until the deadline.
int stream_until(const std::string& name, uint32_t tokens, uint64_t start_ns, uint64_t end_ns,
                 ClientCounters* counters) {
  std::unique_ptr<Client> client;
  if (!Client::connect(name, &client).ok()) return 1;
  GenerateParams params;
  params.max_tokens = tokens;
  while (shm::monotonic_ns() < start_ns) {
  }
  Token token;
  while (shm::monotonic_ns() < end_ns) {
    std::unique_ptr<Stream> stream;
    if (!client->generate("throughput", params, &stream).ok()) {
      counters->errors.fetch_add(1);
      continue;
    }
    uint64_t n = 0;
    Status s;
    while ((s = stream->next(&token)).ok()) {
      if ((++n & 255) == 0) counters->tokens.fetch_add(256, std::memory_order_relaxed);
      if ((n & 1023) == 0 && shm::monotonic_ns() >= end_ns) break;  // stop mid-request
    }
    counters->tokens.fetch_add(n & 255, std::memory_order_relaxed);
    if (s.end_of_stream()) counters->requests.fetch_add(1);
  }
  return 0;
}

}  // namespace

int throughput_main(const Options& opts) {
  const uint32_t clients = opts.get_u32("clients", 8);
  const uint32_t tokens = opts.get_u32("tokens", 4096);
  const double seconds = opts.get_double("seconds", 5);
  const std::string mode = opts.get("wait-mode", "hybrid");
  DaemonRunner daemon(
      opts.get("daemon", default_daemon_path()), "bench-tput",
      {"--set", "transport.wait_mode=" + mode, "--set",
       "scheduler.max_concurrent=" + std::to_string(clients), "--set",
       "scheduler.max_tokens_limit=" + std::to_string(tokens), "--set", "daemon.log_level=warn"});
  if (!daemon.ok()) {
    std::fprintf(stderr, "ringserved did not start (see %s)\n", daemon.log_path().c_str());
    return 1;
  }
  void* mem = ::mmap(nullptr, sizeof(ClientCounters) * clients, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* counters = new (mem) ClientCounters[clients]();
  const uint64_t start = shm::monotonic_ns() + 200'000'000;  // all children connected by then
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  std::vector<pid_t> children;
  for (uint32_t c = 0; c < clients; ++c) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(stream_until(daemon.name(), tokens, start, end, &counters[c]));
    children.push_back(pid);
  }
  int failures = 0;
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  const double elapsed = static_cast<double>(end - start) / 1e9;
  uint64_t total_tokens = 0, total_requests = 0, errors = 0;
  std::printf("throughput: %u client processes, %u-token requests, %.1f s, wait mode %s\n", clients,
              tokens, seconds, mode.c_str());
  for (uint32_t c = 0; c < clients; ++c) {
    total_tokens += counters[c].tokens.load();
    total_requests += counters[c].requests.load();
    errors += counters[c].errors.load();
    std::printf("  client %u: %10.0f tokens/s\n", c, counters[c].tokens.load() / elapsed);
  }
  const double rate = total_tokens / elapsed;
  std::printf("aggregate: %.0f tokens/s, %llu requests completed, %llu errors, %d failed clients\n",
              rate, static_cast<unsigned long long>(total_requests),
              static_cast<unsigned long long>(errors), failures);
  if (opts.has("json")) {
    nlohmann::json j = {{"clients", clients},         {"tokens_per_request", tokens},
                        {"seconds", elapsed},         {"tokens_per_s", static_cast<uint64_t>(rate)},
                        {"requests", total_requests}, {"errors", errors},
                        {"wait_mode", mode}};
    std::ofstream(opts.get("json", "")) << j.dump(2) << "\n";
  }
  ::munmap(mem, sizeof(ClientCounters) * clients);
  return failures == 0 && errors == 0 ? 0 : 1;
}

}  // namespace ringserve::bench
