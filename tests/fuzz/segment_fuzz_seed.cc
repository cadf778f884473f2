// Writes the fuzzer's seed corpus: valid requests (scripts/fuzz runs it before the fuzzer).
#include <cstdio>
#include <string>

#include "tests/fuzz/segment_fuzz.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ringserve_fuzz_seed CORPUS_DIR\n");
    return 2;
  }
  const char* prompts[] = {"hello", "caf\xC3\xA9 \xE2\x82\xAC", ""};
  int n = 0;
  for (const char* prompt : prompts) {
    const std::vector<uint8_t> input = ringserve::fuzz::valid_segment_input(prompt);
    const std::string path = std::string(argv[1]) + "/seed-" + std::to_string(n++);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(input.data(), 1, input.size(), f) != input.size()) {
      std::perror(path.c_str());
      return 1;
    }
    std::fclose(f);
  }
  return 0;
}
