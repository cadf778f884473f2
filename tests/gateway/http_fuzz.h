// The gateway's request parsing path without a socket, for libFuzzer (scripts/fuzz) and a
// deterministic unit test: bytes -> Beast's request parser under the gateway's limits -> the
// router -> the OpenAI body parser. A daemon is never reached (the link names none), so what is
// exercised is parsing and validation only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ringserve::fuzz {

void run_http_input(const uint8_t* data, size_t size);

}  // namespace ringserve::fuzz
