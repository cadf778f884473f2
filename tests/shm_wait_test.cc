// Futex waiting across processes: wake-ups, timeouts on CLOCK_MONOTONIC, no lost wake-up.
#include <gtest/gtest.h>

#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/wait.h"
#include "tests/test_support.h"

namespace ringserve::shm {
namespace {

struct Words {
  uint32_t word;
  uint32_t sleeping;
};

TEST(Futex, WaitTimesOutAtTheDeadline) {
  testing::SharedBuffer buffer(4096);
  auto* w = static_cast<Words*>(buffer.data());
  const uint64_t start = monotonic_ns();
  EXPECT_EQ(futex_wait(&w->word, 0, start + 30'000'000), FutexWaitResult::kTimedOut);
  const uint64_t waited = monotonic_ns() - start;
  EXPECT_GE(waited, 30'000'000u);
  EXPECT_LT(waited, 2'000'000'000u);
}

TEST(Futex, WaitReturnsAtOnceWhenTheValueDiffers) {
  testing::SharedBuffer buffer(4096);
  auto* w = static_cast<Words*>(buffer.data());
  store(w->word, 5u);
  EXPECT_EQ(futex_wait(&w->word, 4, kNoDeadline), FutexWaitResult::kValueChanged);
}

TEST(Futex, ProcessSleepingInFutexModeIsWokenByAnotherProcess) {
  testing::SharedBuffer buffer(4096);
  auto* w = static_cast<Words*>(buffer.data());
  const pid_t child = testing::fork_child([&] {
    // Wait until the parent announces it sleeps, then publish and wake.
    while (load(w->sleeping) == 0) cpu_relax();
    store(w->word, 1u, std::memory_order_seq_cst);
    if (load(w->sleeping, std::memory_order_seq_cst) != 0) futex_wake(&w->word, 1);
    return 0;
  });
  const auto ready = [&] { return load(w->word) == 1; };
  WaitPolicy policy{WaitMode::kFutex, 0};
  EXPECT_EQ(wait_until(ready, &w->word, &w->sleeping, policy, monotonic_ns() + 5'000'000'000ULL),
            WaitOutcome::kReady);
  EXPECT_EQ(testing::wait_child(child), 0);
}

TEST(Futex, HybridWaitTimesOutWhenNothingComes) {
  testing::SharedBuffer buffer(4096);
  auto* w = static_cast<Words*>(buffer.data());
  const auto never = [] { return false; };
  WaitPolicy policy{WaitMode::kHybrid, 10'000};
  const uint64_t start = monotonic_ns();
  EXPECT_EQ(wait_until(never, &w->word, &w->sleeping, policy, start + 20'000'000),
            WaitOutcome::kTimedOut);
  EXPECT_GE(monotonic_ns() - start, 20'000'000u);
  EXPECT_EQ(load(w->sleeping), 0u);  // the flag is cleared on the way out
}

TEST(Futex, SpinWaitHonoursItsDeadline) {
  testing::SharedBuffer buffer(4096);
  auto* w = static_cast<Words*>(buffer.data());
  const auto never = [] { return false; };
  WaitPolicy policy{WaitMode::kSpin, 0};
  const uint64_t start = monotonic_ns();
  EXPECT_EQ(wait_until(never, &w->word, &w->sleeping, policy, start + 5'000'000),
            WaitOutcome::kTimedOut);
  EXPECT_EQ(load(w->sleeping), 0u);  // spinning never announces sleep
}

}  // namespace
}  // namespace ringserve::shm
