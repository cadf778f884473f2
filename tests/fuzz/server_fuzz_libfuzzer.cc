// libFuzzer entry point for the whole daemon loop (clang -fsanitize=fuzzer): scripts/fuzz
// builds and runs it. With RINGSERVE_FUZZ_SERVER_SEEDS=DIR set, it first writes its seed
// inputs (server_seed_inputs) into DIR, the corpus scripts/fuzz then hands it.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/server_fuzz.h"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* dir = std::getenv("RINGSERVE_FUZZ_SERVER_SEEDS");
  if (dir == nullptr || *dir == '\0') return 0;
  int n = 0;
  for (const std::vector<uint8_t>& input : ringserve::fuzz::server_seed_inputs()) {
    const std::string path = std::string(dir) + "/seed-" + std::to_string(n++);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(input.data(), 1, input.size(), f) != input.size()) {
      std::perror(path.c_str());
      std::exit(1);
    }
    std::fclose(f);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringserve::fuzz::run_server_input(data, size);
  return 0;
}
