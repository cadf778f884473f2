// libFuzzer entry point (clang -fsanitize=fuzzer): scripts/fuzz builds and runs it.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/segment_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ringserve::fuzz::run_segment_input(data, size);
  return 0;
}
