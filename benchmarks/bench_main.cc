// ringserve-bench: benchmarks of ringserve. Subcommands dispatch to latency_bench.cc,
// throughput_bench.cc and ring_microbench.cc; latency and throughput start and stop the
// processes they measure.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "benchmarks/bench_options.h"

namespace {

constexpr const char* kUsage =
    "usage: ringserve-bench SUBCOMMAND [OPTIONS]\n"
    "\n"
    "  latency [--requests R] [--tokens N] [--step-delay-us D] [--warmup W] [--json FILE]\n"
    "      per-token delivery and submit-to-daemon latency of the shared-memory transport\n"
    "      (spin and futex waits) against a Unix-domain-socket baseline; starts its own\n"
    "      ringserved. Defaults: R=200 requests of N=50 tokens, D=100 us per step, W=5.\n"
    "  throughput [--clients C] [--tokens N] [--seconds S] [--wait-mode M] [--json FILE]\n"
    "      aggregate tokens/s from an echo ringserved (no step delay) to C client processes\n"
    "      streaming N-token requests back to back for S seconds. Defaults: C=8, N=4096, S=5,\n"
    "      M=hybrid (spin | futex | hybrid).\n"
    "  model [--model DIR | --preset NAME] [--threads T] [--dtype D] [--device DEV]\n"
    "        [--prompt-tokens P] [--steps S] [--batches 1,4,8,16] [--compare-blas]\n"
    "        [--mixed-chunk C] [--compare-kv-layouts] [--json FILE]\n"
    "      the engine alone: prefill tokens/s, decode tokens/s per batch size, and batch-1\n"
    "      decode against its memory-bandwidth floor (weight bytes / measured bandwidth).\n"
    "      Without --model a random model of --preset (default gpt2-small; also llama-small)\n"
    "      is written to a temporary directory. Defaults: T=online CPUs, D=float32, P=128, S=32.\n"
    "      --compare-blas repeats the decode runs with BLAS for every product and ATen's\n"
    "      attention (no small-batch kernel, no paged attention kernel). --mixed-chunk C adds\n"
    "      a C-token prompt chunk of one more sequence to every decode step, as in a served\n"
    "      step that admits a request. --compare-kv-layouts then runs each batch's decode\n"
    "      steps with every sequence's KV blocks in order (as a contiguous cache) and with\n"
    "      every block apart in shuffled order, alternating step by step, and prints the ratio.\n"
    "  quality --model DIR --dtype D [--text FILE] [--tokens N] [--context C] [--threads T]\n"
    "          [--json FILE]\n"
    "      what weight format D costs in quality: the text (default the GPL-3 text of\n"
    "      /usr/share/common-licenses) through the model in D and in float32, in windows of C\n"
    "      tokens (default 512); mean KL divergence of the next-token distributions, top-1\n"
    "      agreement and both perplexities over at most N tokens (default 16384).\n"
    "  serve --name NAME [--clients N] [--requests M] [--max-tokens K|MIN:MAX]\n"
    "        [--prompt-chars C|MIN:MAX] [--rate R] [--json FILE]\n"
    "      drives a running ringserved from N client processes: closed loop, or Poisson\n"
    "      arrivals at R requests/s in total; reports requests/s, output tokens/s and\n"
    "      p50/p90/p99 of queue wait, time to first token, inter-token and end-to-end latency.\n"
    "      Defaults: N=16, M=4N, K=64, C=64, closed loop.\n"
    "  chat --name NAME [--clients C] [--turns K] [--system-chars S] [--user-chars U]\n"
    "       [--max-tokens M] [--seed N] [--json FILE]\n"
    "      C client processes each hold a K-turn conversation with a running ringserved, all\n"
    "      after the same S-character system prompt, each turn sending the whole history and\n"
    "      a new U-character question (greedy, up to M tokens); reports time to first token\n"
    "      per turn (p50, JSON ttft_ms_by_turn) and prompt tokens sent, computed and served\n"
    "      from the prefix cache. Texts depend on N (runs with different N share nothing).\n"
    "      Defaults: C=1, K=8, S=2000, U=100, M=32, N=0.\n"
    "  http --name NAME --port PORT [--clients C] [--requests M] [--rounds R]\n"
    "       [--max-tokens K] [--prompt-chars P] [--json FILE]\n"
    "      the same load through ringserve-http on 127.0.0.1:PORT (streaming SSE) and the\n"
    "      shared-memory client, on the running daemon NAME, alternating: each round C client\n"
    "      threads send M requests back to back, once per transport, with the same prompts;\n"
    "      reports output tokens/s and p50/p99 of time to first token and inter-token latency\n"
    "      per transport. Defaults: C=16, M=2, R=6, K=64, P=64.\n"
    "  micro [Google Benchmark flags, e.g. --benchmark_filter=Ring --benchmark_min_time=0.1]\n"
    "      in-process micro-benchmarks of the request ring, token ring and futex wake-up.\n"
    "\n"
    "  latency and throughput also take --daemon PATH: the ringserved to run (default: the one\n"
    "  next to this executable, else the one this was built with), and --set KEY=VALUE\n"
    "  (repeatable): a config override passed on to ringserved after the benchmark's own, e.g.\n"
    "  --set transport.spin_us=5 or --set transport.token_ring_entries=1024.\n";

int usage(FILE* out, int rc) {
  std::fputs(kUsage, out);
  return rc;
}

using ringserve::bench::OptionKind;
using ringserve::bench::OptionSpec;

const OptionSpec kLatencyOptions = {
    {"requests", OptionKind::kCount},     {"tokens", OptionKind::kCount},
    {"step-delay-us", OptionKind::kUint}, {"warmup", OptionKind::kUint},
    {"json", OptionKind::kText},          {"daemon", OptionKind::kText},
    {"set", OptionKind::kList},           {"help", OptionKind::kFlag}};

const OptionSpec kThroughputOptions = {
    {"clients", OptionKind::kCount},  {"tokens", OptionKind::kCount},
    {"seconds", OptionKind::kNumber}, {"wait-mode", OptionKind::kText},
    {"json", OptionKind::kText},      {"daemon", OptionKind::kText},
    {"set", OptionKind::kList},       {"help", OptionKind::kFlag}};

const OptionSpec kModelOptions = {{"model", OptionKind::kText},
                                  {"preset", OptionKind::kText},
                                  {"threads", OptionKind::kCount},
                                  {"dtype", OptionKind::kText},
                                  {"device", OptionKind::kText},
                                  {"prompt-tokens", OptionKind::kCount},
                                  {"steps", OptionKind::kCount},
                                  {"batches", OptionKind::kText},
                                  {"json", OptionKind::kText},
                                  {"help", OptionKind::kFlag},
                                  {"compare-blas", OptionKind::kFlag},
                                  {"mixed-chunk", OptionKind::kCount},
                                  {"compare-kv-layouts", OptionKind::kFlag}};

const OptionSpec kQualityOptions = {
    {"model", OptionKind::kText},    {"dtype", OptionKind::kText},
    {"text", OptionKind::kText},     {"tokens", OptionKind::kCount},
    {"context", OptionKind::kCount}, {"threads", OptionKind::kCount},
    {"json", OptionKind::kText},     {"help", OptionKind::kFlag}};

const OptionSpec kChatOptions = {
    {"name", OptionKind::kText},        {"clients", OptionKind::kCount},
    {"turns", OptionKind::kCount},      {"system-chars", OptionKind::kUint},
    {"user-chars", OptionKind::kCount}, {"max-tokens", OptionKind::kCount},
    {"seed", OptionKind::kUint},        {"json", OptionKind::kText},
    {"help", OptionKind::kFlag}};

const OptionSpec kServeOptions = {
    {"name", OptionKind::kText},         {"clients", OptionKind::kCount},
    {"requests", OptionKind::kCount},    {"max-tokens", OptionKind::kText},
    {"prompt-chars", OptionKind::kText}, {"rate", OptionKind::kNumber},
    {"json", OptionKind::kText},         {"help", OptionKind::kFlag}};

const OptionSpec kHttpOptions = {
    {"name", OptionKind::kText},          {"port", OptionKind::kCount},
    {"clients", OptionKind::kCount},      {"requests", OptionKind::kCount},
    {"rounds", OptionKind::kCount},       {"max-tokens", OptionKind::kCount},
    {"prompt-chars", OptionKind::kCount}, {"json", OptionKind::kText},
    {"help", OptionKind::kFlag}};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(stderr, 2);
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") return usage(stdout, 0);
  if (command == "micro") return ringserve::bench::micro_main(argc - 1, argv + 1);
  const OptionSpec* spec = command == "latency"      ? &kLatencyOptions
                           : command == "throughput" ? &kThroughputOptions
                           : command == "model"      ? &kModelOptions
                           : command == "serve"      ? &kServeOptions
                           : command == "quality"    ? &kQualityOptions
                           : command == "chat"       ? &kChatOptions
                           : command == "http"       ? &kHttpOptions
                                                     : nullptr;
  if (spec == nullptr) {
    std::fprintf(stderr, "ringserve-bench: unknown subcommand '%s' (try --help)\n",
                 command.c_str());
    return 2;
  }
  ringserve::bench::Options opts;
  std::string error;
  if (!opts.parse(std::vector<std::string>(argv + 2, argv + argc), *spec, &error)) {
    std::fprintf(stderr, "ringserve-bench %s: %s\n", command.c_str(), error.c_str());
    return 2;
  }
  if (opts.has("help")) return usage(stdout, 0);
  if (opts.has("wait-mode")) {
    const std::string mode = opts.get("wait-mode", "");
    if (mode != "spin" && mode != "futex" && mode != "hybrid") {
      std::fprintf(stderr, "ringserve-bench %s: --wait-mode must be spin, futex or hybrid\n",
                   command.c_str());
      return 2;
    }
  }
  if (command == "latency") return ringserve::bench::latency_main(opts);
  if (command == "model") return ringserve::bench::model_main(opts);
  if (command == "serve") return ringserve::bench::serve_main(opts);
  if (command == "quality") return ringserve::bench::quality_main(opts);
  if (command == "chat") return ringserve::bench::chat_main(opts);
  if (command == "http") return ringserve::bench::http_main(opts);
  return ringserve::bench::throughput_main(opts);
}
