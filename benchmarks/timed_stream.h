// What the serving benchmarks measure of one streamed request on the client side: when each
// token arrived, from the submission to the first one and between the rest; and the prose
// their prompts are made of.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringserve/client.h"

namespace ringserve::bench {

struct TokenTimes {
  uint64_t ttft_ns = 0;           // submission -> first token read
  std::vector<uint64_t> gaps_ns;  // between consecutive tokens
  uint32_t tokens = 0;
  std::string text;  // what the entries carried, tokens and text-only ones alike
};

// Reads `stream` to its end, timing each token (text-only entries are not tokens) from t0, the
// submission's shm::monotonic_ns(). Returns the stream's last status: end_of_stream() when the
// request finished.
Status read_timed(Stream& stream, uint64_t t0, TokenTimes* out);

// `chars` characters (at least) of English prose about this project, starting `start` characters
// into its text (taken modulo its length): prompts that differ by where they start.
std::string prose(uint32_t chars, uint64_t start);

}  // namespace ringserve::bench
