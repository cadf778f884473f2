// Scheduler (transport stage): limits and FIFO admission.
#include <gtest/gtest.h>

#include "daemon/scheduler.h"

namespace ringserve::daemon {
namespace {

// The scheduler never touches the ring; the writer just needs valid memory to point at.
alignas(64) unsigned char ring_memory[sizeof(shm::TokenRingHeader) + 4 * sizeof(shm::TokenEntry)];

Sequence make(uint32_t slot) {
  return Sequence(slot,
                  shm::TokenRingWriter(reinterpret_cast<shm::TokenRingHeader*>(ring_memory), 4));
}

TEST(Scheduler, AdmitsInArrivalOrderUpToMaxConcurrent) {
  Scheduler s(2, 10);
  Sequence a = make(0), b = make(1), c = make(2);
  ASSERT_TRUE(s.enqueue(&a));
  ASSERT_TRUE(s.enqueue(&b));
  ASSERT_TRUE(s.enqueue(&c));
  EXPECT_EQ(s.admit(), (std::vector<Sequence*>{&a, &b}));
  EXPECT_EQ(s.waiting().size(), 1u);
  s.remove(&a);
  EXPECT_EQ(s.admit(), (std::vector<Sequence*>{&c}));
  EXPECT_EQ(s.running().size(), 2u);
}

TEST(Scheduler, QueueFullExactlyWhenMaxQueueAreWaiting) {
  Scheduler s(1, 2);
  Sequence r = make(0), w1 = make(1), w2 = make(2), extra = make(3);
  ASSERT_TRUE(s.enqueue(&r));
  s.admit();
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
  s.admit();
  EXPECT_FALSE(s.enqueue(&b));
}

}  // namespace
}  // namespace ringserve::daemon
