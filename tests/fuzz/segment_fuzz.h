// The daemon's reading of client-writable shared memory, driven by arbitrary bytes: one
// function that both the libFuzzer target (segment_fuzz_libfuzzer.cc, clang) and a plain
// randomized test (tests/segment_fuzz_test.cc, any compiler, in the default ctest run) call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ringserve::fuzz {

// Lays `data` over everything a client can write -- the request ring (shared head and tail,
// cells), slot 0's header and prompt area, and token ring 0's header -- and runs what the
// daemon does with it: the request ring consumer polls (past its skip deadline), every slot
// index it yields and slot 0 go through take_request, an accepted or rejected request gets
// tokens and its finish flushed into a token ring whose tail the input scribbled. Returns the
// number of requests take_request accepted. Must never crash, hang or touch memory outside
// the segment (the sanitizers check).
int run_segment_input(const uint8_t* data, size_t size);

// An input an honest client could have produced: `prompt` in slot 0, submitted and published
// at the request ring's first position, a token ring with room. run_segment_input accepts it.
// The seed for mutations (and for libFuzzer's corpus).
std::vector<uint8_t> valid_segment_input(std::string_view prompt);

}  // namespace ringserve::fuzz
