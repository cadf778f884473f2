// tokenizer_throughput: encode speed of the reference families' tokenizers on common text, to
// check that a change to the pre-tokenizer regexes (tests/reference/README.md: the Unicode 15.0
// classes) costs nothing where most prompts are. Prints MB/s per family and kind of text, the
// best of nine runs of about 1 MB each, in thread CPU time (less disturbed than wall time by
// other work on a shared machine).
//
// usage: tokenizer_throughput MODELS_ROOT   (tests/reference/node_modules/@lenml)
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "engine/text/tokenizer.h"

namespace {

using ringserve::model::Tokenizer;

// About 1 MB of one kind of text, varied enough that the word cache does not hold all of it.
std::string corpus(const std::string& kind) {
  const std::vector<std::string> words =
      kind == "ascii"
          ? std::vector<std::string>{"the",  "quick", "brown", "fox",    "jumps", "over",
                                     "lazy", "dog's", "42",    "tokens", "per",   "second,",
                                     "and",  "then",  "some",  "more",   "text."}
      : kind == "code" ? std::vector<std::string>{"def",   "f(x):",
                                                  "\n   ", "return",
                                                  "x**2",  "#",
                                                  "if",    "(a",
                                                  "==",    "b)",
                                                  "{",     "}",
                                                  "\n",    "std::vector<int>",
                                                  "i++;"}
                       : std::vector<std::string>{"日本語",  "の",    "テキスト", "Ελληνικά",
                                                  "русский", "текст", "中文",     "한국어",
                                                  "café",    "😀",     "naïve",    "العربية"};
  std::string text;
  uint64_t state = 12345;
  for (size_t n = 0; text.size() < (1u << 20); ++n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    text += words[(state >> 33) % words.size()];
    text += (state >> 20) % 7 == 0 ? std::to_string(n % 1000) + " " : " ";
  }
  return text;
}

double thread_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tokenizer_throughput MODELS_ROOT\n");
    return 2;
  }
  const std::string root = argv[1];
  std::printf("%-12s %10s %10s %10s   (MB/s, best of 9)\n", "family", "ascii", "code", "multi");
  for (const char* family : {"gpt2", "llama2", "llama3", "qwen3", "gemma3", "deepseek_v3"}) {
    std::unique_ptr<Tokenizer> tokenizer;
    std::string error;
    const std::string path = root + "/tokenizer-" + family + "/models/tokenizer.json";
    if (!Tokenizer::load(path, &tokenizer, &error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    std::printf("%-12s", family);
    for (const char* kind : {"ascii", "code", "multi"}) {
      const std::string text = corpus(kind);
      double best = 0;
      for (int run = 0; run < 9; ++run) {
        const double t0 = thread_seconds();
        const size_t ids = tokenizer->encode(text).size();
        const double s = thread_seconds() - t0;
        if (ids == 0) return 1;
        best = std::max(best, static_cast<double>(text.size()) / s / 1e6);
      }
      std::printf(" %10.2f", best);
    }
    std::printf("\n");
  }
  return 0;
}
