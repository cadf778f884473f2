// ClientWatch (pidfd deaths of client processes) and WakeNotifier (futex wakes off the loop
// thread), each against real processes / threads.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "daemon/client_watch.h"
#include "daemon/wake_notifier.h"
#include "shm/clock.h"
#include "shm/futex.h"
#include "shm/process.h"

namespace ringserve::daemon {
namespace {

// A child process that sleeps until killed.
class Child {
 public:
  Child() : pid_(::fork()) {
    if (pid_ == 0) {
      for (;;) ::pause();
    }
  }
  ~Child() { kill(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  ClientId id() const { return {pid_, shm::process_start_time(pid_)}; }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// check() until it reports a death or 2 s pass.
bool check_until_death(ClientWatch* watch) {
  const uint64_t deadline = shm::monotonic_ns() + 2'000'000'000;
  while (shm::monotonic_ns() < deadline) {
    if (watch->check(shm::monotonic_ns())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(ClientWatch, ReportsAKilledClientOnceAndKeepsOthersAlive) {
  Child victim;
  Child other;
  ASSERT_NE(victim.id().start_time, 0u);
  ClientWatch watch;
  watch.watch(victim.id());
  watch.watch(other.id());
  EXPECT_FALSE(watch.check(shm::monotonic_ns()));
  EXPECT_EQ(watch.liveness(victim.id()), ClientWatch::Liveness::kAlive);

  const ClientId victim_id = victim.id();
  victim.kill();
  EXPECT_TRUE(check_until_death(&watch));
  EXPECT_EQ(watch.liveness(victim_id), ClientWatch::Liveness::kExited);
  EXPECT_EQ(watch.liveness(other.id()), ClientWatch::Liveness::kAlive);
  // Reported once: the next check has nothing new.
  EXPECT_FALSE(watch.check(shm::monotonic_ns()));
}

TEST(ClientWatch, APidWithAnotherStartTimeIsAReusedPidAndCountsAsExited) {
  Child child;
  ClientId stale = child.id();
  stale.start_time += 1;  // the owner that wrote the slot started at another time
  ClientWatch watch;
  watch.watch(stale);
  EXPECT_TRUE(watch.check(shm::monotonic_ns()));
  EXPECT_EQ(watch.liveness(stale), ClientWatch::Liveness::kExited);
  EXPECT_EQ(watch.liveness(child.id()), ClientWatch::Liveness::kUnknown);
}

TEST(ClientWatch, APidThatNoLongerExistsCountsAsExited) {
  ClientId gone;
  {
    Child child;
    gone = child.id();
  }
  ClientWatch watch;
  watch.watch(gone);
  EXPECT_TRUE(watch.check(shm::monotonic_ns()));
  EXPECT_EQ(watch.liveness(gone), ClientWatch::Liveness::kExited);
}

TEST(ClientWatch, CountsRequestsAndForgetsAClientWithItsLastRequest) {
  Child child;
  ClientWatch watch;
  watch.watch(child.id());
  watch.watch(child.id());
  EXPECT_EQ(watch.watched(), 1u);
  watch.unwatch(child.id());
  EXPECT_EQ(watch.liveness(child.id()), ClientWatch::Liveness::kAlive);
  watch.unwatch(child.id());
  EXPECT_EQ(watch.watched(), 0u);
  EXPECT_EQ(watch.liveness(child.id()), ClientWatch::Liveness::kUnknown);
  // An unwatched client's death is nobody's business.
  child.kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(watch.check(shm::monotonic_ns()));
}

TEST(ClientWatch, AClientBackWithANewRequestIsWatchedAgainThroughItsKeptPidfd) {
  Child child;
  const ClientId id = child.id();
  ClientWatch watch;
  watch.watch(id);
  watch.unwatch(id);
  EXPECT_EQ(watch.watched(), 0u);
  watch.watch(id);
  EXPECT_EQ(watch.watched(), 1u);
  EXPECT_EQ(watch.liveness(id), ClientWatch::Liveness::kAlive);
  child.kill();
  EXPECT_TRUE(check_until_death(&watch)) << "the death of a client back from idle went unnoticed";
  EXPECT_EQ(watch.liveness(id), ClientWatch::Liveness::kExited);
  watch.unwatch(id);
  EXPECT_EQ(watch.watched(), 0u);
  EXPECT_EQ(watch.liveness(id), ClientWatch::Liveness::kUnknown);
}

TEST(ClientWatch, FindsManyDeathsInOneCheck) {
  std::vector<std::unique_ptr<Child>> children;
  ClientWatch watch;
  std::vector<ClientId> ids;
  for (int i = 0; i < 80; ++i) {  // more than one epoll_wait batch (64)
    children.push_back(std::make_unique<Child>());
    ids.push_back(children.back()->id());
    watch.watch(ids.back());
  }
  for (auto& c : children) c->kill();
  EXPECT_TRUE(check_until_death(&watch));
  // Every death is found, possibly over a few checks while the kernel finishes the exits.
  const uint64_t deadline = shm::monotonic_ns() + 2'000'000'000;
  size_t exited = 0;
  while (shm::monotonic_ns() < deadline) {
    watch.check(shm::monotonic_ns());
    exited = 0;
    for (const ClientId& id : ids) exited += watch.liveness(id) == ClientWatch::Liveness::kExited;
    if (exited == ids.size()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(exited, ids.size());
}

// Threads sleeping on their own futex words, woken through the notifier; `count` below and
// above its inline limit exercise both paths.
void expect_notifier_wakes_all(size_t count, bool by_thread) {
  WakeNotifier notifier(8);
  std::vector<uint32_t> words(count, 0);
  std::atomic<size_t> woken{0};
  std::vector<std::thread> sleepers;
  for (size_t i = 0; i < count; ++i) {
    sleepers.emplace_back([&, i] {
      const uint64_t deadline = shm::monotonic_ns() + 5'000'000'000;
      // futex_wait may return spuriously: sleep until the word changes or the deadline.
      while (__atomic_load_n(&words[i], __ATOMIC_ACQUIRE) == 0 && shm::monotonic_ns() < deadline) {
        shm::futex_wait(&words[i], 0, deadline);
      }
      if (__atomic_load_n(&words[i], __ATOMIC_ACQUIRE) != 0) woken.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let them fall asleep
  for (uint32_t& word : words) {
    __atomic_store_n(&word, 1, __ATOMIC_RELEASE);
    notifier.add(&word);
  }
  const uint64_t start = shm::monotonic_ns();
  notifier.flush();
  for (std::thread& t : sleepers) t.join();
  EXPECT_EQ(woken.load(), count);
  // Woken by the notifier, not by the 5 s deadline.
  EXPECT_LT(shm::monotonic_ns() - start, 4'000'000'000u);
  // The notifier thread accounts its CPU time after its last wake: wait for the accounting.
  const uint64_t deadline = shm::monotonic_ns() + 1'000'000'000;
  while (by_thread && notifier.thread_cpu_ns() == 0 && shm::monotonic_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(notifier.thread_cpu_ns() > 0, by_thread);
}

TEST(WakeNotifier, WakesAFewSleepersInline) { expect_notifier_wakes_all(3, false); }

TEST(WakeNotifier, HandsManyWakesToItsThread) { expect_notifier_wakes_all(40, true); }

}  // namespace
}  // namespace ringserve::daemon
