// The fuzz harness of tests/fuzz/ run as a plain randomized test in every build: random
// inputs, and random mutations of a valid request. Under RINGSERVE_SANITIZE (ASan + UBSan)
// this is the "hostile bytes never read or write out of bounds" check; scripts/fuzz runs the
// same harness under libFuzzer's coverage-guided search.
#include <gtest/gtest.h>

#include <random>

#include "tests/fuzz/segment_fuzz.h"

namespace ringserve::fuzz {
namespace {

TEST(SegmentFuzz, AValidRequestIsAccepted) {
  // The harness reaches the accept path, so the mutations below start from a request the
  // daemon would run (a harness that rejected everything would prove nothing).
  const std::vector<uint8_t> input = valid_segment_input("hello");
  EXPECT_EQ(run_segment_input(input.data(), input.size()), 1);
}

TEST(SegmentFuzz, RandomBytesNeverCrash) {
  std::mt19937_64 rng(1);
  const size_t full = valid_segment_input("x").size();
  std::vector<uint8_t> input;
  for (int i = 0; i < 20000; ++i) {
    input.resize(rng() % (full + 64));
    for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    run_segment_input(input.data(), input.size());
  }
}

TEST(SegmentFuzz, MutatedValidRequestsNeverCrash) {
  std::mt19937_64 rng(2);
  const std::vector<uint8_t> seed = valid_segment_input("a prompt that is valid UTF-8: \xC3\xA9");
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> input = seed;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int f = 0; f < flips; ++f) {
      uint8_t& b = input[rng() % input.size()];
      b = rng() % 2 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(b ^ (1u << (rng() % 8)));
    }
    accepted += run_segment_input(input.data(), input.size());
  }
  // Most flips land in bytes that do not matter (prompt padding, reserved fields): many of
  // the mutants are still valid requests, so the deep paths (flush into the ring) are run.
  EXPECT_GT(accepted, 1000);
}

}  // namespace
}  // namespace ringserve::fuzz
