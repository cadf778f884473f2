// TokenRing: functional behaviour, corrupt counters, and a two-process stream checked entry by
// entry, with the reader blocking in each wait mode.
#include <gtest/gtest.h>

#include <cstring>

#include <chrono>
#include <thread>

#include "shm/clock.h"
#include "shm/membarrier.h"
#include "shm/token_ring.h"
#include "shm/wait.h"
#include "tests/test_support.h"

namespace ringserve::shm {
namespace {

constexpr uint32_t kCapacity = 8;

struct Ring {
  testing::SharedBuffer buffer{sizeof(TokenRingHeader) + kCapacity * sizeof(TokenEntry)};
  TokenRingHeader* header = static_cast<TokenRingHeader*>(buffer.data());
};

TokenEntry entry(int32_t id) {
  TokenEntry e{};
  e.token_id = id;
  e.text_length = 1;
  e.text[0] = static_cast<char>('a' + id % 26);
  return e;
}

TEST(TokenRing, WriteIsInvisibleUntilPublish) {
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  TokenRingWriter writer(ring.header, kCapacity);
  writer.begin();
  EXPECT_EQ(writer.free_entries(), kCapacity);
  writer.write(entry(1));
  EXPECT_EQ(reader.available(), 0u);
  EXPECT_FALSE(writer.publish());  // reader not sleeping: no wake needed
  ASSERT_EQ(reader.available(), 1u);
  TokenEntry out{};
  reader.pop(&out);
  EXPECT_EQ(out.token_id, 1);
  EXPECT_EQ(out.text[0], 'b');
}

TEST(TokenRing, FullWhenReaderLagsAndFreedByReading) {
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  TokenRingWriter writer(ring.header, kCapacity);
  writer.begin();
  for (int i = 0; i < static_cast<int>(kCapacity); ++i) writer.write(entry(i));
  writer.publish();
  EXPECT_EQ(writer.free_entries(), 0);
  TokenEntry out{};
  reader.pop(&out);
  reader.pop(&out);
  EXPECT_EQ(writer.free_entries(), 2);
}

TEST(TokenRing, PublishAsksForWakeOnlyWhenReaderSleeps) {
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  TokenRingWriter writer(ring.header, kCapacity);
  writer.begin();
  store(*reader.sleeping_flag(), 1u);
  writer.write(entry(0));
  EXPECT_TRUE(writer.publish());
}

// The interleaving that lost wakes when publish() cleared the flag: the writer stores head for
// entry 0; the reader, on another CPU, pops entry 0, raises its flag, sees no more entries and
// heads into futex wait; only then does the writer read the flag. That wake is wasted (the
// reader waits on the new head), so the flag must still be up for the next publish.
TEST(TokenRing, EveryPublishWhileTheReaderIsFlaggedAsksForAWake) {
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  TokenRingWriter writer(ring.header, kCapacity);
  writer.begin();
  store(*reader.sleeping_flag(), 1u);
  writer.write(entry(0));
  EXPECT_TRUE(writer.publish());
  writer.write(entry(1));
  EXPECT_TRUE(writer.publish()) << "the first publish cleared the reader's flag";
  store(*reader.sleeping_flag(), 0u);  // the reader woke and lowered it
  writer.write(entry(2));
  EXPECT_FALSE(writer.publish());
}

TEST(TokenRing, ImpossibleTailIsReportedNotTrusted) {
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  TokenRingWriter writer(ring.header, kCapacity);
  writer.begin();
  store(ring.header->tail, 12345u);  // a scribbling client
  EXPECT_EQ(writer.free_entries(), -1);
}

class TokenRingAcrossProcesses : public ::testing::TestWithParam<WaitMode> {};

TEST_P(TokenRingAcrossProcesses, EveryEntryArrivesOnceInOrder) {
  constexpr uint32_t kEntries = 50000;
  Ring ring;
  TokenRingReader reader(ring.header, kCapacity);
  reader.reset();
  const pid_t child = testing::fork_child([&] {
    TokenRingWriter writer(ring.header, kCapacity);
    writer.begin();
    for (uint32_t i = 0; i < kEntries;) {
      if (writer.free_entries() == 0) {
        cpu_relax();
        continue;
      }
      writer.write(entry(static_cast<int32_t>(i++)));
      if (writer.publish()) futex_wake(writer.futex_word(), 1);
    }
    return 0;
  });
  WaitPolicy policy{GetParam(), 5'000};
  bool in_order = true;
  // The writer publishes without pause, so a wait that runs to its deadline is a lost wake (the
  // entry is there by then, so the wait still ends ready).
  constexpr uint64_t kWaitNs = 2'000'000'000ULL;
  uint32_t waits_to_deadline = 0;
  for (uint32_t i = 0; i < kEntries; ++i) {
    const auto ready = [&] { return reader.available() > 0; };
    const uint64_t deadline = monotonic_ns() + kWaitNs;
    ASSERT_EQ(wait_until(ready, reader.futex_word(), reader.sleeping_flag(), policy, deadline),
              WaitOutcome::kReady)
        << "entry " << i;
    if (monotonic_ns() >= deadline) ++waits_to_deadline;
    TokenEntry out{};
    reader.pop(&out);
    if (out.token_id != static_cast<int32_t>(i) || out.text[0] != 'a' + static_cast<int>(i % 26)) {
      in_order = false;
    }
  }
  EXPECT_TRUE(in_order);
  EXPECT_EQ(waits_to_deadline, 0u) << "lost wakes";
  EXPECT_EQ(testing::wait_child(child), 0);
}

INSTANTIATE_TEST_SUITE_P(WaitModes, TokenRingAcrossProcesses,
                         ::testing::Values(WaitMode::kSpin, WaitMode::kFutex, WaitMode::kHybrid),
                         [](const ::testing::TestParamInfo<WaitMode>& info) {
                           return info.param == WaitMode::kSpin    ? std::string("spin")
                                  : info.param == WaitMode::kFutex ? std::string("futex")
                                                                   : std::string("hybrid");
                         });

// The room doorbell's Dekker pair (shm/membarrier.h): the client stores its tail and, after a
// compiler barrier only, loads the daemon's flag; the daemon stores the flag and, after a
// membarrier, loads the tail. In every round at least one of them must see the other's store,
// or a client that made room would leave the daemon asleep. Two processes on different cores,
// rounds started together; without the heavy fence the store buffers let both miss within a
// few thousand rounds.
TEST(TokenRing, RoomRequestAndRoomMadeAlwaysMeet) {
  if (!heavy_fence()) GTEST_SKIP() << "no membarrier on this kernel";
  constexpr uint32_t kRounds = 20000;
  struct Shared {
    alignas(64) uint32_t go;
    alignas(64) uint32_t client_done;
    alignas(64) uint32_t tail;
    alignas(64) uint32_t flag;
    alignas(64) uint8_t client_saw[kRounds];
  };
  testing::SharedBuffer buffer{sizeof(Shared)};
  auto* sh = static_cast<Shared*>(buffer.data());
  const pid_t client = testing::fork_child([&] {
    if (!register_for_heavy_fence()) return 2;
    for (uint32_t r = 1; r <= kRounds; ++r) {
      while (load(sh->go, std::memory_order_acquire) != r) cpu_relax();
      store(sh->tail, r, std::memory_order_release);
      light_fence();
      sh->client_saw[r - 1] = load(sh->flag, std::memory_order_relaxed) == r;
      store(sh->client_done, r, std::memory_order_release);
    }
    return 0;
  });
  // The child registers before its first round; give it the moment (a round that starts
  // earlier would test a process the heavy fence does not cover).
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  uint32_t both_missed = 0;
  for (uint32_t r = 1; r <= kRounds; ++r) {
    store(sh->go, r, std::memory_order_release);
    store(sh->flag, r, std::memory_order_seq_cst);
    heavy_fence();
    const bool daemon_saw = load(sh->tail, std::memory_order_relaxed) == r;
    while (load(sh->client_done, std::memory_order_acquire) != r) cpu_relax();
    if (!daemon_saw && !sh->client_saw[r - 1]) ++both_missed;
  }
  EXPECT_EQ(testing::wait_child(client), 0);
  EXPECT_EQ(both_missed, 0u) << "rounds in which neither side saw the other";
}

}  // namespace
}  // namespace ringserve::shm
