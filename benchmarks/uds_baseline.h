// The Unix-domain-socket baseline for `ringserve-bench latency`: the same exchange as the
// shared-memory transport (submit a prompt, receive N tokens one per step, each stamped with
// its publish time), over a SOCK_STREAM socket with blocking reads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ringserve::bench {

struct ExchangeSamples {
  std::vector<uint64_t> submit_ns;  // client write -> server read returned
  std::vector<uint64_t> token_ns;   // server publish -> client read returned
};

// Forks a server process, runs `requests` exchanges of `tokens` tokens with `step_delay_us`
// between tokens, skipping `warmup` requests, and stops the server.
bool run_uds_baseline(uint32_t requests, uint32_t warmup, uint32_t tokens, uint32_t step_delay_us,
                      ExchangeSamples* out, std::string* error);

}  // namespace ringserve::bench
