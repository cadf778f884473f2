// RequestRing: functional behaviour, the hole left by a producer killed between claim and
// publish, and a multi-process stress test (every value exactly once, per-producer order).
#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "shm/clock.h"
#include "shm/request_ring.h"
#include "tests/test_support.h"

namespace ringserve::shm {
namespace {

constexpr uint32_t kCapacity = 16;
constexpr uint64_t kSkipNs = 20'000'000;  // 20 ms

struct Ring {
  explicit Ring(uint64_t skip_ns = kSkipNs) : consumer(header, kCapacity, skip_ns) {
    consumer.initialize();
  }
  testing::SharedBuffer buffer{sizeof(RequestRingHeader) + size_t{kCapacity} * 8};
  RequestRingHeader* header = static_cast<RequestRingHeader*>(buffer.data());
  RequestRingConsumer consumer;
  RequestRingProducer producer() { return RequestRingProducer(header, kCapacity); }
};

TEST(RequestRing, PushThenPollInOrder) {
  Ring ring;
  auto p = ring.producer();
  for (uint32_t v = 0; v < 5; ++v) ASSERT_EQ(p.try_push(v), RequestRingProducer::PushResult::kOk);
  uint32_t value = 0;
  for (uint32_t v = 0; v < 5; ++v) {
    ASSERT_EQ(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kValue);
    EXPECT_EQ(value, v);
  }
  EXPECT_EQ(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kEmpty);
}

TEST(RequestRing, FullAtCapacityAndWrapsAround) {
  Ring ring;
  auto p = ring.producer();
  uint32_t value = 0;
  for (int lap = 0; lap < 5; ++lap) {
    for (uint32_t v = 0; v < kCapacity; ++v) {
      ASSERT_EQ(p.try_push(v + 100 * lap), RequestRingProducer::PushResult::kOk);
    }
    EXPECT_EQ(p.try_push(999), RequestRingProducer::PushResult::kFull);
    for (uint32_t v = 0; v < kCapacity; ++v) {
      ASSERT_EQ(ring.consumer.poll(monotonic_ns(), &value),
                RequestRingConsumer::PollResult::kValue);
      EXPECT_EQ(value, v + 100 * lap);
    }
  }
  EXPECT_EQ(ring.consumer.head(), 5u * kCapacity);
}

// Garbage in cell[head] (a scribbling client) cannot be a publish in flight: it is skipped at
// the first poll, and a waiter is told to poll rather than left to spin on it (the daemon spun
// at 100% CPU for as long as scribbled cells sat in its ring).
TEST(RequestRing, AGarbageCellIsSkippedAtOnceAndNeverMakesAWaiterSpin) {
  Ring ring;
  auto* cells = reinterpret_cast<uint64_t*>(ring.header + 1);
  cells[0] = make_cell(12345, 7);  // wrong tag, a plausible value
  cells[1] = make_cell(1, kEmptyValue);
  EXPECT_TRUE(ring.consumer.ready_to_poll());
  uint32_t value = 0;
  EXPECT_EQ(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kSkipped);
  EXPECT_EQ(ring.consumer.head(), 1u);
  // Nothing claimed or published behind it: nothing to poll for.
  EXPECT_FALSE(ring.consumer.ready_to_poll());
  auto p = ring.producer();
  ASSERT_EQ(p.try_push(3), RequestRingProducer::PushResult::kOk);
  EXPECT_TRUE(ring.consumer.ready_to_poll());
  EXPECT_EQ(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kValue);
  EXPECT_EQ(value, 3u);
}

TEST(RequestRing, ClaimedButUnpublishedIsPendingThenSkipped) {
  Ring ring;
  auto p = ring.producer();
  uint64_t hole = 0;
  ASSERT_TRUE(p.try_claim(&hole));  // never published
  ASSERT_EQ(p.try_push(7), RequestRingProducer::PushResult::kOk);
  uint32_t value = 0;
  const uint64_t t0 = monotonic_ns();
  EXPECT_EQ(ring.consumer.poll(t0, &value), RequestRingConsumer::PollResult::kPending);
  EXPECT_EQ(ring.consumer.poll(t0 + kSkipNs / 2, &value),
            RequestRingConsumer::PollResult::kPending);
  EXPECT_EQ(ring.consumer.poll(t0 + kSkipNs, &value), RequestRingConsumer::PollResult::kSkipped);
  ASSERT_EQ(ring.consumer.poll(t0 + kSkipNs, &value), RequestRingConsumer::PollResult::kValue);
  EXPECT_EQ(value, 7u);
  // The slow producer wakes up: its publish must fail, not resurrect the skipped position.
  EXPECT_FALSE(p.publish(hole, 3));
  EXPECT_EQ(ring.consumer.poll(t0 + kSkipNs, &value), RequestRingConsumer::PollResult::kEmpty);
}

TEST(RequestRing, ProducerKilledBetweenClaimAndPublishDoesNotBlockOthers) {
  Ring ring;
  // The child claims a position and is SIGKILLed before publishing.
  const pid_t child = testing::fork_child([&] {
    auto p = ring.producer();
    uint64_t position = 0;
    if (!p.try_claim(&position)) return 1;
    ::raise(SIGKILL);
    return 2;
  });
  ASSERT_EQ(testing::wait_child(child), 128 + SIGKILL);
  // Other producers keep submitting behind the hole.
  auto p = ring.producer();
  for (uint32_t v = 0; v < 4; ++v) ASSERT_EQ(p.try_push(v), RequestRingProducer::PushResult::kOk);
  std::vector<uint32_t> got;
  const uint64_t deadline = monotonic_ns() + 2'000'000'000ULL;
  int skipped = 0;
  while (got.size() < 4 && monotonic_ns() < deadline) {
    uint32_t value = 0;
    const auto r = ring.consumer.poll(monotonic_ns(), &value);
    if (r == RequestRingConsumer::PollResult::kValue) got.push_back(value);
    if (r == RequestRingConsumer::PollResult::kSkipped) ++skipped;
  }
  EXPECT_EQ(skipped, 1);
  EXPECT_EQ(got, (std::vector<uint32_t>{0, 1, 2, 3}));
}

TEST(RequestRing, ScribbledTailIsRepaired) {
  Ring ring;
  auto p = ring.producer();
  ASSERT_EQ(p.try_push(1), RequestRingProducer::PushResult::kOk);
  uint32_t value = 0;
  ASSERT_EQ(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kValue);
  store(ring.header->tail, uint64_t{1'000'000});  // a hostile client
  EXPECT_NE(ring.consumer.poll(monotonic_ns(), &value), RequestRingConsumer::PollResult::kValue);
  EXPECT_LE(load(ring.header->tail) - ring.consumer.head(), kCapacity);
  // Drain the skips the scribble caused, then the ring works again.
  const uint64_t later = monotonic_ns() + 10 * kSkipNs;
  for (uint32_t i = 0; i < 2 * kCapacity; ++i) ring.consumer.poll(later + i * kSkipNs, &value);
  ASSERT_EQ(p.try_push(5), RequestRingProducer::PushResult::kOk);
  RequestRingConsumer::PollResult r;
  do {
    r = ring.consumer.poll(later + 100 * kSkipNs, &value);
  } while (r == RequestRingConsumer::PollResult::kSkipped);
  ASSERT_EQ(r, RequestRingConsumer::PollResult::kValue);
  EXPECT_EQ(value, 5u);
}

TEST(RequestRing, MultiProcessStressEveryValueOnceInProducerOrder) {
  constexpr int kProducers = 4;
  constexpr uint32_t kPerProducer = 20000;
  // A producer preempted between claim and publish is normal here (5 processes, 2 cores);
  // with a long skip deadline nothing is skipped and the order check is exact.
  Ring ring(10'000'000'000ULL);
  std::vector<pid_t> children;
  for (int id = 0; id < kProducers; ++id) {
    children.push_back(testing::fork_child([&, id] {
      auto p = ring.producer();
      for (uint32_t seq = 0; seq < kPerProducer;) {
        const uint32_t value = static_cast<uint32_t>(id) << 24 | seq;
        const auto r = p.try_push(value);
        if (r == RequestRingProducer::PushResult::kOk) {
          ++seq;
        } else {
          cpu_relax();
        }
      }
      return 0;
    }));
  }
  std::vector<uint32_t> next(kProducers, 0);
  uint64_t received = 0;
  const uint64_t deadline = monotonic_ns() + 60'000'000'000ULL;
  bool in_order = true;
  while (received < uint64_t{kProducers} * kPerProducer && monotonic_ns() < deadline) {
    uint32_t value = 0;
    if (ring.consumer.poll(monotonic_ns(), &value) != RequestRingConsumer::PollResult::kValue) {
      continue;
    }
    const uint32_t id = value >> 24;
    const uint32_t seq = value & 0xFFFFFF;
    ASSERT_LT(id, static_cast<uint32_t>(kProducers));
    if (seq != next[id]) in_order = false;
    next[id] = seq + 1;
    ++received;
  }
  for (pid_t c : children) EXPECT_EQ(testing::wait_child(c), 0);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(received, uint64_t{kProducers} * kPerProducer);
  EXPECT_EQ(ring.consumer.skipped(), 0u);
}

}  // namespace
}  // namespace ringserve::shm
