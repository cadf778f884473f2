#include "benchmarks/timed_stream.h"

#include <chrono>

#include "shm/clock.h"

namespace ringserve::bench {

Status read_timed(Stream& stream, uint64_t t0, TokenTimes* out) {
  Token t;
  Status s;
  uint64_t last = 0;
  while ((s = stream.next(&t, std::chrono::seconds(600))).ok()) {
    const uint64_t now = shm::monotonic_ns();
    out->text += t.text;
    if (t.id < 0) continue;  // text-only entry, not a token
    if (out->tokens == 0) {
      out->ttft_ns = now - t0;
    } else {
      out->gaps_ns.push_back(now - last);
    }
    last = now;
    ++out->tokens;
  }
  return s;
}

std::string prose(uint32_t chars, uint64_t start) {
  static constexpr char kWords[] =
      "the quick brown fox jumps over a lazy dog while shared memory carries tokens between "
      "processes without any socket in the way and every client reads its own ring ";
  const size_t n = sizeof(kWords) - 1;
  std::string p;
  size_t at = start % n;
  while (p.size() < chars) p += kWords[at++ % n];
  return p;
}

}  // namespace ringserve::bench
