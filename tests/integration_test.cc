// End-to-end tests: a real ringserved process (echo backend) and real client processes
// (fork/exec of ringserve_test_client, ringserve_c_client and ringctl).
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "daemon/instance_lock.h"
#include "ringserve/client.h"
#include "shm/atomics.h"
#include "shm/process.h"
#include "shm/request_ring.h"
#include "shm/segment.h"
#include "tests/daemon_checks.h"
#include "tests/daemon_process.h"
#include "tests/test_support.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;

// What the echo backend streams for a prompt: its characters repeated, max_tokens of them.
std::string echo_of(const std::string& prompt, size_t max_tokens) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < prompt.size();) {
    const unsigned char c = static_cast<unsigned char>(prompt[i]);
    const size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    chars.push_back(prompt.substr(i, len));
    i += len;
  }
  std::string out;
  for (size_t k = 0; k < max_tokens; ++k) out += chars[k % chars.size()];
  return out;
}

std::unique_ptr<Client> connect_to(const Daemon& d) {
  std::unique_ptr<Client> client;
  const Status s = Client::connect(d.name(), &client);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return client;
}

GenerateParams tokens(uint32_t n) {
  GenerateParams p;
  p.max_tokens = n;
  return p;
}

// Reads `stream` to its end: expects exactly `text`, ending normally (not by an error).
void expect_stream_text(Stream& stream, const std::string& text) {
  Token t;
  std::string got;
  Status s;
  while ((s = stream.next(&t)).ok()) got += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(got, text);
}

TEST(Integration, ConcurrentClientProcessesEachGetExactlyTheirTokensInOrder) {
  Daemon daemon({"--set", "model.echo_step_delay_us=200"});
  ASSERT_TRUE(daemon.ready());
  const std::vector<std::pair<std::string, int>> requests = {
      {"alpha", 40}, {"bravo charlie", 77}, {"日本語のテキスト", 33},
      {"x", 5},      {"delta", 120},        {"echo foxtrot", 64},
      {"golf", 1},   {"hotel india", 90}};
  std::vector<pid_t> pids;
  std::vector<std::pair<int, int>> fds;
  for (const auto& [prompt, n] : requests) {
    int out = -1, err = -1;
    pids.push_back(spawn({TEST_CLIENT_PATH, daemon.name(), prompt, std::to_string(n)}, &out, &err));
    fds.emplace_back(out, err);
  }
  for (size_t i = 0; i < pids.size(); ++i) {
    const ProcessResult r = collect(pids[i], fds[i].first, fds[i].second);
    const auto& [prompt, n] = requests[i];
    EXPECT_EQ(r.exit_code, 0) << r.output << r.errors;
    EXPECT_EQ(r.output, echo_of(prompt, n) + "\nids " + std::to_string(n) + "\nfinish length\n");
  }
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.errors;
  EXPECT_NE(stopped.errors.find("finish length"), std::string::npos);  // one line per request
  EXPECT_EQ(::access(("/dev/shm/ringserve." + daemon.name()).c_str(), F_OK), -1)
      << "segment not removed at shutdown";
}

TEST(Integration, CClientStreamsThroughTheCApi) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const ProcessResult r = run({C_CLIENT_PATH, daemon.name(), "abc", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "abcabca\nfinish length\n");
}

TEST(Integration, StopTokenEndsTheStreamWithStop) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const ProcessResult r =
      run({TEST_CLIENT_PATH, daemon.name(), "abcdef", "100", "--stop-token", "100"});  // 'd'
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "abc\nids 3\nfinish stop\n");
}

TEST(Integration, RingctlGenerateAndStatus) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "generate", "hey", "--max-tokens",
                         "5", "--temperature", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(r.output, "heyhe\n");
  r = run({RINGCTL_PATH, "--name", daemon.name(), "generate", "ab", "--max-tokens", "2", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_EQ(
      r.output,
      "{\"id\":97,\"text\":\"a\"}\n{\"id\":98,\"text\":\"b\"}\n{\"finish_reason\":\"length\"}\n");
  // The counters trail a finished stream by up to one loop iteration (docs/PROTOCOL.md).
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  DaemonStatus st;
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.completed == 2; }));
  r = run({RINGCTL_PATH, "--name", daemon.name(), "status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("\"running\": 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"waiting\": 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"completed\": 2"), std::string::npos) << r.output;
}

