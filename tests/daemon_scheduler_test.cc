// Scheduler: limits, FIFO admission, priorities and aging.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ringserve::daemon
