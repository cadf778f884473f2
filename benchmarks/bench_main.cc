// ringserve-bench: benchmarks of ringserve.
//   ringserve-bench latency    [--requests R] [--tokens N] [--step-delay-us D] [--json FILE]
//   ringserve-bench throughput [--clients C] [--tokens N] [--seconds S] [--wait-mode M] [--json
//   FILE] ringserve-bench micro      [Google Benchmark flags]
// latency and throughput start and stop the ringserved they measure (--daemon PATH to choose).
#include <cstdio>
#include <string>
#include <vector>

#include "benchmarks/bench_options.h"

namespace {

int usage(int rc) {
  std::fputs(
      "usage: ringserve-bench latency    [--requests R] [--tokens N] [--step-delay-us D] "
      "[--json FILE]\n"
      "       ringserve-bench throughput [--clients C] [--tokens N] [--seconds S] "
      "[--wait-mode M] [--json FILE]\n"
      "       ringserve-bench micro      [--benchmark_filter=...]\n"
      "  latency, throughput: start their own ringserved (--daemon PATH overrides which)\n",
      rc == 0 ? stdout : stderr);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage(2);
  const std::string command = argv[1];
  if (command == "--help" || command == "-h") return usage(0);
  if (command == "micro") return ringserve::bench::micro_main(argc - 1, argv + 1);
  ringserve::bench::Options opts;
  std::string error;
  if (!opts.parse(std::vector<std::string>(argv + 2, argv + argc), &error)) {
    std::fprintf(stderr, "ringserve-bench: %s\n", error.c_str());
    return 2;
  }
  if (command == "latency") return ringserve::bench::latency_main(opts);
  if (command == "throughput") return ringserve::bench::throughput_main(opts);
  std::fprintf(stderr, "ringserve-bench: unknown subcommand '%s'\n", command.c_str());
  return usage(2);
}