TEST(Integration, ErrorsWithoutADaemon) {
  std::unique_ptr<Client> client;
  Status s = Client::connect(unique_name("nobody"), &client);
  EXPECT_EQ(s.code(), ErrorCode::kDaemonNotRunning) << s.to_string();
  s = Client::connect("bad/name", &client);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  const ProcessResult r = run({RINGCTL_PATH, "--name", unique_name("nobody"), "generate", "x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("daemon not running"), std::string::npos) << r.errors;
}

TEST(Integration, BadRequestsGetSpecificErrors) {
  Daemon daemon({"--set", "transport.prompt_bytes=32", "--set", "scheduler.max_tokens_limit=50"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  EXPECT_EQ(client->generate(std::string(33, 'a'), tokens(5), &stream).code(),
            ErrorCode::kPromptTooLong);
  EXPECT_EQ(client->generate("", tokens(5), &stream).code(), ErrorCode::kEmptyPrompt);
  EXPECT_EQ(client->generate("\xC3\x28", tokens(5), &stream).code(), ErrorCode::kInvalidUtf8);
  Status s = client->generate("ok", tokens(51), &stream);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("max_tokens"), std::string::npos) << s.message();
  GenerateParams p = tokens(5);
  p.top_p = 2;
  s = client->generate("ok", p, &stream);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams);
  EXPECT_NE(s.message().find("top_p"), std::string::npos);
}

TEST(Integration, QueueFullWhenTheWaitingLineIsFull) {
  Daemon daemon({"--set", "scheduler.max_concurrent=1", "--set", "scheduler.max_queue=1", "--set",
                 "model.echo_step_delay_us=20000"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> running, waiting, rejected;
  ASSERT_TRUE(client->generate("a", tokens(50), &running).ok());
  ASSERT_TRUE(eventually([&] { return running->info().admitted_ns != 0; }));
  ASSERT_TRUE(client->generate("b", tokens(50), &waiting).ok());
  ASSERT_TRUE(eventually([&] { return waiting->info().queue_position == 1; }));
  ASSERT_TRUE(client->generate("c", tokens(50), &rejected).ok());
  Token t;
  const Status s = rejected->next(&t);
  EXPECT_EQ(s.code(), ErrorCode::kQueueFull) << s.to_string();
  EXPECT_EQ(rejected->finish_reason(), FinishReason::kRejected);
  // ringctl reports it too, with a non-zero exit.
  const ProcessResult r = run({RINGCTL_PATH, "--name", daemon.name(), "generate", "d"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("queue full"), std::string::npos) << r.errors;
  // The running request was not disturbed.
  running->cancel();
  while (running->next(&t).ok()) {
  }
  EXPECT_EQ(running->finish_reason(), FinishReason::kCancelled);
}

TEST(Integration, NextTimesOutWithoutEndingTheStream) {
  Daemon daemon({"--set", "model.echo_step_delay_us=300000"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("ab", tokens(2), &stream).ok());
  Token t;
  const Status s = stream->next(&t, std::chrono::milliseconds(20));
  EXPECT_EQ(s.code(), ErrorCode::kTimeout) << s.to_string();
  EXPECT_FALSE(stream->done());
  ASSERT_TRUE(stream->next(&t).ok());  // the stream goes on
  EXPECT_EQ(t.text, "a");
}

TEST(Integration, CancelEndsTheStreamAndFreesTheSlot) {
  Daemon daemon({"--set", "model.echo_step_delay_us=2000"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("abc", tokens(100000 > 4096 ? 4096 : 100000), &stream).ok());
  Token t;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->next(&t).ok());
  stream->cancel();
  Status s;
  int extra = 0;
  while ((s = stream->next(&t)).ok()) ++extra;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(stream->finish_reason(), FinishReason::kCancelled);
  EXPECT_LT(extra, 10);
  stream.reset();
  DaemonStatus st;
  // The counters reach the segment at the end of the daemon's loop iteration, which can be
  // after this client has seen its final token and freed the slot.
  EXPECT_TRUE(eventually([&] {
    return client->status(&st).ok() && st.slots_in_use == 0 && st.cancelled == 1;
  })) << "slots in use "
      << st.slots_in_use << ", cancelled " << st.cancelled;
}

TEST(Integration, CancelOfAnEarlierGenerationIsIgnored) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000", "--set", "transport.slots=1"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("abc", tokens(30), &stream).ok());
  // A late cancel from the slot's previous request carries the previous generation.
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &segment, &message),
            shm::SegmentError::kOk);
  shm::SlotHeader* slot = segment->view().slot(0);
  const uint64_t word = shm::load(slot->state_word);
  shm::store(slot->cancel_requested, shm::cancel_token(word) - 1);
  Token t;
  Status s;
  int n = 0;
  while ((s = stream->next(&t)).ok()) ++n;
  EXPECT_TRUE(s.end_of_stream());
  EXPECT_EQ(stream->finish_reason(), FinishReason::kLength);
  EXPECT_EQ(n, 30);
}

TEST(Integration, DroppingAStreamMidwayCancelsAndFreesTheSlot) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  {
    std::unique_ptr<Stream> stream;
    ASSERT_TRUE(client->generate("abc", tokens(4000), &stream).ok());
    Token t;
    ASSERT_TRUE(stream->next(&t).ok());
  }
  DaemonStatus st;
  EXPECT_TRUE(eventually([&] { return client->status(&st).ok() && st.slots_in_use == 0; }));
  EXPECT_EQ(st.running, 0u);
}

TEST(Integration, SlowReaderIsPausedWithoutSlowingOthers) {
  // Token rings of 4 entries: the slow client's ring fills at once and its sequence sits out.
  Daemon daemon({"--set", "transport.token_ring_entries=4"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> slow, fast;
  ASSERT_TRUE(client->generate("slow", tokens(1000), &slow).ok());
  ASSERT_TRUE(client->generate("fast", tokens(2000), &fast).ok());
  const auto start = std::chrono::steady_clock::now();
  expect_stream_text(*fast, echo_of("fast", 2000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // The slow one lost nothing while paused.
  expect_stream_text(*slow, echo_of("slow", 1000));
}

TEST(Integration, ClientKilledMidStreamFreesItsSlotWithinASecond) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000"});
  ASSERT_TRUE(daemon.ready());
  int out = -1, err = -1;
  const pid_t victim = spawn({TEST_CLIENT_PATH, daemon.name(), "victim", "4000"}, &out, &err);
  auto client = connect_to(daemon);
  DaemonStatus st;
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.running == 1; }));
  // Another stream runs alongside and must complete untouched.
  std::unique_ptr<Stream> other;
  ASSERT_TRUE(client->generate("other", tokens(300), &other).ok());
  ::kill(victim, SIGKILL);
  collect(victim, out, err);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.running == 1; }, 1500ms));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 1s + 200ms);
  expect_stream_text(*other, echo_of("other", 300));
}

