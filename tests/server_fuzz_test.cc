// The whole-loop fuzz harness of tests/fuzz/server_fuzz.h run as a plain randomized test in
// every build: hand-written scenarios from issue 18, random inputs, and random mutations of
// the seeds. Each input ends with the harness's recovery check (the daemon holds no request,
// no backend row, every slot FREE); a broken check aborts the test process with what broke.
// scripts/fuzz runs the same harness under libFuzzer's coverage-guided search.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "tests/fuzz/server_fuzz.h"

namespace ringserve::fuzz {
namespace {

int run(const ServerInput& input) {
  return run_server_input(input.bytes().data(), input.bytes().size());
}

TEST(ServerFuzz, HonestStreamsAreServedToTheEnd) {
  // The harness reaches the end of honest streams, so the random inputs below start from a
  // daemon that serves (a harness whose clients never got a token would prove nothing).
  ServerInput in;
  in.submit(0, "hello", 5).submit(1, "caf\xC3\xA9", 6).tick(8);
  for (int i = 0; i < 4; ++i) in.read(0).read(1).tick(4);
  EXPECT_EQ(run(in), 2);
  // The daemon is reused across inputs: the next one is served just the same.
  EXPECT_EQ(run(in), 2);
}

TEST(ServerFuzz, TokenizeAndDetokenizeAreAnsweredWhileTheSchedulerIsFull) {
  // Two running (max_concurrent 2) and one waiting (max_queue 1): the text requests in the
  // last slot are answered anyway, through backpressure (answers longer than the 8-entry ring),
  // and the harness checks every byte of each answer.
  const uint8_t text = ServerInput::kTextRequest;
  const ServerFuzzCounters before = server_fuzz_counters();
  ServerInput in;
  in.submit(0, "abc", 30).submit(1, "abc", 30).submit(2, "abc", 30).tick(2);
  in.submit(3, "caf\xC3\xA9 \xF0\x9F\x98\x80 \xE2\x82\xAC abcd abcd", 5, 0, 11, text);
  for (int i = 0; i < 4; ++i) in.tick(1).read(3);
  // Detokenize of 'a' and U+1F600; then ids that are not whole int32s, and a surrogate.
  in.submit(3, std::string("a\0\0\0\x00\xF6\x01\0", 8), 5, ServerInput::kRawPrompt, 11, text);
  in.tick(1).read(3).tick(1).read(3);
  in.submit(3, "abc", 5, ServerInput::kRawPrompt, 11, text).tick(1).read(3).tick(1).read(3);
  in.submit(3, std::string("\x00\xD8\0\0", 4), 5, ServerInput::kRawPrompt, 11, text);
  in.tick(1).read(3).tick(1).read(3);
  // Invalid combinations: detokenize of chat messages, tokenize with a stop string.
  in.submit(3, "ab", 5, ServerInput::kRawPrompt | ServerInput::kChat, 11, text);
  in.tick(1).read(3).tick(1).read(3);
  in.submit(3, "ab", 4, ServerInput::kStopString, 11, text).tick(1).read(3).tick(1).read(3);
  EXPECT_EQ(run(in), 6);
  const ServerFuzzCounters after = server_fuzz_counters();
  EXPECT_EQ(after.streams_completed - before.streams_completed, 6u);
  EXPECT_EQ(after.daemon_received - before.daemon_received, 9u);
  EXPECT_EQ(after.daemon_rejected - before.daemon_rejected, 0u);
}

TEST(ServerFuzz, EverySeedRecovers) {
  int completed = 0;
  for (const std::vector<uint8_t>& seed : server_seed_inputs()) {
    completed += run_server_input(seed.data(), seed.size());
  }
  EXPECT_GT(completed, 0);
}

TEST(ServerFuzz, LettingGoOfAFullRingWithoutCancel) {
  // Issue 18, item 1: a client sets client_released on its running request with a full ring
  // and no cancel; the daemon must end it, give its KV row back and free the slot.
  ServerInput in;
  in.submit(0, "abc", 30).submit(1, "de", 30).release(0, ServerInput::kLetGoOfFullRing);
  in.tick(8).read(1).tick(8).read(1);
  run(in);
  // Served again afterwards, with both running places.
  ServerInput again;
  again.submit(0, "x", 3).submit(1, "y", 3).tick(8).read(0).read(1);
  EXPECT_EQ(run(again), 2);
}

TEST(ServerFuzz, CorruptTailAndLostSlotsComeBack) {
  // Items 2 and 3: a ring tail made impossible while the ring is full (the request is
  // abandoned), and a running slot's state word overwritten (the daemon loses it).
  ServerInput in;
  in.submit(0, "abc", 30).submit(1, "abc", 30).tick(8);
  in.nudge(ServerInput::kTokenRing, 0, 64, -20, false).state_word(1, 3, ServerInput::kSelf);
  in.tick(8).sleep_ms(3).tick(8);
  run(in);
  ServerInput again;
  again.submit(0, "x", 3).submit(1, "y", 3).tick(8).read(0).read(1);
  EXPECT_EQ(run(again), 2);
}

TEST(ServerFuzz, DeadOwnersAreSwept) {
  // Slots of processes that are gone, in every state, recovered by handing them to the dead
  // pid (recovery mode 1).
  ServerInput in(1);
  in.submit(0, "abc", 10, ServerInput::kOwnerDead).submit(1, "abc", 10, ServerInput::kClaimOnly);
  in.state_word(2, 4, ServerInput::kDead).state_word(3, 0xF7, ServerInput::kInit).tick(8);
  run(in);
  ServerInput again;
  again.submit(2, "x", 3).submit(3, "y", 3).tick(8).read(2).read(3);
  EXPECT_EQ(run(again), 2);
}

// Found by the fuzzer (scripts/fuzz, within a second of the server target): a client
// overwrites the state word of another client's streaming request (here: FREE). The owner's
// stream sees its slot taken away and stops reading without releasing (as client-lib's
// Stream::check_while_waiting does); the daemon still holds the request, fills the ring,
// pauses, gives up the KV row after pause_timeout_ms, and then keeps the Sequence (its final
// entry pending in a full ring no one reads) for as long as the owner process lives. The slot
// index is lost meanwhile: a new request in it is ignored by accept() (by_slot_ is taken), by
// the orphan sweep too. Fixed: the sweep lets go of a held request whose slot no longer carries
// its state word. The fuzzer's own input is in tests/fuzz/server-regressions/.
TEST(ServerFuzz, ARequestWhoseSlotWasOverwrittenIsLetGo) {
  ServerInput in;
  in.submit(0, "abc", 30).tick(2).state_word(0, 0, ServerInput::kSelf).read(0).tick(8);
  run(in);  // aborted in recovery before: "the daemon did not give everything back within 1 s"
  ServerInput again;
  again.submit(0, "x", 3).tick(8).read(0);
  EXPECT_EQ(run(again), 1);
}

// Every input the fuzzer found a daemon bug with (scripts/fuzz replays them first as well).
TEST(ServerFuzz, SavedRegressionInputs) {
  const std::filesystem::path dir =
      std::filesystem::path(RINGSERVE_SOURCE_DIR) / "tests/fuzz/server-regressions";
  int inputs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream file(entry.path(), std::ios::binary);
    const std::vector<uint8_t> input((std::istreambuf_iterator<char>(file)),
                                     std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    run_server_input(input.data(), input.size());
    ++inputs;
  }
  EXPECT_GT(inputs, 0);
}

void print(const ServerFuzzCounters& c) {
  std::printf(
      "server fuzz: %llu inputs, %llu iterations, %llu honest submissions, %llu entries read, "
      "%llu streams completed, %llu hostile ops, %llu recoveries by the sweep (slowest %.1f ms); "
      "daemon: %llu received, %llu completed, %llu cancelled, %llu failed, %llu rejected\n",
      static_cast<unsigned long long>(c.inputs), static_cast<unsigned long long>(c.iterations),
      static_cast<unsigned long long>(c.honest_submissions),
      static_cast<unsigned long long>(c.entries_read),
      static_cast<unsigned long long>(c.streams_completed),
      static_cast<unsigned long long>(c.hostile_ops),
      static_cast<unsigned long long>(c.sweep_recoveries), c.slowest_recovery_ns / 1e6,
      static_cast<unsigned long long>(c.daemon_received),
      static_cast<unsigned long long>(c.daemon_completed),
      static_cast<unsigned long long>(c.daemon_cancelled),
      static_cast<unsigned long long>(c.daemon_failed),
      static_cast<unsigned long long>(c.daemon_rejected));
}

TEST(ServerFuzz, RandomInputs) {
  std::mt19937_64 rng(18);
  std::vector<uint8_t> input;
  const ServerFuzzCounters before = server_fuzz_counters();
  for (int i = 0; i < 300; ++i) {
    input.resize(rng() % 400);
    for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    run_server_input(input.data(), input.size());
  }
  const ServerFuzzCounters after = server_fuzz_counters();
  print(after);
  // Random bytes decode into every kind of client: requests that run to their end, hostile
  // writes, and leftovers that only the daemon's sweep can free.
  EXPECT_GT(after.streams_completed, before.streams_completed);
  EXPECT_GT(after.hostile_ops - before.hostile_ops, 1000u);
  EXPECT_GT(after.sweep_recoveries, before.sweep_recoveries);
}

TEST(ServerFuzz, MutatedSeeds) {
  std::mt19937_64 rng(19);
  const std::vector<std::vector<uint8_t>> seeds = server_seed_inputs();
  int completed = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<uint8_t> input = seeds[rng() % seeds.size()];
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int f = 0; f < flips; ++f) {
      uint8_t& b = input[rng() % input.size()];
      b = rng() % 2 ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>(b ^ (1u << (rng() % 8)));
    }
    if (rng() % 4 == 0) {  // splice in part of another seed
      const std::vector<uint8_t>& other = seeds[rng() % seeds.size()];
      const size_t from = rng() % other.size();
      input.insert(input.begin() + static_cast<std::ptrdiff_t>(rng() % input.size()),
                   other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
    }
    completed += run_server_input(input.data(), input.size());
  }
  print(server_fuzz_counters());
  // Many mutants keep honest streams that run to the end, so the deep paths are run.
  EXPECT_GT(completed, 100);
}

}  // namespace
}  // namespace ringserve::fuzz
