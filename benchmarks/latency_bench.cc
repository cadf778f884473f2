// `ringserve-bench latency`: submit-to-daemon and per-token delivery latency of the
// shared-memory transport in spin and futex modes, against a Unix-domain-socket baseline
// doing the same exchange, all in one run. All timestamps are CLOCK_MONOTONIC, which every
// process on the machine shares.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/cpu_usage.h"
#include "benchmarks/daemon_runner.h"
#include "benchmarks/percentiles.h"
#include "benchmarks/uds_baseline.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

// One shm transport: a daemon in `mode` ("spin" | "futex") and a client waiting the same way.
bool run_shm(const std::string& daemon_path, const std::vector<std::string>& overrides,
             const std::string& mode, uint32_t requests, uint32_t warmup, uint32_t tokens,
             uint32_t step_delay_us, ExchangeSamples* out, std::string* error) {
  const std::vector<std::string> args = with_overrides(
      {"--set", "transport.wait_mode=" + mode, "--set", "model.backend=echo", "--set",
       "model.echo_step_delay_us=" + std::to_string(step_delay_us), "--set",
       "scheduler.max_tokens_limit=" + std::to_string(std::max<uint32_t>(tokens, 4096)), "--set",
       "daemon.log_level=warn"},
      overrides);
  DaemonRunner daemon(daemon_path, "bench-lat-" + mode, args);
  if (!daemon.ok()) {
    *error = daemon.error();
    return false;
  }
  std::unique_ptr<Client> client;
  ConnectOptions options;
  options.wait_mode = mode;
  Status s = Client::connect(daemon.name(), &client, options);
  GenerateParams params;
  params.max_tokens = tokens;
  for (uint32_t r = 0; s.ok() && r < requests + warmup; ++r) {
    std::unique_ptr<Stream> stream;
    s = client->generate("abcdefgh", params, &stream);
    Token token;
    uint32_t received = 0;
    while (s.ok() && (s = stream->next(&token)).ok()) {
      const uint64_t now = shm::monotonic_ns();
      ++received;
      if (r >= warmup) out->token_ns.push_back(now - token.published_ns);
    }
    if (s.end_of_stream()) {
      s = Status();
      if (received != tokens) {
        s = Status(ErrorCode::kInternal, "request " + std::to_string(r) + " ended after " +
                                             std::to_string(received) + " of " +
                                             std::to_string(tokens) + " tokens");
      }
      // Both stamps are in the slot: submit_ns by the client just before it pushed,
      // received_ns by the daemon when it took the request off the ring.
      const RequestInfo info = stream->info();
      if (r >= warmup) out->submit_ns.push_back(info.received_ns - info.submit_ns);
    }
  }
  if (!s.ok()) *error = s.to_string();
  client.reset();
  if (!daemon.stop() && s.ok()) std::fprintf(stderr, "warning: %s\n", daemon.error().c_str());
  return s.ok();
}

nlohmann::json to_json(const Summary& submit, const Summary& token, double other_cpus) {
  return {{"submit_p50_ns", submit.p50},   {"submit_p99_ns", submit.p99},
          {"submit_p999_ns", submit.p999}, {"submit_mean_ns", submit.mean},
          {"submit_max_ns", submit.max},   {"requests", submit.count},
          {"token_p50_ns", token.p50},     {"token_p90_ns", token.p90},
          {"token_p99_ns", token.p99},     {"token_p999_ns", token.p999},
          {"token_mean_ns", token.mean},   {"token_max_ns", token.max},
          {"tokens", token.count},         {"other_cpu_load", other_cpus}};
}

void print_row(const std::string& transport, const Summary& s) {
  std::printf("  %-10s %10.2f %10.2f %10.2f %10.2f %8llu\n", transport.c_str(), s.p50 / 1e3,
              s.p99 / 1e3, s.p999 / 1e3, s.mean / 1e3, static_cast<unsigned long long>(s.count));
}

struct Result {
  std::string transport;
  Summary submit, token;
  double other_cpus = 0;
  double wall_s = 0;
};

}  // namespace

int latency_main(const Options& opts) {
  const uint32_t requests = opts.get_u32("requests", 200);
  const uint32_t tokens = opts.get_u32("tokens", 50);
  const uint32_t delay = opts.get_u32("step-delay-us", 100);
  const uint32_t warmup = opts.get_u32("warmup", 5);
  const std::string daemon_path = opts.get("daemon", default_daemon_path());
  std::printf(
      "latency: %u requests x %u tokens per transport (+%u warm-up requests), step delay "
      "%u us\n",
      requests, tokens, warmup, delay);
  const double busy_before = machine_busy_cpus_now(200);
  std::printf("machine: %ld CPUs, %.2f busy before the run\n", ::sysconf(_SC_NPROCESSORS_ONLN),
              busy_before);

  std::vector<Result> results;
  for (const std::string transport : {"shm-spin", "shm-futex", "uds"}) {
    ExchangeSamples samples;
    samples.token_ns.reserve(size_t{requests} * tokens);
    std::string error;
    CpuMeter meter;
    const bool ok = transport == "uds"
                        ? run_uds_baseline(requests, warmup, tokens, delay, &samples, &error)
                        : run_shm(daemon_path, opts.get_all("set"), transport.substr(4), requests,
                                  warmup, tokens, delay, &samples, &error);
    if (!ok) {
      std::fprintf(stderr, "ringserve-bench latency: %s: %s\n", transport.c_str(), error.c_str());
      return 1;
    }
    results.push_back({transport, summarize(samples.submit_ns), summarize(samples.token_ns),
                       meter.other_cpus(), meter.wall_s()});
  }

  std::printf("\nsubmit -> daemon (us)  p50        p99      p99.9       mean    count\n");
  for (const Result& r : results) print_row(r.transport, r.submit);
  std::printf("\ntoken delivery (us)    p50        p99      p99.9       mean    count\n");
  for (const Result& r : results) print_row(r.transport, r.token);
  std::printf("\nother load during the run (CPUs busy with processes this run did not start):");
  for (const Result& r : results) std::printf(" %s %.2f", r.transport.c_str(), r.other_cpus);
  std::printf("\n");

  const Result& spin = results[0];
  const Result& futex = results[1];
  const Result& uds = results[2];
  std::printf("token p50: shm-spin %.2f us (%s 1 us); shm-futex / uds = %.2f\n",
              spin.token.p50 / 1e3, spin.token.p50 < 1000 ? "<" : ">=",
              uds.token.p50 == 0 ? 0.0 : static_cast<double>(futex.token.p50) / uds.token.p50);
  if (spin.other_cpus > 0.25 && spin.wall_s > 0.5) {  // (CPU ticks are 10 ms: short runs jitter)
    std::printf(
        "note: other processes kept %.2f CPUs busy during shm-spin; spin mode needs a free CPU "
        "per spinning process (daemon and client), so its numbers include scheduler time "
        "slices\n",
        spin.other_cpus);
  }

  if (opts.has("json")) {
    nlohmann::json report;
    for (const Result& r : results) report[r.transport] = to_json(r.submit, r.token, r.other_cpus);
    std::ofstream out(opts.get("json", ""));
    out << report.dump(2) << "\n";
    if (!out.flush()) {
      std::fprintf(stderr, "ringserve-bench latency: cannot write %s\n",
                   opts.get("json", "").c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace ringserve::bench