TEST(Integration, ClientKilledWhileQueuedGivesItsPlaceBackWithinASecond) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000", "--set", "scheduler.max_concurrent=1"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> running;
  ASSERT_TRUE(client->generate("running", tokens(1500), &running).ok());
  int out = -1, err = -1;
  const pid_t victim = spawn({TEST_CLIENT_PATH, daemon.name(), "victim", "10"}, &out, &err);
  DaemonStatus st;
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.waiting == 1; }));
  ::kill(victim, SIGKILL);
  collect(victim, out, err);
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.waiting == 0; }, 1500ms));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 1s + 200ms);
  EXPECT_EQ(st.running, 1u);
  // The running stream was not disturbed, and the next request gets the place.
  expect_stream_text(*running, echo_of("running", 1500));
  const ProcessResult next = run({TEST_CLIENT_PATH, daemon.name(), "next", "4"});
  EXPECT_EQ(next.output, "next\nids 4\nfinish length\n");
}

TEST(Integration, ProducerKilledBetweenClaimAndPublishDoesNotBlockTheRing) {
  Daemon daemon({"--set", "transport.unpublished_timeout_ms=50"});
  ASSERT_TRUE(daemon.ready());
  const std::string name = daemon.name();
  const pid_t child = ::fork();
  if (child == 0) {
    std::unique_ptr<shm::Segment> segment;
    std::string message;
    if (shm::Segment::open(name, 1'000'000'000, &segment, &message) != shm::SegmentError::kOk) {
      ::_exit(1);
    }
    const shm::SegmentView& v = segment->view();
    shm::RequestRingProducer producer(v.request_ring(), v.header()->request_ring_capacity);
    uint64_t position = 0;
    if (!producer.try_claim(&position)) ::_exit(2);
    ::raise(SIGKILL);  // dies holding a claimed, unpublished position
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  const ProcessResult r = run({TEST_CLIENT_PATH, daemon.name(), "behind the hole", "20"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, echo_of("behind the hole", 20) + "\nids 20\nfinish length\n");
  const ProcessResult stopped = daemon.stop();
  EXPECT_NE(stopped.errors.find("skipped a position"), std::string::npos) << stopped.errors;
}

// Claims a slot the way the client library does, then stops at `stage` and dies by SIGKILL
// from the parent: right after the claim (before it wrote its start time), or halfway through
// writing its prompt. Runs in a forked child; writes the slot index to `ready_fd` first.
enum class ClaimStage { kJustClaimed, kHalfThePrompt };

[[noreturn]] void claim_and_hang(const std::string& name, ClaimStage stage, int ready_fd) {
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  if (shm::Segment::open(name, 1'000'000'000, &segment, &message) != shm::SegmentError::kOk) {
    ::_exit(1);
  }
  const shm::SegmentView& v = segment->view();
  const int32_t pid = static_cast<int32_t>(::getpid());
  for (uint32_t i = 0; i < v.shape().slot_count; ++i) {
    shm::SlotHeader* slot = v.slot(i);
    uint64_t word = shm::load(slot->state_word);
    if (shm::word_state(word) != shm::SlotState::kFree) continue;
    const uint64_t claimed =
        shm::make_state_word(shm::word_generation(word) + 1, shm::SlotState::kClaimed, pid);
    if (!shm::compare_exchange(slot->state_word, word, claimed)) continue;
    if (stage == ClaimStage::kHalfThePrompt) {
      slot->owner_start_time = shm::process_start_time(pid);
      const std::string prompt(200, 'p');
      slot->prompt_length = static_cast<uint32_t>(prompt.size());
      std::memcpy(v.prompt(i), prompt.data(), prompt.size() / 2);
    }
    if (::write(ready_fd, &i, sizeof i) != sizeof i) ::_exit(3);
    ::pause();
  }
  ::_exit(2);
}

class KilledWhileClaiming : public ::testing::TestWithParam<ClaimStage> {};

TEST_P(KilledWhileClaiming, TheSlotIsFreedWithinASecondAndStreamsGoOn) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000", "--set", "transport.slots=2"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> running;
  ASSERT_TRUE(client->generate("running", tokens(1500), &running).ok());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t victim = ::fork();
  if (victim == 0) claim_and_hang(daemon.name(), GetParam(), ready[1]);
  ::close(ready[1]);
  uint32_t slot = 0;
  ASSERT_EQ(::read(ready[0], &slot, sizeof slot), static_cast<ssize_t>(sizeof slot));
  ::close(ready[0]);
  // Both slots are taken now: a third request finds none.
  std::unique_ptr<Stream> refused;
  EXPECT_EQ(client->generate("no room", tokens(3), &refused).code(), ErrorCode::kQueueFull);
  ::kill(victim, SIGKILL);
  ::waitpid(victim, nullptr, 0);
  const auto killed_at = std::chrono::steady_clock::now();
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &segment, &message),
            shm::SegmentError::kOk);
  shm::SlotHeader* claimed = segment->view().slot(slot);
  ASSERT_TRUE(eventually(
      [&] { return shm::word_state(shm::load(claimed->state_word)) == shm::SlotState::kFree; },
      1500ms));
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 1s + 200ms);
  // The slot serves the next request, and the running stream was not disturbed.
  const ProcessResult next = run({TEST_CLIENT_PATH, daemon.name(), "next", "4"});
  EXPECT_EQ(next.output, "next\nids 4\nfinish length\n");
  expect_stream_text(*running, echo_of("running", 1500));
}

