// `ringserve-bench latency`: submit-to-daemon and per-token delivery latency of the
// shared-memory transport in spin and futex modes, against a Unix-domain-socket baseline
// doing the same exchange, all in one run.
#include <cstdio>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "benchmarks/bench_options.h"
#include "benchmarks/daemon_runner.h"
#include "benchmarks/percentiles.h"
#include "benchmarks/uds_baseline.h"
#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

bool run_shm(const std::string& daemon_path, const std::string& mode, uint32_t requests,
             uint32_t warmup, uint32_t tokens, uint32_t step_delay_us, ExchangeSamples* out,
             std::string* error) {
  DaemonRunner daemon(daemon_path, "bench-lat-" + mode,
                      {"--set", "transport.wait_mode=" + mode, "--set", "model.backend=echo",
                       "--set", "model.echo_step_delay_us=" + std::to_string(step_delay_us),
                       "--set", "daemon.log_level=warn"});
  if (!daemon.ok()) {
    *error = "ringserved did not start (see " + daemon.log_path() + ")";
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
    while (s.ok() && (s = stream->next(&token)).ok()) {
      const uint64_t now = shm::monotonic_ns();
      if (r >= warmup) out->token_ns.push_back(now - token.published_ns);
    }
    if (s.end_of_stream()) {
      s = Status();
      const RequestInfo info = stream->info();
      if (r >= warmup) out->submit_ns.push_back(info.received_ns - info.submit_ns);
    }
  }
  if (!s.ok()) *error = s.to_string();
  return s.ok();
}

nlohmann::json to_json(const Summary& submit, const Summary& token) {
  return {{"submit_p50_ns", submit.p50},   {"submit_p99_ns", submit.p99},
          {"submit_p999_ns", submit.p999}, {"submit_mean_ns", submit.mean},
          {"requests", submit.count},      {"token_p50_ns", token.p50},
          {"token_p90_ns", token.p90},     {"token_p99_ns", token.p99},
          {"token_p999_ns", token.p999},   {"token_mean_ns", token.mean},
          {"tokens", token.count}};
}

}  // namespace

int latency_main(const Options& opts) {
  const uint32_t requests = opts.get_u32("requests", 200);
  const uint32_t tokens = opts.get_u32("tokens", 50);
  const uint32_t delay = opts.get_u32("step-delay-us", 100);
  const uint32_t warmup = 5;
  const std::string daemon_path = opts.get("daemon", default_daemon_path());
  std::printf("latency: %u requests x %u tokens, step delay %u us, %u warm-up requests\n\n",
              requests, tokens, delay, warmup);
  std::printf("%-10s %12s %12s %12s | %12s %12s %12s %10s\n", "transport", "submit p50",
              "submit p99", "submit p99.9", "token p50", "token p99", "token p99.9", "tokens");
  nlohmann::json report;
  uint64_t futex_p50 = 0, uds_p50 = 0, spin_p50 = 0;
  for (const std::string transport : {"shm-spin", "shm-futex", "uds"}) {
    ExchangeSamples samples;
    std::string error;
    const bool ok = transport == "uds"
                        ? run_uds_baseline(requests, warmup, tokens, delay, &samples, &error)
                        : run_shm(daemon_path, transport.substr(4), requests, warmup, tokens, delay,
                                  &samples, &error);
    if (!ok) {
      std::fprintf(stderr, "%s: %s\n", transport.c_str(), error.c_str());
      return 1;
    }
    const Summary submit = summarize(samples.submit_ns);
    const Summary token = summarize(samples.token_ns);
    std::printf("%-10s %9.2f us %9.2f us %9.2f us | %9.2f us %9.2f us %9.2f us %10llu\n",
                transport.c_str(), submit.p50 / 1e3, submit.p99 / 1e3, submit.p999 / 1e3,
                token.p50 / 1e3, token.p99 / 1e3, token.p999 / 1e3,
                static_cast<unsigned long long>(token.count));
    report[transport] = to_json(submit, token);
    if (transport == "shm-spin") spin_p50 = token.p50;
    if (transport == "shm-futex") futex_p50 = token.p50;
    if (transport == "uds") uds_p50 = token.p50;
  }
  std::printf("\ntoken p50: shm-spin %s 1 us; shm-futex / uds = %.2f\n",
              spin_p50 < 1000 ? "<" : ">=", static_cast<double>(futex_p50) / uds_p50);
  if (opts.has("json")) std::ofstream(opts.get("json", "")) << report.dump(2) << "\n";
  return 0;
}

}  // namespace ringserve::bench
