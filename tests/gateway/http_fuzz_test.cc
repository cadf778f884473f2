// The fuzz harness run deterministically: well-formed requests, every prefix of them, and
// random mutations go through the parsing path without a crash (ASan/UBSan builds check more).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/gateway/http_fuzz.h"

namespace ringserve::fuzz {
namespace {

void run(const std::string& s) {
  run_http_input(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::vector<std::string> seeds() {
  const std::string chat =
      R"({"messages":[{"role":"user","content":"hi"}],"stream":true,"stop":["a"],"max_tokens":3})";
  const std::string text = R"({"prompt":"x","temperature":0.5,"seed":-1,"n":2})";
  return {
      "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer key\r\n"
      "Content-Length: " +
          std::to_string(chat.size()) + "\r\n\r\n" + chat,
      "POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(text.size()) +
          "\r\n\r\n" + text,
      "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"p\r\n0\r\n\r\n",
      "GET /v1/models?x=1 HTTP/1.1\r\nAuthorization: Bearer nope\r\n\r\n",
      "DELETE /v1/completions HTTP/1.0\r\n\r\n",
      "GET /nowhere HTTP/1.1\r\n\r\n",
  };
}

TEST(GatewayHttpFuzz, SeedsAndTheirPrefixes) {
  for (const std::string& s : seeds()) {
    for (size_t n = 0; n <= s.size(); ++n) run(s.substr(0, n));
  }
}

TEST(GatewayHttpFuzz, RandomMutations) {
  std::mt19937 rng(12345);
  const std::vector<std::string> base = seeds();
  for (int i = 0; i < 20000; ++i) {
    std::string s = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[at] = static_cast<char>(rng());
          break;
        case 1:
          s.erase(at, 1 + rng() % 4);
          break;
        default:
          s.insert(at, std::string(1 + rng() % 3, "{[\"\\:,}]0\r\n"[rng() % 11]));
      }
    }
    run(s);
  }
}

}  // namespace
}  // namespace ringserve::fuzz