INSTANTIATE_TEST_SUITE_P(Stages, KilledWhileClaiming,
                         ::testing::Values(ClaimStage::kJustClaimed, ClaimStage::kHalfThePrompt),
                         [](const ::testing::TestParamInfo<ClaimStage>& info) {
                           return info.param == ClaimStage::kJustClaimed
                                      ? std::string("JustClaimed")
                                      : std::string("HalfThePrompt");
                         });

// A hostile client: starts a request of its own through the library, then for `ms` writes
// random bytes over its slot (request fields and prompt area), its token ring, and the request
// ring (cells, head, tail). Runs in a forked child; exits 0 when done, 1 if it could not start.
[[noreturn]] void scribble(const std::string& name, int ms) {
  std::unique_ptr<Client> client;
  std::unique_ptr<Stream> stream;
  if (!Client::connect(name, &client).ok() ||
      !client->generate("mine", tokens(4000), &stream).ok()) {
    ::_exit(1);
  }
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  if (shm::Segment::open(name, 1'000'000'000, &segment, &message) != shm::SegmentError::kOk) {
    ::_exit(2);
  }
  const shm::SegmentView& v = segment->view();
  const shm::SegmentGeometry& g = v.geometry();
  uint32_t mine = v.shape().slot_count;
  for (uint32_t i = 0; i < v.shape().slot_count; ++i) {
    if (shm::word_pid(shm::load(v.slot(i)->state_word)) == ::getpid()) mine = i;
  }
  if (mine == v.shape().slot_count) ::_exit(3);
  std::mt19937_64 rng(static_cast<uint64_t>(::getpid()));
  auto fill = [&](void* p, size_t n) {
    auto* b = static_cast<unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(rng());
  };
  auto* cells = reinterpret_cast<uint64_t*>(v.request_ring() + 1);
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    // Everything but the ownership fields: with a random state word, start time or release
    // flag the slot could go back to FREE and to another client, and scribbling on it then
    // would be scribbling on someone else's request (docs/SECURITY.md: possible, not tested
    // here).
    constexpr size_t kFrom = offsetof(shm::SlotHeader, prompt_length);
    fill(reinterpret_cast<char*>(v.slot(mine)) + kFrom, g.slot_stride - kFrom);
    fill(v.token_ring(mine), g.token_ring_stride);
    for (int k = 0; k < 4; ++k) {
      shm::store(cells[rng() % g.request_ring_capacity], rng(), std::memory_order_relaxed);
    }
    if (rng() % 8 == 0) shm::store(v.request_ring()->tail, rng(), std::memory_order_relaxed);
    if (rng() % 8 == 0) shm::store(v.request_ring()->head, rng(), std::memory_order_relaxed);
    std::this_thread::sleep_for(200us);
  }
  ::_exit(0);
}

