// `ringserve-bench throughput`: aggregate tokens/s the daemon (echo backend, no step delay)
// delivers to C concurrent client processes, each streaming long requests back to back, and
// where the CPU time goes (daemon, clients, other processes).
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/cpu_usage.h"
#include "benchmarks/daemon_runner.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

// One per client process, in a shared anonymous mapping.
struct alignas(64) ClientReport {
  std::atomic<uint64_t> tokens;
  std::atomic<uint64_t> requests;
  std::atomic<uint64_t> errors;
  std::atomic<uint64_t> end_ns;  // when it stopped reading
  char first_error[128];
};

void sleep_until(uint64_t monotonic_ns) {
  const timespec ts{static_cast<time_t>(monotonic_ns / 1'000'000'000),
                    static_cast<long>(monotonic_ns % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

void note_error(ClientReport* report, const Status& s) {
  if (report->errors.fetch_add(1) == 0) {
    std::snprintf(report->first_error, sizeof(report->first_error), "%s", s.to_string().c_str());
  }
}

// Client process body: stream requests from `start_ns` until `end_ns`.
int stream_until(const std::string& name, uint32_t tokens, uint64_t start_ns, uint64_t end_ns,
                 ClientReport* report) {
  std::unique_ptr<Client> client;
  const Status connected = Client::connect(name, &client);
  if (!connected.ok()) {
    note_error(report, connected);
    return 1;
  }
  GenerateParams params;
  params.max_tokens = tokens;
  sleep_until(start_ns);
  Token token;
  while (shm::monotonic_ns() < end_ns) {
    std::unique_ptr<Stream> stream;
    Status s = client->generate("throughput", params, &stream);
    uint64_t n = 0;
    while (s.ok() && (s = stream->next(&token)).ok()) {
      if ((++n & 255) == 0) report->tokens.fetch_add(256, std::memory_order_relaxed);
      if ((n & 1023) == 0 && shm::monotonic_ns() >= end_ns) break;  // stop mid-request
    }
    report->tokens.fetch_add(n & 255, std::memory_order_relaxed);
    if (s.end_of_stream()) {
      report->requests.fetch_add(1);
    } else if (!s.ok()) {
      note_error(report, s);
      if (report->errors.load() > 100) break;
    }
  }
  report->end_ns.store(shm::monotonic_ns());
  return 0;
}

// Reaps the children; those still running at `deadline_ns` are killed. Returns the failures.
int reap_all(const std::vector<pid_t>& children, uint64_t deadline_ns) {
  int failures = 0;
  for (pid_t pid : children) {
    int status = 0;
    pid_t r = 0;
    while ((r = ::waitpid(pid, &status, WNOHANG)) == 0 && shm::monotonic_ns() < deadline_ns) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (r == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
    if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  }
  return failures;
}

uint64_t tokens_generated(Client* client) {
  DaemonStatus st;
  return client != nullptr && client->status(&st).ok() ? st.tokens_generated : 0;
}

}  // namespace

int throughput_main(const Options& opts) {
  const uint32_t clients = opts.get_u32("clients", 8);
  const uint32_t tokens = opts.get_u32("tokens", 4096);
  const double seconds = opts.get_double("seconds", 5);
  const std::string mode = opts.get("wait-mode", "hybrid");
  const auto at_least = [](uint32_t v, uint32_t floor) {
    return std::to_string(std::max(v, floor));
  };
  const std::vector<std::string> args = with_overrides(
      {"--set", "transport.wait_mode=" + mode, "--set", "model.backend=echo", "--set",
       "model.echo_step_delay_us=0", "--set", "scheduler.max_concurrent=" + std::to_string(clients),
       "--set", "transport.slots=" + at_least(clients, 64), "--set",
       "scheduler.max_queue=" + at_least(clients, 64), "--set",
       "scheduler.max_tokens_limit=" + at_least(tokens, 4096), "--set", "daemon.log_level=warn"},
      opts.get_all("set"));
  DaemonRunner daemon(opts.get("daemon", default_daemon_path()), "bench-tput", args);
  if (!daemon.ok()) {
    std::fprintf(stderr, "ringserve-bench throughput: %s\n", daemon.error().c_str());
    return 1;
  }
  std::unique_ptr<Client> observer;  // reads the daemon's counters
  Client::connect(daemon.name(), &observer);

  const size_t bytes = sizeof(ClientReport) * clients;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::fprintf(stderr, "ringserve-bench throughput: mmap failed\n");
    return 1;
  }
  auto* reports = new (mem) ClientReport[clients]();
  // Children connect, then sleep until `start`, so the measured interval holds no start-up.
  const uint64_t start = shm::monotonic_ns() + 300'000'000 + uint64_t{clients} * 20'000'000;
  const uint64_t end = start + static_cast<uint64_t>(seconds * 1e9);
  std::vector<pid_t> children;
  std::fflush(nullptr);
  for (uint32_t c = 0; c < clients; ++c) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      die_with_parent(SIGKILL);
      ::_exit(stream_until(daemon.name(), tokens, start, end, &reports[c]));
    }
    if (pid > 0) children.push_back(pid);
  }

  sleep_until(start);
  CpuMeter meter;
  const uint64_t daemon_cpu0 = process_cpu_ns(daemon.pid());
  const ContextSwitches daemon_cs0 = process_context_switches(daemon.pid());
  const ContextSwitches clients_cs0 = children_context_switches();
  const uint64_t generated0 = tokens_generated(observer.get());
  int failures = reap_all(children, end + 30'000'000'000ULL);
  failures += static_cast<int>(clients - children.size());  // fork failures
  const uint64_t daemon_cpu = process_cpu_ns(daemon.pid()) - daemon_cpu0;
  const ContextSwitches daemon_cs = process_context_switches(daemon.pid()) - daemon_cs0;
  const ContextSwitches clients_cs = children_context_switches() - clients_cs0;
  const uint64_t generated = tokens_generated(observer.get()) - generated0;
  const double wall = meter.wall_s();
  const double machine = meter.machine_busy_cpus();
  const double self = meter.self_cpus();
  const double clients_cpu = meter.children_cpus();

  uint64_t total_tokens = 0, total_requests = 0, errors = 0, last_end = start;
  std::printf("throughput: %u client processes, %u-token requests, %.1f s, wait mode %s\n", clients,
              tokens, seconds, mode.c_str());
  for (uint32_t c = 0; c < clients; ++c) {
    const ClientReport& r = reports[c];
    const uint64_t client_end = std::max(r.end_ns.load(), start + 1);
    last_end = std::max(last_end, client_end);
    total_tokens += r.tokens.load();
    total_requests += r.requests.load();
    errors += r.errors.load();
    std::printf("  client %2u: %10.0f tokens/s, %6llu requests%s%s\n", c,
                r.tokens.load() / (static_cast<double>(client_end - start) / 1e9),
                static_cast<unsigned long long>(r.requests.load()),
                r.errors.load() != 0 ? ", first error: " : "", r.first_error);
  }
  const double elapsed = static_cast<double>(last_end - start) / 1e9;
  const double rate = total_tokens / elapsed;
  std::printf("aggregate: %.0f tokens/s, %llu requests completed, %llu errors, %d failed clients\n",
              rate, static_cast<unsigned long long>(total_requests),
              static_cast<unsigned long long>(errors), failures);
  const double daemon_cpus = static_cast<double>(daemon_cpu) / 1e9 / wall;
  const double other = std::max(0.0, machine - self - clients_cpu - daemon_cpus);
  const auto per_token = [&](double cpus) {
    return total_tokens ? cpus * wall * 1e9 / total_tokens : 0;
  };
  std::printf(
      "cpu (of %ld): daemon %.2f (%.0f ns/token), clients %.2f (%.0f ns/token), "
      "other processes %.2f\n",
      ::sysconf(_SC_NPROCESSORS_ONLN), daemon_cpus, per_token(daemon_cpus), clients_cpu,
      per_token(clients_cpu), other);
  std::printf(
      "context switches/s: daemon %.0f voluntary + %.0f involuntary, clients %.0f + %.0f; "
      "daemon generated %llu tokens in the interval\n",
      daemon_cs.voluntary / wall, daemon_cs.involuntary / wall, clients_cs.voluntary / wall,
      clients_cs.involuntary / wall, static_cast<unsigned long long>(generated));
  observer.reset();
  if (!daemon.stop()) std::fprintf(stderr, "warning: %s\n", daemon.error().c_str());

  if (opts.has("json")) {
    nlohmann::json j = {{"clients", clients},
                        {"tokens_per_request", tokens},
                        {"seconds", elapsed},
                        {"tokens", total_tokens},
                        {"tokens_per_s", static_cast<uint64_t>(rate)},
                        {"requests", total_requests},
                        {"errors", errors},
                        {"failed_clients", failures},
                        {"wait_mode", mode},
                        {"daemon_cpus", daemon_cpus},
                        {"clients_cpus", clients_cpu},
                        {"other_cpus", other}};
    std::ofstream out(opts.get("json", ""));
    out << j.dump(2) << "\n";
    if (!out.flush()) {
      std::fprintf(stderr, "ringserve-bench throughput: cannot write %s\n",
                   opts.get("json", "").c_str());
      return 1;
    }
  }
  ::munmap(mem, bytes);
  return failures == 0 && errors == 0 ? 0 : 1;
}

}  // namespace ringserve::bench
