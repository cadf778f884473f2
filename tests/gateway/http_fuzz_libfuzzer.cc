// libFuzzer entry point (clang -fsanitize=fuzzer) of the gateway's request parsing path.
#include <cstddef>
#include <cstdint>

#include "tests/gateway/http_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringserve::fuzz::run_http_input(data, size);
  return 0;
}