TEST(Integration, ScribblingClientDoesNotDisturbOthers) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1000", "--set", "transport.slots=16"});
  ASSERT_TRUE(daemon.ready());
  struct Honest {
    std::string prompt;
    int tokens;
    pid_t pid = -1;
    int out = -1, err = -1;
  };
  // Three stream while the scribbling starts, three more submit in the middle of it.
  std::vector<Honest> honest = {{"alpha", 1200}, {"bravo charlie", 1000}, {"日本語", 900},
                                {"delta", 300},  {"echo foxtrot", 250},   {"golf", 200}};
  auto start = [&](Honest& h) {
    h.pid = spawn({TEST_CLIENT_PATH, daemon.name(), h.prompt, std::to_string(h.tokens)}, &h.out,
                  &h.err);
  };
  for (size_t i = 0; i < 3; ++i) start(honest[i]);
  std::this_thread::sleep_for(100ms);
  const std::string name = daemon.name();
  const pid_t scribbler = ::fork();
  if (scribbler == 0) scribble(name, 800);
  std::this_thread::sleep_for(200ms);
  for (size_t i = 3; i < honest.size(); ++i) start(honest[i]);
  int status = 0;
  ::waitpid(scribbler, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the scribbler did not run: status " << status;
  for (Honest& h : honest) {
    const ProcessResult r = collect(h.pid, h.out, h.err);
    EXPECT_EQ(r.exit_code, 0) << h.prompt << ": " << r.output << r.errors;
    EXPECT_EQ(r.output, echo_of(h.prompt, static_cast<size_t>(h.tokens)) + "\nids " +
                            std::to_string(h.tokens) + "\nfinish length\n")
        << h.prompt;
  }
  // The daemon is still serving, and the scribbler's slot came back (its owner is gone).
  const ProcessResult after = run({TEST_CLIENT_PATH, daemon.name(), "after", "5"});
  EXPECT_EQ(after.output, "after\nids 5\nfinish length\n");
  auto client = connect_to(daemon);
  DaemonStatus st;
  EXPECT_TRUE(eventually([&] { return client->status(&st).ok() && st.running == 0; }));
  // Every KV row, request and slot came back; a full batch runs; the daemon sleeps.
  expect_recovered(daemon, 16);
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.errors;
}

TEST(Integration, BlockedClientGetsDaemonGoneWhenTheDaemonIsKilled) {
  Daemon daemon({"--set", "model.echo_step_delay_us=100000"});
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("zzz", tokens(1000), &stream).ok());
  Token t;
  ASSERT_TRUE(stream->next(&t).ok());
  daemon.kill_hard();
  const auto start = std::chrono::steady_clock::now();
  Status s;
  while ((s = stream->next(&t)).ok()) {
  }
  EXPECT_EQ(s.code(), ErrorCode::kDaemonGone) << s.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  // New connections see no daemon (the stale segment is recognised as such).
  std::unique_ptr<Client> again;
  EXPECT_EQ(Client::connect(daemon.name(), &again).code(), ErrorCode::kDaemonNotRunning);
  shm::Segment::remove(daemon.name());
}

TEST(Integration, RestartAfterSigkillNeedsNoCleanup) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  daemon.kill_hard();
  // Same name again: the stale segment and the dropped lock must not get in the way.
  ASSERT_TRUE(daemon.restart());
  auto client = connect_to(daemon);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("again", tokens(3), &stream).ok());
  Token t;
  EXPECT_TRUE(stream->next(&t).ok());
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.errors;
}

