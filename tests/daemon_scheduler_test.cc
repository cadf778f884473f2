// Scheduler: limits, FIFO admission, priorities and aging, and which running sequences step.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <limits>

#include "daemon/scheduler.h"

namespace ringserve::daemon {
namespace {

// The scheduler never touches the ring; the writer just needs valid memory to point at.
alignas(64) unsigned char ring_memory[sizeof(shm::TokenRingHeader) + 4 * sizeof(shm::TokenEntry)];

Sequence make(uint32_t slot, int32_t priority = 0, uint64_t received_ms = 0) {
  Sequence seq(slot, shm::TokenRingWriter(reinterpret_cast<shm::TokenRingHeader*>(ring_memory), 4));
  seq.params.priority = priority;
  seq.received_ns = received_ms * 1'000'000 + slot;  // distinct arrivals, in slot order
  return seq;
}

constexpr uint64_t ms(uint64_t n) { return n * 1'000'000; }

TEST(Scheduler, AdmitsInArrivalOrderUpToMaxConcurrent) {
  Scheduler s(2, 10);
  Sequence a = make(0), b = make(1), c = make(2);
  ASSERT_TRUE(s.enqueue(&a));
  ASSERT_TRUE(s.enqueue(&b));
  ASSERT_TRUE(s.enqueue(&c));
  EXPECT_EQ(s.admit(0), (std::vector<Sequence*>{&a, &b}));
  EXPECT_EQ(s.waiting().size(), 1u);
  s.remove(&a);
  EXPECT_EQ(s.admit(0), (std::vector<Sequence*>{&c}));
  EXPECT_EQ(s.running().size(), 2u);
}

TEST(Scheduler, QueueFullExactlyWhenMaxQueueAreWaiting) {
  Scheduler s(1, 2);
  Sequence r = make(0), w1 = make(1), w2 = make(2), extra = make(3);
  ASSERT_TRUE(s.enqueue(&r));
  s.admit(0);
  EXPECT_TRUE(s.enqueue(&w1));
  EXPECT_TRUE(s.enqueue(&w2));
  EXPECT_FALSE(s.enqueue(&extra));
  s.remove(&w1);
  EXPECT_TRUE(s.enqueue(&extra));
}

TEST(Scheduler, ZeroQueueStillAdmitsWhenARunningPlaceIsFree) {
  Scheduler s(1, 0);
  Sequence a = make(0), b = make(1);
  EXPECT_TRUE(s.enqueue(&a));
  s.admit(0);
  EXPECT_FALSE(s.enqueue(&b));
}

TEST(Scheduler, HigherPriorityFirstFifoWithinAPriority) {
  Scheduler s(1, 10);  // no aging
  Sequence running = make(0);
  Sequence low1 = make(1, -1), mid1 = make(2, 0), high = make(3, 5), mid2 = make(4, 0),
           low2 = make(5, -1);
  ASSERT_TRUE(s.enqueue(&running));
  s.admit(0);
  for (Sequence* q : {&low1, &mid1, &high, &mid2, &low2}) ASSERT_TRUE(s.enqueue(q));
  EXPECT_EQ(s.admission_order(0), (std::vector<Sequence*>{&high, &mid1, &mid2, &low1, &low2}));
  std::vector<Sequence*> order;
  for (int i = 0; i < 5; ++i) {
    s.remove(s.running().front());
    const std::vector<Sequence*> admitted = s.admit(ms(1000000));  // no aging: time is moot
    ASSERT_EQ(admitted.size(), 1u);
    order.push_back(admitted.front());
  }
  EXPECT_EQ(order, (std::vector<Sequence*>{&high, &mid1, &mid2, &low1, &low2}));
}

TEST(Scheduler, AgingLetsAWaitingLowPriorityOvertakeNewHighPriority) {
  Scheduler s(1, 10, /*aging_ms=*/100);
  Sequence running = make(0), low = make(1, 0, /*received_ms=*/0);
  ASSERT_TRUE(s.enqueue(&running));
  s.admit(0);
  ASSERT_TRUE(s.enqueue(&low));
  // A priority-3 request arriving 250 ms later: low has aged to 2 by then, still behind.
  Sequence high = make(2, 3, 250);
  ASSERT_TRUE(s.enqueue(&high));
  EXPECT_EQ(s.admission_order(ms(250)).front(), &high);
  // At 401 ms low has aged to 4 and high to 4 (3 + 151/100): a tie goes to the earlier
  // arrival.
  EXPECT_EQ(s.admission_order(ms(401)).front(), &low);
  s.remove(&running);
  EXPECT_EQ(s.admit(ms(401)), std::vector<Sequence*>{&low});
}

TEST(Scheduler, NeverMoreThanMaxConcurrentRunning) {
  Scheduler s(3, 100, 10);
  std::vector<Sequence> seqs;
  seqs.reserve(50);
  for (uint32_t i = 0; i < 50; ++i) seqs.push_back(make(i, static_cast<int32_t>(i % 7) - 3));
  for (Sequence& q : seqs) ASSERT_TRUE(s.enqueue(&q));
  for (uint64_t t = 0; t < 60; ++t) {
    s.admit(ms(t * 7));
    EXPECT_LE(s.running().size(), 3u);
    if (!s.running().empty()) s.remove(s.running().front());
  }
  EXPECT_TRUE(s.waiting().empty());
}

// A client keeping the line full of requests at the top priority, one new one after every
// admission, while one lower-priority request waits. Requests take `step` each to finish
// (max_concurrent 1), so the line drains one per step. Returns how long the low request
// waited, or UINT64_MAX when it was not admitted within `give_up` steps.
uint64_t wait_behind_flood(Scheduler& s, uint32_t max_queue, int32_t flood_priority,
                           int32_t low_priority, uint64_t step, uint64_t give_up = 100000) {
  std::deque<Sequence> flood;  // stable addresses
  uint32_t next_slot = 0;
  auto arrive = [&](int32_t priority, uint64_t now) -> Sequence* {
    Sequence& seq = flood.emplace_back(make(next_slot++ % 1000, priority));
    seq.received_ns = now;
    return &seq;
  };
  uint64_t now = 0;
  // One running and a full line, all flood.
  EXPECT_TRUE(s.enqueue(arrive(flood_priority, now)));
  s.admit(now);
  for (uint32_t i = 0; i < max_queue; ++i) EXPECT_TRUE(s.enqueue(arrive(flood_priority, now)));
  // The low request takes the place the first admission frees; the flood every later one.
  Sequence* low = nullptr;
  uint64_t low_arrived = 0;
  for (uint64_t k = 0; k < give_up; ++k) {
    now += step;
    s.remove(s.running().front());
    const std::vector<Sequence*> admitted = s.admit(now);
    EXPECT_EQ(admitted.size(), 1u);
    if (low != nullptr && admitted.front() == low) return now - low_arrived;
    if (low == nullptr) {
      low = arrive(low_priority, now);
      low_arrived = now;
      EXPECT_TRUE(s.enqueue(low));
    } else {
      EXPECT_TRUE(s.enqueue(arrive(flood_priority, now)));
    }
    EXPECT_EQ(s.waiting().size(), max_queue);
  }
  return std::numeric_limits<uint64_t>::max();
}

TEST(Scheduler, FloodAtTheTopPriorityCannotStarveALowerOne) {
  // The bound (scheduler.h): from (max_priority - p) x aging_ms after its arrival on, no later
  // arrival is admitted before a request of priority p, so it waits at most that plus the
  // draining of the line it is in (max_queue admissions).
  const uint32_t max_queue = 8, aging_ms = 100, max_priority = 10;
  const uint64_t step = ms(10);
  for (const int32_t p : {10, 3, 0, -10}) {
    Scheduler s(1, max_queue, aging_ms, max_priority);
    const uint64_t waited = wait_behind_flood(s, max_queue, 10, p, step);
    const uint64_t bound = uint64_t(max_priority - p) * ms(aging_ms) + max_queue * step;
    EXPECT_LE(waited, bound) << "priority " << p;
    // And the bound is close: flood arriving up to one level before it does pass.
    if (p < 10) {
      EXPECT_GE(waited, uint64_t(max_priority - p - 1) * ms(aging_ms)) << "priority " << p;
    }
    // Aging is what admits it: without it the flood overtakes it for as long as it lasts.
    if (p < 10) {
      Scheduler strict(1, max_queue, /*aging_ms=*/0, max_priority);
      EXPECT_EQ(wait_behind_flood(strict, max_queue, 10, p, step, 1000),
                std::numeric_limits<uint64_t>::max());
    }
  }
}

TEST(Scheduler, PrioritiesBeyondMaxPriorityCountAsMaxPriority) {
  // Intake rejects such requests; the scheduler holds the bound by itself all the same (the
  // priority 2147483647 flood that kept a priority-0 request waiting for good).
  const uint32_t max_queue = 8, aging_ms = 100, max_priority = 10;
  const uint64_t step = ms(10);
  Scheduler s(1, max_queue, aging_ms, max_priority);
  const uint64_t waited =
      wait_behind_flood(s, max_queue, std::numeric_limits<int32_t>::max(), 0, step);
  EXPECT_LE(waited, uint64_t{max_priority} * ms(aging_ms) + max_queue * step);

  Scheduler s2(1, max_queue, aging_ms, max_priority);
  const uint64_t waited_low =
      wait_behind_flood(s2, max_queue, 10, std::numeric_limits<int32_t>::min(), step);
  EXPECT_LE(waited_low, uint64_t{2} * max_priority * ms(aging_ms) + uint64_t{max_queue} * step);
}

TEST(Scheduler, ExtremeWaitsAndPrioritiesDoNotOverflow) {
  // A request waiting since boot against one arriving now at the top priority, with the
  // finest aging: the long wait wins, and both orders agree.
  Scheduler s(1, 10, /*aging_ms=*/1, /*max_priority=*/1000000);
  Sequence running = make(0), old = make(1, std::numeric_limits<int32_t>::min()),
           fresh = make(2, std::numeric_limits<int32_t>::max());
  old.received_ns = 0;
  const uint64_t now = std::numeric_limits<uint64_t>::max() - 1;
  fresh.received_ns = now;
  ASSERT_TRUE(s.enqueue(&running));
  s.admit(0);
  ASSERT_TRUE(s.enqueue(&fresh));
  ASSERT_TRUE(s.enqueue(&old));
  EXPECT_EQ(s.admission_order(now), (std::vector<Sequence*>{&old, &fresh}));
  s.remove(&running);
  EXPECT_EQ(s.admit(now), std::vector<Sequence*>{&old});
}

TEST(Scheduler, RequestsArrivingTogetherCountOnlyThoseThatMustWait) {
  // Four arrive before any admission: one will run at once, so the line holds three that
  // wait, and with max_queue 2 exactly the fourth is refused.
  Scheduler s(1, 2);
  Sequence a = make(0), b = make(1), c = make(2), d = make(3);
  EXPECT_TRUE(s.enqueue(&a));
  EXPECT_TRUE(s.enqueue(&b));
  EXPECT_TRUE(s.enqueue(&c));
  EXPECT_FALSE(s.enqueue(&d));
  EXPECT_EQ(s.admit(0), std::vector<Sequence*>{&a});
  EXPECT_EQ(s.waiting().size(), 2u);
}

TEST(Scheduler, BatchModeStepsEveryRunningSequenceWhoseClientKeepsUp) {
  Scheduler s(3, 0, 0, 10, config::SchedulerMode::kBatch);
  Sequence a = make(0), b = make(1), c = make(2);
  for (Sequence* seq : {&a, &b, &c}) ASSERT_TRUE(s.enqueue(seq));
  s.admit(0);
  std::vector<Sequence*> batch;
  s.select_step(&batch);
  EXPECT_EQ(batch, (std::vector<Sequence*>{&a, &b, &c}));
  b.pending.push_back(shm::TokenEntry{});  // b's client is behind: b sits out
  s.select_step(&batch);
  EXPECT_EQ(batch, (std::vector<Sequence*>{&a, &c}));
  EXPECT_TRUE(s.has_steppable());
  a.pending.push_back(shm::TokenEntry{});
  c.pending.push_back(shm::TokenEntry{});
  s.select_step(&batch);
  EXPECT_TRUE(batch.empty());
  EXPECT_FALSE(s.has_steppable());
}

TEST(Scheduler, InterleaveModeStepsOneSequenceAtATimeRoundRobin) {
  Scheduler s(3, 0, 0, 10, config::SchedulerMode::kInterleave);
  Sequence a = make(0), b = make(1), c = make(2);
  for (Sequence* seq : {&a, &b, &c}) ASSERT_TRUE(s.enqueue(seq));
  s.admit(0);
  std::vector<Sequence*> order;
  std::vector<Sequence*> batch;
  for (int i = 0; i < 4; ++i) {
    s.select_step(&batch);
    ASSERT_EQ(batch.size(), 1u);
    order.push_back(batch[0]);
  }
  EXPECT_EQ(order, (std::vector<Sequence*>{&a, &b, &c, &a}));
  // A sequence whose client is behind loses its turn to the next one.
  b.pending.push_back(shm::TokenEntry{});
  s.select_step(&batch);
  EXPECT_EQ(batch, std::vector<Sequence*>{&c});
  s.select_step(&batch);
  EXPECT_EQ(batch, std::vector<Sequence*>{&a});
}

}  // namespace
}  // namespace ringserve::daemon
