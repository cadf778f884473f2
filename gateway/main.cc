// ringserve-http: an OpenAI-compatible HTTP gateway to one ringserved (docs/HTTP.md). A separate
// process and an ordinary client of the daemon's rings, so the daemon stays free of HTTP.
//
//   ringserve-http --name NAME [--port PORT] [--host ADDR] [--config FILE] [--threads N]
//
// Exit codes: 0 after SIGINT or SIGTERM, 1 when the address cannot be bound, 2 for a bad
// command line or config file.
#include <cstdio>
#include <string>

#include "gateway/http_server.h"
#include "gateway/options.h"

int main(int argc, char** argv) {
  ringserve::gateway::Options options;
  const std::string error = ringserve::gateway::parse_options(argc, argv, &options);
  if (options.help) {
    std::fputs(ringserve::gateway::usage_text(), stdout);
    return 0;
  }
  if (!error.empty()) {
    std::fprintf(stderr, "ringserve-http: %s (ringserve-http --help shows the usage)\n",
                 error.c_str());
    return 2;
  }
  return ringserve::gateway::run_server(options);
}