TEST(Integration, SecondDaemonWithTheSameNameIsRefused) {
  Daemon first;
  ASSERT_TRUE(first.ready());
  const ProcessResult r = run({RINGSERVED_PATH, "--name", first.name()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("already running"), std::string::npos) << r.errors;
  // The first one is unaffected.
  const ProcessResult c = run({TEST_CLIENT_PATH, first.name(), "still here", "3"});
  EXPECT_EQ(c.exit_code, 0);
  // A clean stop removes the lock file; the name is free again at once.
  const std::string lock =
      daemon::InstanceLock::default_dir() + "/ringserve." + first.name() + ".lock";
  EXPECT_EQ(::access(lock.c_str(), F_OK), 0);
  EXPECT_EQ(first.stop().exit_code, 0);
  EXPECT_NE(::access(lock.c_str(), F_OK), 0) << lock << " left behind";
  ASSERT_TRUE(first.restart());
  EXPECT_EQ(first.stop().exit_code, 0);
  EXPECT_NE(::access(lock.c_str(), F_OK), 0);
}

TEST(Integration, VersionMismatchIsDetectedAtConnect) {
  const std::string name = unique_name("oldlayout");
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  ASSERT_EQ(shm::Segment::create(name, {1, 16, 4}, {}, &segment, &message), shm::SegmentError::kOk);
  shm::SegmentHeader* h = segment->view().header();
  h->magic = shm::kMagic;
  h->layout_version = shm::kLayoutVersion + 1;
  shm::store(h->state, static_cast<uint32_t>(shm::SegmentState::kReady));
  std::unique_ptr<Client> client;
  const Status s = Client::connect(name, &client);
  EXPECT_EQ(s.code(), ErrorCode::kVersionMismatch);
  EXPECT_NE(s.message().find("version"), std::string::npos);
}

TEST(Integration, ClientWaitsForAStartingDaemonOnlyUntilItsTimeout) {
  // A segment that never becomes ready: a daemon killed mid-initialization.
  const std::string name = unique_name("halfborn");
  std::unique_ptr<shm::Segment> segment;
  std::string message;
  ASSERT_EQ(shm::Segment::create(name, {1, 16, 4}, {}, &segment, &message), shm::SegmentError::kOk);
  std::unique_ptr<Client> client;
  ConnectOptions options;
  options.ready_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Client::connect(name, &client, options).code(), ErrorCode::kDaemonNotRunning);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(Integration, SegmentGetsTheConfiguredPermissions) {
  Daemon daemon({"--set", "transport.permissions=0o640"});
  ASSERT_TRUE(daemon.ready());
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/ringserve." + daemon.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

// Runs the test client as uid `uid` (gid the same) with supplementary groups `groups`; the
// caller must be root. Exit code 90: could not switch, 91: could not execute.
ProcessResult run_client_as(uid_t uid, const std::vector<gid_t>& groups,
                            const std::vector<std::string>& client_args) {
  int out[2];
  if (::pipe(out) != 0) return {};
  std::vector<const char*> argv{TEST_CLIENT_PATH};
  for (const std::string& a : client_args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    if (::setgroups(groups.size(), groups.data()) != 0 || ::setgid(uid) != 0 ||
        ::setuid(uid) != 0) {
      ::_exit(90);
    }
    ::execv(TEST_CLIENT_PATH, const_cast<char* const*>(argv.data()));
    ::_exit(91);
  }
  ::close(out[1]);
  ProcessResult result;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0)
    result.output.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

TEST(Integration, AnotherUserWithoutAccessGetsPermissionDenied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run a client as a throwaway user";
  const uid_t uid = unused_id(61000);
  Daemon daemon;  // default transport.permissions 0600, owned by root
  ASSERT_TRUE(daemon.ready());
  const ProcessResult denied = run_client_as(uid, {}, {daemon.name(), "hi", "3"});
  ASSERT_NE(denied.exit_code, 90) << "could not switch to uid " << uid;
  ASSERT_NE(denied.exit_code, 91) << "uid " << uid << " cannot execute " << TEST_CLIENT_PATH;
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.output.find("permission denied"), std::string::npos) << denied.output;
  // The daemon's own user still gets in.
  const ProcessResult ok = run({TEST_CLIENT_PATH, daemon.name(), "hi", "3"});
  EXPECT_EQ(ok.output, "hih\nids 3\nfinish length\n");
}

TEST(Integration, MembersOfTheConfiguredGroupGetInAndNobodyElse) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run clients as throwaway users";
  const gid_t group = unused_id(64000);
  const uid_t member = unused_id(61000);
  const uid_t outsider = unused_id(member + 1);
  Daemon daemon({"--set", "transport.permissions=0o660", "--set",
                 "transport.group=" + std::to_string(group)});
  ASSERT_TRUE(daemon.ready());
  struct stat st {};
  ASSERT_EQ(::stat(("/dev/shm/ringserve." + daemon.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, group);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  const ProcessResult in = run_client_as(member, {group}, {daemon.name(), "hi", "3"});
  ASSERT_NE(in.exit_code, 90) << "could not switch to uid " << member;
  EXPECT_EQ(in.exit_code, 0) << in.output;
  EXPECT_EQ(in.output, "hih\nids 3\nfinish length\n");
  const ProcessResult out = run_client_as(outsider, {}, {daemon.name(), "hi", "3"});
  EXPECT_NE(out.exit_code, 0);
  EXPECT_NE(out.output.find("permission denied"), std::string::npos) << out.output;
}

TEST(Integration, BadConfigFailsAtStartWithFileLineAndKey) {
  const std::string path = "/tmp/" + unique_name("bad") + ".toml";
  {
    std::ofstream f(path);
    f << "[transport]\nslots = 8\nwait_mode = \"sleepy\"\n";
  }
  ProcessResult r = run({RINGSERVED_PATH, "--name", unique_name("bad"), "--config", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find(path + ":3"), std::string::npos) << r.errors;
  EXPECT_NE(r.errors.find("transport.wait_mode"), std::string::npos) << r.errors;
  ::unlink(path.c_str());
  r = run({RINGSERVED_PATH, "--name", unique_name("bad"), "--set", "scheduler.max_concurrent=0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find("scheduler.max_concurrent"), std::string::npos) << r.errors;
}

TEST(Integration, ManyThreadsOfOneProcessShareAClient) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  auto client = connect_to(daemon);
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 10; ++round) {
        std::unique_ptr<Stream> stream;
        const std::string prompt = "t" + std::to_string(i) + "r" + std::to_string(round);
        if (!client->generate(prompt, tokens(50), &stream).ok()) return;
        Token t;
        std::string got;
        while (stream->next(&t).ok()) got += t.text;
        if (got != echo_of(prompt, 50)) return;
      }
      results[i] = "ok";
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, "ok");
}

}  // namespace
}  // namespace ringserve::testing

