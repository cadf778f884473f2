// Attacks through the segment and unlucky clients, against a real ringserved (echo backend,
// whose KV rows are counted like a model's) with real client processes: the hostile ones
// (ringserve_hostile_client) map the segment and write what a client with access can write.
// After every attack the daemon must be alive, give back every KV row and slot, serve a full
// batch of max_concurrent requests, and sleep when nothing runs (docs/SECURITY.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ringserve/client.h"
#include "shm/atomics.h"
#include "shm/segment.h"
#include "tests/daemon_checks.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;

// A hostile client, started; its stdout is read up to its "ready" line.
struct Hostile {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
  bool ready = false;
};

Hostile start_hostile(const std::vector<std::string>& args) {
  Hostile h;
  std::vector<std::string> argv = {HOSTILE_CLIENT_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  h.pid = spawn(argv, &h.out, &h.err);
  std::string line;
  char c = 0;
  while (::read(h.out, &c, 1) == 1 && c != '\n') line += c;
  h.ready = line == "ready";
  return h;
}

ProcessResult finish_hostile(Hostile& h) {
  ::kill(h.pid, SIGKILL);
  return collect(h.pid, h.out, h.err);
}

TEST(Hostile, LettingGoOfAFullRingWithoutCancellingDoesNotCrashTheDaemon) {
  Daemon daemon({"--set", "scheduler.max_concurrent=2"});
  ASSERT_TRUE(daemon.ready());
  Hostile h = start_hostile({daemon.name(), "release-full", "300"});
  ASSERT_TRUE(h.ready) << finish_hostile(h).errors;
  // The hostile client lives on for a while holding its slot; the daemon must have let go of
  // the request (its row, its place) without crashing.
  EXPECT_TRUE(eventually([&] { return held(daemon.name()).rows == 0; }, 2000ms));
  ASSERT_TRUE(process_running(daemon.pid())) << daemon.stop().errors;
  finish_hostile(h);
  expect_recovered(daemon, 2);
}

TEST(Hostile, AnHonestReleaseRacingTheFullRingBranchDoesNotCrashTheDaemon) {
  // ~Stream cancels, then releases: with a full ring the release can reach the daemon's
  // flush before the cancel is seen. Many times, so the race gets its chances.
  Daemon daemon({"--set", "scheduler.max_concurrent=2", "--set", "transport.token_ring_entries=4"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  GenerateParams params;
  params.max_tokens = 4000;
  for (int i = 0; i < 200; ++i) {
    std::unique_ptr<Stream> stream;
    ASSERT_TRUE(client->generate("race", params, &stream).ok());
    if (i % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 7)));
    stream.reset();
  }
  expect_recovered(daemon, 2);
}

TEST(Hostile, ACorruptTailGivesBackTheKvRowWhileItsOwnerLives) {
  Daemon daemon({"--set", "scheduler.max_concurrent=2"});
  ASSERT_TRUE(daemon.ready());
  Hostile h = start_hostile({daemon.name(), "corrupt-tail", "20000"});
  ASSERT_TRUE(h.ready) << finish_hostile(h).errors;
  // While the attacker lives: its row is back, its slot is FINISHED (not RUNNING under it),
  // and two honest requests run at once.
  EXPECT_TRUE(eventually([&] { return held(daemon.name()).rows == 0; }, 2000ms));
  const ProcessResult a = run({TEST_CLIENT_PATH, daemon.name(), "one", "6"});
  const ProcessResult b = run({TEST_CLIENT_PATH, daemon.name(), "two", "6"});
  EXPECT_EQ(a.output, "oneone\nids 6\nfinish length\n") << a.errors;
  EXPECT_EQ(b.output, "twotwo\nids 6\nfinish length\n") << b.errors;
  ASSERT_TRUE(process_running(daemon.pid())) << daemon.stop().errors;
  finish_hostile(h);
  expect_recovered(daemon, 2);
}

TEST(Hostile, ScribblingOverOtherClientsRingsLosesNoSlotOrRow) {
  Daemon daemon({"--set", "scheduler.max_concurrent=8", "--set", "transport.slots=32", "--set",
                 "model.echo_step_delay_us=1000"});
  ASSERT_TRUE(daemon.ready());
  // The honest clients are threads of this process: their owner lives on after the attack,
  // so a slot the daemon loses is not reclaimed as a dead client's; it must come back anyway.
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::atomic<int> ended{0};
  std::vector<std::thread> readers;
  const auto read_one = [&](int i) {
    GenerateParams params;
    params.max_tokens = 600;
    std::unique_ptr<Stream> stream;
    if (client->generate("honest " + std::to_string(i), params, &stream).ok()) {
      // Whatever the scribbling did to its ring, the stream must end (with its tokens or an
      // error) rather than hang: 20 s is far beyond any honest end.
      Token t;
      const auto give_up = std::chrono::steady_clock::now() + 20s;
      for (;;) {
        const Status s = stream->next(&t, 200ms);
        if (!s.ok() && s.code() != ErrorCode::kTimeout) break;
        if (std::chrono::steady_clock::now() > give_up) {
          ADD_FAILURE() << "stream " << i << " never ended";
          break;
        }
      }
    }
    ended.fetch_add(1);
  };
  for (int i = 0; i < 12; ++i) readers.emplace_back(read_one, i);
  Hostile h = start_hostile({daemon.name(), "scribble-rings", "1500"});
  ASSERT_TRUE(h.ready) << finish_hostile(h).errors;
  for (int i = 12; i < 20; ++i) readers.emplace_back(read_one, i);  // submitted mid-attack
  const ProcessResult scribbler = collect(h.pid, h.out, h.err);
  EXPECT_EQ(scribbler.exit_code, 0) << scribbler.errors;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(ended.load(), 20);
  ASSERT_TRUE(process_running(daemon.pid())) << daemon.stop().errors;
  expect_recovered(daemon, 8);
}

TEST(Hostile, StreamsThatNeverReadGiveUpTheirPlacesAndLetTheDaemonSleep) {
  Daemon daemon({"--set", "scheduler.max_concurrent=4", "--set", "scheduler.pause_timeout_ms=500"});
  ASSERT_TRUE(daemon.ready());
  Hostile h = start_hostile({daemon.name(), "hold", "4", "60000"});
  ASSERT_TRUE(h.ready) << finish_hostile(h).errors;
  // All four places are taken by streams nobody reads. Another client gets in once they have
  // been paused for pause_timeout_ms.
  const ProcessResult next = run({TEST_CLIENT_PATH, daemon.name(), "next", "8"});
  EXPECT_EQ(next.output, "nextnext\nids 8\nfinish length\n") << next.errors;
  // With only paused streams left the daemon sleeps (it polled them every 50 us before).
  const double before = cpu_seconds(daemon.pid());
  std::this_thread::sleep_for(1000ms);
  const double used = cpu_seconds(daemon.pid()) - before;
  EXPECT_LT(used, 0.1) << "the daemon used " << used << " s of CPU in 1 s with paused streams";
  EXPECT_EQ(held(daemon.name()).rows, 0u) << "paused streams still hold KV rows";
  finish_hostile(h);
  expect_recovered(daemon, 4);
}

TEST(Hostile, AStalledStreamStillGetsWhatWasMadeThenTheReason) {
  Daemon daemon(
      {"--set", "scheduler.pause_timeout_ms=300", "--set", "transport.token_ring_entries=8"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  GenerateParams params;
  params.max_tokens = 100;
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("ab", params, &stream).ok());
  std::this_thread::sleep_for(900ms);  // three pause timeouts without reading
  Token t;
  std::string text;
  Status s;
  while ((s = stream->next(&t, 2000ms)).ok()) text += t.text;
  EXPECT_EQ(s.code(), ErrorCode::kTimeout) << s.to_string();
  EXPECT_NE(s.message().find("pause_timeout_ms"), std::string::npos) << s.to_string();
  EXPECT_GE(text.size(), 8u);  // a full ring (and what was queued behind it)
  for (size_t i = 0; i < text.size(); ++i) EXPECT_EQ(text[i], "ab"[i % 2]) << i;
  stream.reset();
  expect_recovered(daemon, 16);
}

TEST(Hostile, APausedStreamThatReadsAgainGetsEveryToken) {
  Daemon daemon({"--set", "transport.token_ring_entries=8"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  GenerateParams params;
  params.max_tokens = 200;
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("xyz", params, &stream).ok());
  std::string text;
  Token t;
  Status s;
  int count = 0;
  while ((s = stream->next(&t, 5000ms)).ok()) {
    text += t.text;
    // Pauses long enough for the daemon to fall asleep on the full ring, several times.
    if (++count % 50 == 0) std::this_thread::sleep_for(150ms);
  }
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(count, 200);
  std::string expected;
  for (int i = 0; i < 200; ++i) expected += "xyz"[i % 3];
  EXPECT_EQ(text, expected);
}

TEST(Hostile, APriorityOutsideTheBoundIsRejectedWithTheRange) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  GenerateParams params;
  params.max_tokens = 5;
  params.priority = 2147483647;
  std::unique_ptr<Stream> stream;
  Status s = client->generate("greedy", params, &stream);
  Token t;
  while (s.ok()) s = stream->next(&t);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams) << s.to_string();
  EXPECT_NE(s.message().find("priority 2147483647 is outside -10..10"), std::string::npos)
      << s.to_string();
}

TEST(Hostile, AFloodAtTheHighestPriorityCannotStarveALowOne) {
  Daemon daemon({"--set", "scheduler.max_concurrent=1", "--set", "model.echo_step_delay_us=2000"});
  ASSERT_TRUE(daemon.ready());
  Hostile h = start_hostile({daemon.name(), "priority", "10", "4", "8000"});
  ASSERT_TRUE(h.ready) << finish_hostile(h).errors;
  // The flood keeps four requests of priority 10 queued for 8 s; ours (priority 0) must get
  // through while it goes on.
  const ProcessResult low = run({TEST_CLIENT_PATH, daemon.name(), "low", "3"});
  EXPECT_EQ(low.output, "low\nids 3\nfinish length\n") << low.errors;
  EXPECT_TRUE(process_running(h.pid)) << "the flood ended before the low-priority request did";
  const ProcessResult flood = finish_hostile(h);
  EXPECT_EQ(flood.output.find("rejected"), std::string::npos) << flood.output;
  expect_recovered(daemon, 1);
}

}  // namespace
}  // namespace ringserve::testing