namespace ringserve::testing {
namespace {

// Publish order of every token of several concurrent streams: (published_ns, stream index).
std::vector<std::pair<uint64_t, size_t>> publish_order(const std::string& mode) {
  Daemon daemon({"--set", "model.echo_step_delay_us=3000", "--set", "scheduler.mode=" + mode});
  EXPECT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  EXPECT_TRUE(Client::connect(daemon.name(), &client).ok());
  // All three are admitted at once (max_concurrent 16); they are submitted within the first
  // step, so from the second step on every step sees all three.
  std::vector<std::unique_ptr<Stream>> streams(3);
  for (size_t i = 0; i < streams.size(); ++i) {
    EXPECT_TRUE(
        client->generate(std::string(1, static_cast<char>('a' + i)), tokens(8), &streams[i]).ok());
  }
  std::vector<std::pair<uint64_t, size_t>> order;
  for (size_t i = 0; i < streams.size(); ++i) {
    Token t;
    while (streams[i]->next(&t, 5s).ok()) order.emplace_back(t.published_ns, i);
  }
  std::sort(order.begin(), order.end());
  return order;
}

TEST(Scheduling, InterleaveModeGivesOneSequenceATokenPerStepRoundRobin) {
  const auto order = publish_order("interleave");
  ASSERT_EQ(order.size(), 24u);
  // Ignore the first few entries: the three requests arrive while the first steps run. From
  // the moment all three run, turns go strictly round-robin: every window of three
  // consecutive tokens holds each stream once.
  size_t start = 0;
  while (start + 3 <= order.size() && !(order[start].second != order[start + 1].second &&
                                        order[start].second != order[start + 2].second &&
                                        order[start + 1].second != order[start + 2].second)) {
    ++start;
  }
  ASSERT_LE(start, 3u) << "round-robin never started";
  for (size_t k = start; k + 3 <= order.size() - 3; ++k) {
    EXPECT_EQ(order[k].second, order[k + 3].second) << "turn order broke at token " << k;
  }
  // And one token per model step: consecutive tokens are a 3 ms step apart, never a burst
  // (batch mode publishes all three within microseconds).
  for (size_t k = start + 1; k < order.size(); ++k) {
    EXPECT_GT(order[k].first - order[k - 1].first, 1'500'000u) << "two tokens in one step at " << k;
  }
}

TEST(Scheduling, BatchModeStepsEveryRunningSequenceTogether) {
  const auto order = publish_order("batch");
  ASSERT_EQ(order.size(), 24u);
  // One step = one token for each stream, published together; steps are 3 ms apart. So the
  // 24 tokens fall into about 8 bursts, each spanning far less than a step.
  size_t bursts = 1;
  for (size_t k = 1; k < order.size(); ++k) {
    if (order[k].first - order[k - 1].first > 1'500'000) ++bursts;
  }
  EXPECT_LE(bursts, 12u);  // a little slack for a preempted flush on a busy machine
  EXPECT_GE(bursts, 8u);
}

}  // namespace
}  // namespace ringserve::testing

namespace ringserve::testing {
namespace {

TEST(Metrics, LatencyHistogramsCountEveryRequestAndToken) {
  Daemon daemon({"--set", "model.echo_step_delay_us=2000"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  for (int r = 0; r < 4; ++r) {
    std::unique_ptr<Stream> stream;
    ASSERT_TRUE(client->generate("metrics", tokens(5), &stream).ok());
    Token t;
    while (stream->next(&t, 5s).ok()) {
    }
  }
  // The step counters are stored at the end of the loop iteration, after the flush that
  // published the last token: a client can see its request finished one iteration before the
  // step that finished it is counted (seen as 19 steps with a busy second core).
  DaemonStatus st;
  ASSERT_TRUE(eventually([&] {
    return client->status(&st).ok() && st.end_to_end.count == 4 && st.steps >= 20;
  })) << st.end_to_end.count
      << " requests, " << st.steps << " steps";
  EXPECT_EQ(st.queue_wait.count, 4u);
  EXPECT_EQ(st.time_to_first_token.count, 4u);
  EXPECT_EQ(st.inter_token.count, 4u * 4u);
  // Steps are 2 ms apart: inter-token latency's median bucket is the one holding 2 ms
  // ((1.024, 2.048] ms upper edge 2.048) or the next, never below a step.
  EXPECT_GE(st.inter_token.p50_ms, 2.0);
  EXPECT_LE(st.inter_token.p50_ms, 4.1);
  // End to end covers 5 steps.
  EXPECT_GE(st.end_to_end.p50_ms, 8.0);
  // 20 steps ran, each sleeping 2 ms in the backend; the daemon's own share is counted apart.
  EXPECT_EQ(st.steps, 20u);
  EXPECT_GE(st.backend_ms_per_step, 1.9);
  EXPECT_GT(st.daemon_us_per_step, 0.0);
  EXPECT_LT(st.daemon_us_per_step, st.backend_ms_per_step * 1000);
}

}  // namespace
}  // namespace ringserve::testing

namespace ringserve::testing {
namespace {

TEST(Metrics, RequestsListsRunningThenWaitingInQueueOrder) {
  Daemon daemon({"--set", "model.echo_step_delay_us=20000", "--set", "scheduler.max_concurrent=2"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::vector<std::unique_ptr<Stream>> streams(4);
  for (auto& s : streams) ASSERT_TRUE(client->generate("listed", tokens(50), &s).ok());
  std::vector<RequestSummary> list;
  ASSERT_TRUE(eventually([&] {
    return client->requests(&list).ok() && list.size() == 4 && !list[2].running &&
           list[2].queue_position == 1 && list[0].tokens_generated > 0;
  })) << list.size();
  EXPECT_TRUE(list[0].running);
  EXPECT_TRUE(list[1].running);
  EXPECT_FALSE(list[3].running);
  EXPECT_EQ(list[3].queue_position, 2u);
  EXPECT_EQ(list[0].owner_pid, ::getpid());
  for (auto& s : streams) s->cancel();
}

}  // namespace
}  // namespace ringserve::testing

namespace ringserve::testing {
namespace {

TEST(Metrics, WaitingRequestsGetAWaitEstimateFromTheDepartureRate) {
  // One running request at a time; each takes 10 steps of 5 ms.
  Daemon daemon({"--set", "model.echo_step_delay_us=5000", "--set", "scheduler.max_concurrent=1"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::vector<std::unique_ptr<Stream>> streams(5);
  for (auto& s : streams) ASSERT_TRUE(client->generate("estimate", tokens(10), &s).ok());
  // After two requests have left, the last one waits at position 2 and the daemon has seen
  // departures ~50 ms apart: its estimate is about 100 ms.
  Token t;
  for (int i = 0; i < 2; ++i) {
    while (streams[static_cast<size_t>(i)]->next(&t, 5s).ok()) {
    }
  }
  RequestInfo info;
  ASSERT_TRUE(eventually([&] {
    info = streams[4]->info();
    return info.queue_position == 2 && info.wait_estimate_ms != 0;
  })) << info.queue_position
      << " " << info.wait_estimate_ms;
  EXPECT_GE(info.wait_estimate_ms, 40u);
  EXPECT_LE(info.wait_estimate_ms, 400u);
  for (auto& s : streams) s->cancel();
}

}  // namespace
}  // namespace ringserve::testing

namespace ringserve::testing {
namespace {

TEST(Scheduling, WaitingRequestsTimeOutOrCancelAndGiveTheirPlaceBack) {
  Daemon daemon({"--set", "model.echo_step_delay_us=10000", "--set", "scheduler.max_concurrent=1",
                 "--set", "scheduler.max_queue=2"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::unique_ptr<Stream> running, timed, cancelled, extra;
  ASSERT_TRUE(client->generate("hold", tokens(200), &running).ok());  // ~2 s of steps
  GenerateParams p = tokens(5);
  p.queue_timeout_ms = 100;
  ASSERT_TRUE(client->generate("impatient", p, &timed).ok());
  ASSERT_TRUE(client->generate("cancel me", tokens(5), &cancelled).ok());
  // The line is full (max_queue 2): one more is refused.
  Token t;
  ASSERT_TRUE(client->generate("extra", tokens(5), &extra).ok());
  EXPECT_EQ(extra->next(&t, 5s).code(), ErrorCode::kQueueFull);

  const auto t0 = std::chrono::steady_clock::now();
  while (timed->next(&t, 5s).ok()) {
  }
  EXPECT_EQ(timed->finish_reason(), FinishReason::kTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);

  cancelled->cancel();
  while (cancelled->next(&t, 5s).ok()) {
  }
  EXPECT_EQ(cancelled->finish_reason(), FinishReason::kCancelled);
  // Both places are free again: two new requests wait instead of being refused.
  DaemonStatus st;
  ASSERT_TRUE(eventually([&] { return client->status(&st).ok() && st.waiting == 0; }));
  std::unique_ptr<Stream> a, b;
  EXPECT_TRUE(client->generate("a", tokens(1), &a).ok());
  EXPECT_TRUE(client->generate("b", tokens(1), &b).ok());
  running->cancel();
}

}  // namespace
}  // namespace ringserve::testing
