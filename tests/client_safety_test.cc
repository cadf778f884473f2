// The client library against a misbehaving daemon or segment (issue 18): a live header
// rewritten after connect, a stopped daemon, a request the daemon ended without a final entry
// or took away, the daemon's detail behind a failed request, a squatted daemon name and lock.
//
// Most tests run a real ringserved (echo backend) and real client processes. Those about what
// the client does with the daemon's half of the protocol use a fake daemon instead: this
// process creates a segment, marks it ready, and plays the daemon's part by hand (taking the
// request, publishing entries, finishing it), so each case is exact and needs no timing luck.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "ringserve/client.h"
#include "shm/atomics.h"
#include "shm/clock.h"
#include "shm/layout.h"
#include "shm/membarrier.h"
#include "shm/process.h"
#include "shm/request_ring.h"
#include "shm/segment.h"
#include "shm/slot.h"
#include "shm/token_ring.h"
#include "tests/daemon_process.h"
#include "tests/test_support.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string echo_of(const std::string& prompt, size_t max_tokens) {
  std::string out;
  for (size_t k = 0; k < max_tokens; ++k) out += prompt[k % prompt.size()];
  return out;
}

GenerateParams tokens(uint32_t n) {
  GenerateParams p;
  p.max_tokens = n;
  return p;
}

// Runs `body` in a child process, so that a crash fails the test instead of ending it.
// Returns "exit N" / "signal N" and what the body returned (its report; "" = all good).
struct ChildResult {
  int status = -1;  // exit code, or 128 + signal
  std::string report;
};
ChildResult in_child(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    const std::string report = body();
    const ssize_t ignored = ::write(pipe_fds[1], report.data(), report.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ChildResult r;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) r.report.append(buf, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Sends SIGCONT when it goes out of scope, so a failing test never leaves a stopped daemon.
struct ContinueOnExit {
  pid_t pid;
  ~ContinueOnExit() { ::kill(pid, SIGCONT); }
};

// A ready header for a segment of `shape`, as a daemon of pid `pid` would write it.
void fill_ready_header(shm::SegmentHeader* h, const shm::SegmentShape& shape, pid_t pid,
                       uint64_t start_time) {
  shm::write_geometry(h, shape);
  h->wait_mode = static_cast<uint32_t>(shm::WaitMode::kFutex);
  h->daemon_pid = pid;
  h->spin_ns = 0;
  h->daemon_start_time = start_time;
  h->max_tokens_limit = 100;
  h->max_concurrent = 4;
  h->max_queue = 4;
  h->max_priority = 10;
  h->heartbeat_ns = shm::monotonic_ns();
  shm::store(h->state, static_cast<uint32_t>(shm::SegmentState::kReady), std::memory_order_release);
}

// This process as the daemon of a segment it creates; it plays the daemon's part by hand.
class FakeDaemon {
 public:
  static constexpr shm::SegmentShape kShape{4, 256, 8};

  explicit FakeDaemon(uint32_t mode = 0600) : name_(unique_name("fake")) {
    std::string message;
    shm::SegmentAccess access;
    access.mode = mode;
    if (shm::Segment::create(name_, kShape, access, &segment_, &message) !=
        shm::SegmentError::kOk) {
      ADD_FAILURE() << message;
      return;
    }
    view_ = segment_->view();
    shm::RequestRingConsumer(view_.request_ring(), view_.geometry().request_ring_capacity, 0)
        .initialize();
    fill_ready_header(view_.header(), kShape, ::getpid(), shm::process_start_time(::getpid()));
    beater_ = std::thread([this] {
      while (!stop_.load()) {
        if (beating_.load()) shm::store(view_.header()->heartbeat_ns, shm::monotonic_ns());
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~FakeDaemon() {
    stop_ = true;
    if (beater_.joinable()) beater_.join();
  }

  const std::string& name() const { return name_; }
  const shm::SegmentView& view() const { return view_; }
  shm::SegmentHeader* header() const { return view_.header(); }

  // Stops refreshing the heartbeat and makes it `age` old (a stopped daemon).
  void freeze(std::chrono::milliseconds age) {
    beating_ = false;
    std::this_thread::sleep_for(30ms);  // a beat in flight lands first
    shm::store(header()->heartbeat_ns,
               shm::monotonic_ns() - static_cast<uint64_t>(age.count()) * 1'000'000);
  }
  void resume() { beating_ = true; }

  // Takes the submitted request (SUBMITTED -> QUEUED -> RUNNING), as the daemon's intake and
  // admission would. False if there is none.
  bool take(uint32_t* index, uint64_t* word) {
    for (uint32_t i = 0; i < kShape.slot_count; ++i) {
      if (shm::slot::take(view_.slot(i), word)) {
        *index = i;
        return shm::slot::admit(view_.slot(i), word);
      }
    }
    return false;
  }

  // Publishes one entry: a token's text, or the final entry.
  void publish(uint32_t index, std::string_view text, bool final_entry = false) {
    shm::TokenRingWriter writer(view_.token_ring(index), kShape.token_ring_capacity);
    writer.begin();
    shm::TokenEntry e{};
    e.token_id = final_entry ? -1 : 7;
    e.flags = final_entry ? shm::kTokenFinal : 0;
    e.text_length = static_cast<uint16_t>(text.size());
    std::memcpy(e.text, text.data(), text.size());
    e.published_ns = shm::monotonic_ns();
    writer.write(e);
    writer.publish();
  }

  // Ends the request: finish fields with `detail` (written as the daemon does, at the start
  // of the prompt area), the final entry when `final_entry`, then FINISHED.
  void end(uint32_t index, uint64_t* word, shm::FinishReason reason, shm::RequestError error,
           std::string_view detail, bool final_entry = true) {
    shm::SlotHeader* s = view_.slot(index);
    std::memcpy(view_.prompt(index), detail.data(), detail.size());
    shm::store(s->detail_length, static_cast<uint32_t>(detail.size()));
    shm::store(s->finish_reason, static_cast<uint32_t>(reason));
    shm::store(s->error_code, static_cast<uint32_t>(error));
    if (final_entry) publish(index, "", true);
    ASSERT_TRUE(shm::slot::finish(s, word));
  }

 private:
  std::string name_;
  std::unique_ptr<shm::Segment> segment_;
  shm::SegmentView view_;
  std::atomic<bool> beating_{true};
  std::atomic<bool> stop_{false};
  std::thread beater_;
};

std::unique_ptr<Client> connect_or_fail(const std::string& name, const ConnectOptions& o = {}) {
  std::unique_ptr<Client> client;
  const Status s = Client::connect(name, &client, o);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return client;
}

// ---- Item 4: honest clients trust only the geometry they checked at connect.

TEST(ClientSafety, HeaderRewrittenAfterConnectDoesNotCrashHonestClients) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<shm::Segment> raw;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &raw, &message),
            shm::SegmentError::kOk)
      << message;
  shm::SegmentHeader* h = raw->view().header();
  const shm::SegmentHeader saved = *h;
  const uint32_t slots = saved.slot_count;
  // What a process with access writes after an honest client connected: every field a client
  // could size or index memory with, and the limits it checks requests against.
  const auto scribble = [h] {
    h->slot_count = 0x7FFFFFFF;
    h->prompt_capacity = 0xFFFFFFFF;
    h->token_ring_capacity = 1u << 31;
    h->request_ring_capacity = 1u << 31;
    h->slot_stride = 0xFFFFFFC0;
    h->token_ring_stride = 0xFFFFFFC0;
    h->request_ring_offset = uint64_t{1} << 60;
    h->slot_table_offset = uint64_t{1} << 61;
    h->token_rings_offset = uint64_t{1} << 62;
    h->segment_bytes = ~uint64_t{0};
    h->max_tokens_limit = 0;
    h->wait_mode = 77;
    h->spin_ns = 0xFFFFFFFF;
  };
  const auto restore = [h, &saved] {
    h->slot_count = saved.slot_count;
    h->prompt_capacity = saved.prompt_capacity;
    h->token_ring_capacity = saved.token_ring_capacity;
    h->request_ring_capacity = saved.request_ring_capacity;
    h->slot_stride = saved.slot_stride;
    h->token_ring_stride = saved.token_ring_stride;
    h->request_ring_offset = saved.request_ring_offset;
    h->slot_table_offset = saved.slot_table_offset;
    h->token_rings_offset = saved.token_rings_offset;
    h->segment_bytes = saved.segment_bytes;
    h->max_tokens_limit = saved.max_tokens_limit;
    h->wait_mode = saved.wait_mode;
    h->spin_ns = saved.spin_ns;
  };
  // Each call in a process of its own: a crash in one must not hide the others.
  const auto honest = [&](const std::function<std::string(Client&)>& call) {
    return in_child([&]() -> std::string {
      std::unique_ptr<Client> client;
      const Status s = Client::connect(daemon.name(), &client);
      if (!s.ok()) return "connect: " + s.to_string();
      scribble();
      return call(*client);
    });
  };
  const ChildResult status = honest([&](Client& client) -> std::string {
    DaemonStatus st;
    const Status s = client.status(&st);
    if (!s.ok()) return "status: " + s.to_string();
    if (st.slots != slots) return "status reports " + std::to_string(st.slots) + " slots";
    if (st.pid != daemon.pid()) return "status reports pid " + std::to_string(st.pid);
    return "";
  });
  restore();
  EXPECT_EQ(status.status, 0) << "status() died (128 + signal)";
  EXPECT_EQ(status.report, "");
  const ChildResult requests = honest([](Client& client) -> std::string {
    std::vector<RequestSummary> list;
    const Status s = client.requests(&list);
    return s.ok() ? "" : "requests: " + s.to_string();
  });
  restore();
  EXPECT_EQ(requests.status, 0) << "requests() died (128 + signal)";
  EXPECT_EQ(requests.report, "");
  const ChildResult generate = honest([](Client& client) -> std::string {
    if (client.max_tokens_limit() == 0) return "max_tokens_limit() follows the live header";
    std::string got;
    for (int round = 0; round < 3; ++round) {  // enough to come round to the ring's cells
      std::unique_ptr<Stream> stream;
      Status s = client.generate("hello", tokens(5), &stream);
      if (!s.ok()) return "generate: " + s.to_string();
      Token t;
      got.clear();
      while ((s = stream->next(&t)).ok()) got += t.text;
      if (!s.end_of_stream()) return "next: " + s.to_string();
      if (got != "hello") return "streamed '" + got + "'";
    }
    return "";
  });
  restore();
  EXPECT_EQ(generate.status, 0) << "generate() died (128 + signal)";
  EXPECT_EQ(generate.report, "");
  // The daemon never believed the rewritten header either.
  const ProcessResult after = run({TEST_CLIENT_PATH, daemon.name(), "ok", "3"});
  EXPECT_EQ(after.output, "oko\nids 3\nfinish length\n");
}

TEST(ClientSafety, PriorityOutsideTheDaemonsBoundIsRefusedAtSubmission) {
  FakeDaemon daemon;  // max_priority 10
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->max_priority(), 10u);
  GenerateParams p = tokens(3);
  p.priority = 11;
  std::unique_ptr<Stream> stream;
  const Status s = client->generate("hi", p, &stream);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams) << s.to_string();
  EXPECT_NE(s.message().find("priority 11 is outside -10..10"), std::string::npos) << s.message();
  for (uint32_t i = 0; i < FakeDaemon::kShape.slot_count; ++i) {
    EXPECT_EQ(shm::word_state(shm::load(daemon.view().slot(i)->state_word)), shm::SlotState::kFree);
  }
  p.priority = -10;
  EXPECT_TRUE(client->generate("hi", p, &stream).ok());
}

// ---- Item 5: a stopped daemon must not hang its clients.

// A daemon busy in one long model step (a big prefill on a large model takes seconds) is
// responding: its heartbeat thread keeps the heartbeat fresh through the step, so a client
// whose bound is shorter than the step waits for its tokens instead of calling it dead.
TEST(ClientSafety, LongModelStepIsNotReportedAsNotResponding) {
  Daemon daemon({"--set", "model.echo_step_delay_us=1500000"});
  ASSERT_TRUE(daemon.ready());
  ConnectOptions options;
  options.daemon_timeout = 500ms;
  auto client = connect_or_fail(daemon.name(), options);
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("ab", tokens(2), &stream).ok());
  Token t;
  std::string got;
  Status s;
  while ((s = stream->next(&t)).ok()) got += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(got, "ab");
}

TEST(ClientSafety, StoppedDaemonIsReportedAsNotRespondingAndTheStreamGoesOn) {
  Daemon daemon({"--set", "model.echo_step_delay_us=2000"});
  ASSERT_TRUE(daemon.ready());
  ContinueOnExit resume{daemon.pid()};
  ConnectOptions options;
  options.daemon_timeout = 1000ms;
  auto client = connect_or_fail(daemon.name(), options);
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("abc", tokens(1500), &stream).ok());
  Token t;
  std::string got;
  ASSERT_TRUE(stream->next(&t).ok());
  got += t.text;
  ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);
  const auto stopped_at = std::chrono::steady_clock::now();
  // next() without a timeout: it drains what was published, then must come back.
  auto waiting = std::async(std::launch::async, [&] {
    Status s;
    while ((s = stream->next(&t)).ok()) got += t.text;
    return s;
  });
  if (waiting.wait_for(options.daemon_timeout + 10s) != std::future_status::ready) {
    ::kill(daemon.pid(), SIGCONT);  // lets the hung next() return, so the test can end
    waiting.wait();
    FAIL() << "next() did not return while the daemon was stopped";
  }
  const Status s = waiting.get();
  const auto waited = std::chrono::steady_clock::now() - stopped_at;
  EXPECT_EQ(s.code(), ErrorCode::kDaemonNotResponding) << s.to_string();
  EXPECT_NE(s.message().find("has not responded for"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(daemon.name()), std::string::npos) << s.message();
  EXPECT_GE(waited, options.daemon_timeout - 200ms);  // not before the bound
  EXPECT_FALSE(stream->done());
  EXPECT_EQ(std::string(to_string(s.code())), "daemon not responding");
  // Submitting is refused the same way; status still reads.
  std::unique_ptr<Stream> refused;
  EXPECT_EQ(client->generate("x", tokens(1), &refused).code(), ErrorCode::kDaemonNotResponding);
  DaemonStatus st;
  ASSERT_TRUE(client->status(&st).ok());
  EXPECT_GT(st.heartbeat_age_ns, 900'000'000u);
  // Resumed, the same stream goes on to its end, nothing lost.
  ASSERT_EQ(::kill(daemon.pid(), SIGCONT), 0);
  Status end;
  while ((end = stream->next(&t)).ok()) got += t.text;
  EXPECT_TRUE(end.end_of_stream()) << end.to_string();
  EXPECT_EQ(stream->finish_reason(), FinishReason::kLength);
  EXPECT_EQ(got, echo_of("abc", 1500));
  EXPECT_TRUE(client->generate("x", tokens(1), &refused).ok());
}

TEST(ClientSafety, RingctlTimeoutHoldsWhileTheDaemonIsStopped) {
  Daemon daemon({"--set", "model.echo_step_delay_us=10000"});
  ASSERT_TRUE(daemon.ready());
  ContinueOnExit resume{daemon.pid()};
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  int out = -1, err = -1;
  const pid_t ringctl = spawn({RINGCTL_PATH, "--name", daemon.name(), "generate", "x",
                               "--max-tokens", "1000", "--timeout-ms", "1000"},
                              &out, &err);
  ASSERT_GT(ringctl, 0);
  // Stop the daemon once the request runs (its tokens come every 10 ms for 10 s).
  ASSERT_TRUE(eventually(
      [&] {
        std::vector<RequestSummary> list;
        return client->requests(&list).ok() && !list.empty() && list[0].running;
      },
      10s));
  ASSERT_EQ(::kill(daemon.pid(), SIGSTOP), 0);
  const auto stopped_at = std::chrono::steady_clock::now();
  // Bounded, not hung: a ringctl still waiting after 10 s gets the daemon back (which then
  // ends the request by its own timeout) and the bound below fails the test.
  std::thread watchdog([&, pid = daemon.pid()] {
    for (int i = 0; i < 100 && ::kill(ringctl, 0) == 0; ++i) {
      std::this_thread::sleep_for(100ms);
    }
    ::kill(pid, SIGCONT);
  });
  const ProcessResult r = collect(ringctl, out, err);
  const auto waited = std::chrono::steady_clock::now() - stopped_at;
  watchdog.join();
  EXPECT_LT(waited, 6s) << "ringctl hung while the daemon was stopped";
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.errors.find("timeout"), std::string::npos) << r.errors;
  // Resumed, the daemon serves again and frees the abandoned request's slot.
  ::kill(daemon.pid(), SIGCONT);
  const ProcessResult again = run({TEST_CLIENT_PATH, daemon.name(), "hi", "3"});
  EXPECT_EQ(again.output, "hih\nids 3\nfinish length\n");
  EXPECT_TRUE(eventually(
      [&] {
        DaemonStatus st;
        return client->status(&st).ok() && st.slots_in_use == 0;
      },
      5s));
}

TEST(ClientSafety, StaleHeartbeatRefusesSubmissionAndNextReportsIt) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  daemon.freeze(5000ms);
  std::unique_ptr<Stream> stream;
  Status s = client->generate("hi", tokens(3), &stream);
  EXPECT_EQ(s.code(), ErrorCode::kDaemonNotResponding) << s.to_string();
  EXPECT_NE(s.message().find("has not responded for 5."), std::string::npos) << s.message();
  for (uint32_t i = 0; i < FakeDaemon::kShape.slot_count; ++i) {
    EXPECT_EQ(shm::word_state(shm::load(daemon.view().slot(i)->state_word)), shm::SlotState::kFree);
  }
  daemon.resume();
  ASSERT_TRUE(eventually([&] { return client->generate("hi", tokens(3), &stream).ok(); }));
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  daemon.freeze(5000ms);
  Token t;
  s = stream->next(&t, 2s);
  EXPECT_EQ(s.code(), ErrorCode::kDaemonNotResponding) << s.to_string();
  EXPECT_FALSE(stream->done());
  daemon.resume();
  daemon.publish(index, "z");
  s = stream->next(&t, 2s);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(t.text, "z");
  // daemon_timeout 0 never reports.
  daemon.freeze(5000ms);
  ConnectOptions patient;
  patient.daemon_timeout = 0ms;
  auto other = connect_or_fail(daemon.name(), patient);
  ASSERT_NE(other, nullptr);
  std::unique_ptr<Stream> accepted;
  EXPECT_TRUE(other->generate("hi", tokens(3), &accepted).ok());
}

TEST(ClientSafety, RequestDeadlineHoldsWithoutTheDaemon) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  GenerateParams p = tokens(50);
  p.total_timeout_ms = 300;
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", p, &stream).ok());
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  daemon.publish(index, "h");
  Token t;
  ASSERT_TRUE(stream->next(&t, 2s).ok());
  // The daemon (alive, heartbeat fresh) publishes nothing more and never times the request
  // out: the stream ends it by itself, past its deadline.
  const Status s = stream->next(&t, 3s);
  EXPECT_EQ(s.code(), ErrorCode::kTimeout) << s.to_string();
  EXPECT_NE(s.message().find("total_timeout_ms"), std::string::npos) << s.message();
  EXPECT_TRUE(stream->done());
  EXPECT_EQ(stream->finish_reason(), FinishReason::kTimeout);
  // It asked the daemon to stop the request and let go of the slot, for the daemon to free.
  const shm::SlotHeader* slot = daemon.view().slot(index);
  EXPECT_EQ(shm::load(slot->cancel_requested), shm::cancel_token(word));
  EXPECT_EQ(shm::load(slot->client_released), 1u);
  EXPECT_EQ(shm::load(slot->state_word), word);
}

// ---- A request the daemon ends without a final entry, or takes away.

TEST(ClientSafety, RequestFinishedWithoutAFinalEntryEndsTheStream) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", tokens(5), &stream).ok());
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  daemon.publish(index, "a");
  // As the daemon does when it cannot write a final entry (a corrupt ring tail).
  daemon.end(index, &word, shm::FinishReason::kError, shm::RequestError::kProtocolViolation,
             "the token ring's tail was corrupt", /*final_entry=*/false);
  Token t;
  ASSERT_TRUE(stream->next(&t, 2s).ok());  // what was published first is still read
  EXPECT_EQ(t.text, "a");
  const Status s = stream->next(&t, 3s);
  EXPECT_EQ(s.code(), ErrorCode::kProtocolError) << s.to_string();
  EXPECT_EQ(s.message(), "the token ring's tail was corrupt");
  EXPECT_TRUE(stream->done());
  EXPECT_EQ(stream->finish_reason(), FinishReason::kError);
  // Finished and read: the client freed the slot.
  EXPECT_EQ(shm::word_state(shm::load(daemon.view().slot(index)->state_word)),
            shm::SlotState::kFree);
}

// A client with access writes a head far ahead of the reader's tail and marks every entry
// "continued": reading on would append garbage for up to 2^32 entries (memory without bound).
TEST(ClientSafety, AnImpossibleRingHeadEndsTheStreamInsteadOfReadingGarbage) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  for (const uint32_t ahead : {FakeDaemon::kShape.token_ring_capacity + 1, 0x80000000u}) {
    std::unique_ptr<Stream> stream;
    ASSERT_TRUE(client->generate("hi", tokens(5), &stream).ok());
    uint32_t index = 0;
    uint64_t word = 0;
    ASSERT_TRUE(daemon.take(&index, &word));
    shm::TokenRingHeader* ring = daemon.view().token_ring(index);
    auto* entries = reinterpret_cast<shm::TokenEntry*>(ring + 1);
    for (uint32_t i = 0; i < FakeDaemon::kShape.token_ring_capacity; ++i) {
      entries[i] = shm::TokenEntry{};
      entries[i].flags = shm::kTokenContinued;
      entries[i].text_length = shm::kTokenTextCapacity;
    }
    shm::store(ring->head, ahead);
    Token t;
    const Status s = stream->next(&t, 2s);
    EXPECT_EQ(s.code(), ErrorCode::kProtocolError) << s.to_string();
    EXPECT_TRUE(stream->done());
    daemon.end(index, &word, shm::FinishReason::kCancelled, shm::RequestError::kNone, "",
               /*final_entry=*/false);
  }
}

TEST(ClientSafety, SlotTakenAwayEndsTheStreamWithoutTouchingTheSlot) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", tokens(5), &stream).ok());
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  shm::SlotHeader* slot = daemon.view().slot(index);
  ASSERT_TRUE(shm::slot::reclaim(slot, word));  // the daemon's sweep took it back
  Token t;
  const Status s = stream->next(&t, 3s);
  EXPECT_EQ(s.code(), ErrorCode::kProtocolError) << s.to_string();
  EXPECT_NE(s.message().find("request slot " + std::to_string(index) +
                             " was taken away from this stream"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(stream->done());
  // Someone else claims the slot; the old stream, closed now, must leave it alone.
  uint64_t theirs = 0;
  ASSERT_TRUE(shm::slot::claim(slot, 4242, &theirs));
  shm::store(slot->cancel_requested, 0u);
  shm::store(slot->client_released, 0u);
  stream.reset();
  EXPECT_EQ(shm::load(slot->state_word), theirs);
  EXPECT_EQ(shm::load(slot->cancel_requested), 0u);
  EXPECT_EQ(shm::load(slot->client_released), 0u);
}

// ---- The daemon's detail behind a failed request.

Status end_with(FakeDaemon& daemon, Client& client, shm::FinishReason reason,
                shm::RequestError error, std::string_view detail) {
  std::unique_ptr<Stream> stream;
  Status s = client.generate("hi", tokens(5), &stream);
  if (!s.ok()) return s;
  uint32_t index = 0;
  uint64_t word = 0;
  if (!daemon.take(&index, &word)) return {ErrorCode::kInternal, "nothing to take"};
  daemon.end(index, &word, reason, error, detail);
  Token t;
  s = stream->next(&t, 3s);
  EXPECT_TRUE(stream->done());
  return s;
}

TEST(ClientSafety, FailedRequestsCarryTheDaemonsDetail) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  const std::string too_long = "prompt is 1300 tokens; the context holds 1024 (prompt and output)";
  Status s = end_with(daemon, *client, shm::FinishReason::kError, shm::RequestError::kPromptTooLong,
                      too_long);
  EXPECT_EQ(s.code(), ErrorCode::kPromptTooLong);
  EXPECT_EQ(s.message(), too_long);
  s = end_with(daemon, *client, shm::FinishReason::kRejected, shm::RequestError::kQueueFull,
               "64 requests are waiting (scheduler.max_queue)");
  EXPECT_EQ(s.code(), ErrorCode::kQueueFull);
  EXPECT_EQ(s.message(), "64 requests are waiting (scheduler.max_queue)");
  // A request that stopped being read gave up its place: a timeout, with the daemon's words.
  s = end_with(daemon, *client, shm::FinishReason::kError, shm::RequestError::kClientStalled,
               "client stalled: its ring stayed full for 10000 ms");
  EXPECT_EQ(s.code(), ErrorCode::kTimeout);
  EXPECT_EQ(s.message(), "client stalled: its ring stayed full for 10000 ms");
  // Without a detail, the generic words.
  s = end_with(daemon, *client, shm::FinishReason::kError, shm::RequestError::kInvalidUtf8, "");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidUtf8);
  EXPECT_EQ(s.message(), "the daemon rejected the request");
}

TEST(ClientSafety, DetailLengthIsClampedToThePromptArea) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", tokens(5), &stream).ok());
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  const uint32_t capacity = FakeDaemon::kShape.prompt_capacity;
  daemon.end(index, &word, shm::FinishReason::kError, shm::RequestError::kInternal,
             std::string(capacity, 'd'));
  shm::store(daemon.view().slot(index)->detail_length, 0xFFFFFFFFu);  // past the slot table
  Token t;
  const Status s = stream->next(&t, 3s);
  EXPECT_EQ(s.code(), ErrorCode::kInternal);
  EXPECT_EQ(s.message(), std::string(capacity, 'd'));
}

TEST(ClientSafety, ReadingRingsTheDoorbellWhenTheDaemonWaitsForRoom) {
  FakeDaemon daemon;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", tokens(50), &stream).ok());
  uint32_t index = 0;
  uint64_t word = 0;
  ASSERT_TRUE(daemon.take(&index, &word));
  for (uint32_t i = 0; i < FakeDaemon::kShape.token_ring_capacity; ++i) daemon.publish(index, "r");
  // The ring is full and the daemon holds more: it asks for room and goes to sleep.
  shm::TokenRingWriter writer(daemon.view().token_ring(index),
                              FakeDaemon::kShape.token_ring_capacity);
  writer.begin();
  writer.request_room();
  ASSERT_TRUE(shm::heavy_fence());
  ASSERT_FALSE(writer.has_room(1));
  shm::SegmentHeader* h = daemon.header();
  shm::store(h->daemon_sleeping, 1u);
  const uint32_t doorbell = shm::load(h->doorbell_seq);
  Token t;
  ASSERT_TRUE(stream->next(&t, 2s).ok());
  EXPECT_EQ(shm::load(h->doorbell_seq), doorbell + 1);
  EXPECT_EQ(shm::load(h->daemon_sleeping), 0u);
  EXPECT_EQ(shm::load(daemon.view().token_ring(index)->daemon_waiting_room), 0u);
  // Without a request for room, reading rings nothing.
  shm::store(h->daemon_sleeping, 1u);
  ASSERT_TRUE(stream->next(&t, 2s).ok());
  EXPECT_EQ(shm::load(h->doorbell_seq), doorbell + 1);
}

// End to end: a request the real daemon rejects for a reason the client did not check carries
// the daemon's words. The client is made to believe a larger max_tokens_limit (the header is
// raised before it connects); the daemon checks against its own.
TEST(ClientSafety, RealDaemonsRejectionDetailReachesTheClient) {
  Daemon daemon({"--set", "scheduler.max_tokens_limit=100"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<shm::Segment> raw;
  std::string message;
  ASSERT_EQ(shm::Segment::open(daemon.name(), 1'000'000'000, &raw, &message),
            shm::SegmentError::kOk);
  raw->view().header()->max_tokens_limit = 1000;
  auto client = connect_or_fail(daemon.name());
  ASSERT_NE(client, nullptr);
  raw->view().header()->max_tokens_limit = 100;
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("hi", tokens(500), &stream).ok());
  Token t;
  const Status s = stream->next(&t);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidParams) << s.to_string();
  EXPECT_NE(s.message().find("max_tokens"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("500"), std::string::npos) << s.message();
}

// ---- Item 8: another Unix user squatting a daemon name.

// Creates /dev/shm/ringserve.NAME as uid `uid`, with a ready header naming this process as its
// daemon (alive, so only the owner check can refuse it). Returns the child's exit code.
int squat_segment(uid_t uid, const std::string& name, uint32_t mode) {
  const pid_t daemon_pid = ::getpid();
  const uint64_t start_time = shm::process_start_time(daemon_pid);
  return as_user(uid, [&] {
    const int fd =
        ::shm_open(("/" + shm::segment_object_name(name)).c_str(), O_CREAT | O_EXCL | O_RDWR, mode);
    if (fd < 0 || ::fchmod(fd, mode) != 0) return 1;
    const shm::SegmentShape shape = FakeDaemon::kShape;
    const uint64_t bytes = shm::segment_geometry(shape).segment_bytes;
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return 2;
    void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) return 3;
    fill_ready_header(shm::header_at(base), shape, daemon_pid, start_time);
    return 0;
  });
}

TEST(ClientSafety, SegmentOfAnotherUserIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to create a segment as another user";
  const uid_t squatter = unused_id(62000);
  const std::string name = unique_name("squat");
  const std::string path = "/dev/shm/" + shm::segment_object_name(name);
  ASSERT_EQ(squat_segment(squatter, name, 0644), 0);
  struct Cleanup {
    std::string path;
    ~Cleanup() { ::unlink(path.c_str()); }
  } cleanup{path};
  std::unique_ptr<Client> client;
  Status s = Client::connect(name, &client);
  EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied) << s.to_string();
  EXPECT_NE(s.message().find("owned by uid " + std::to_string(squatter)), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("RINGSERVE_DAEMON_UID"), std::string::npos) << s.message();
  // ringctl, as root, hands the squatter nothing: no slot of its segment was touched.
  const ProcessResult r =
      run({RINGCTL_PATH, "--name", name, "generate", "my secret", "--max-tokens", "3"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.output + r.errors).find("permission denied"), std::string::npos) << r.errors;
  std::unique_ptr<shm::Segment> raw;
  std::string message;
  ASSERT_EQ(shm::Segment::open(name, 1'000'000'000, &raw, &message, {int64_t{squatter}}),
            shm::SegmentError::kOk)
      << message;
  for (uint32_t i = 0; i < FakeDaemon::kShape.slot_count; ++i) {
    EXPECT_EQ(shm::load(raw->view().slot(i)->state_word), 0u);
  }
  // The daemon's user, when configured, is trusted: by option, or by the environment (a uid or
  // a user name), which ringctl and Python get without code changes.
  ConnectOptions options;
  options.daemon_uid = squatter;
  s = Client::connect(name, &client, options);
  EXPECT_TRUE(s.ok()) << s.to_string();
  ::setenv("RINGSERVE_DAEMON_UID", std::to_string(squatter).c_str(), 1);
  s = Client::connect(name, &client);
  EXPECT_TRUE(s.ok()) << s.to_string();
  ::setenv("RINGSERVE_DAEMON_UID", "root", 1);
  EXPECT_EQ(Client::connect(name, &client).code(), ErrorCode::kPermissionDenied);
  ::setenv("RINGSERVE_DAEMON_UID", "no-such-user-ringserve", 1);
  s = Client::connect(name, &client);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find("no-such-user-ringserve"), std::string::npos) << s.message();
  ::unsetenv("RINGSERVE_DAEMON_UID");
}

TEST(ClientSafety, SegmentWritableByOthersIsRefusedAndByItsGroupAccepted) {
  {
    FakeDaemon daemon(0666);
    std::unique_ptr<Client> client;
    const Status s = Client::connect(daemon.name(), &client);
    EXPECT_EQ(s.code(), ErrorCode::kPermissionDenied) << s.to_string();
    EXPECT_NE(s.message().find("mode 0666"), std::string::npos) << s.message();
  }
  {
    FakeDaemon daemon(0602);
    std::unique_ptr<Client> client;
    EXPECT_EQ(Client::connect(daemon.name(), &client).code(), ErrorCode::kPermissionDenied);
  }
  {
    // transport.group with 0660: the group its trusted owner chose may write.
    FakeDaemon daemon(0660);
    connect_or_fail(daemon.name());
  }
}

// A ringserved started by hand (the Daemon fixture picks its own name); ready when a client
// connects, or gone.
struct HandDaemon {
  pid_t pid = -1;
  int out = -1, err = -1;
  bool ready = false;
  HandDaemon(const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> argv{RINGSERVED_PATH, "--name", name, "--set", "model.backend=echo"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    pid = spawn(argv, &out, &err);
    bool exited = false;
    eventually(
        [&] {
          siginfo_t info{};
          // WNOWAIT: an exited daemon stays to be reaped by collect(), which says why.
          exited =
              ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
              info.si_pid == pid;
          std::unique_ptr<Client> c;
          ConnectOptions o;
          o.ready_timeout = 10ms;
          ready = !exited && Client::connect(name, &c, o).ok();
          return exited || ready;
        },
        30s);
  }
  ProcessResult stop() {
    ::kill(pid, SIGTERM);
    return collect(pid, out, err);
  }
};

TEST(ClientSafety, LockFileOfAnotherUserInDevShmDoesNotBlockTheDaemon) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to hold a lock as another user";
  const uid_t squatter = unused_id(63000);
  const std::string name = unique_name("lock");
  const std::string old_lock = "/dev/shm/ringserve." + name + ".lock";
  int ready_pipe[2], hold_pipe[2];
  ASSERT_EQ(::pipe(ready_pipe), 0);
  ASSERT_EQ(::pipe(hold_pipe), 0);
  const pid_t holder = ::fork();
  if (holder == 0) {
    ::close(ready_pipe[0]);
    ::close(hold_pipe[1]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(squatter) != 0 || ::setuid(squatter) != 0) {
      ::_exit(90);
    }
    const int fd = ::open(old_lock.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) ::_exit(1);
    const ssize_t ignored = ::write(ready_pipe[1], "x", 1);
    (void)ignored;
    char c;
    while (::read(hold_pipe[0], &c, 1) > 0) {
    }
    ::_exit(0);
  }
  ::close(ready_pipe[1]);
  ::close(hold_pipe[0]);
  char c = 0;
  ASSERT_EQ(::read(ready_pipe[0], &c, 1), 1) << "the squatter could not take the lock";
  HandDaemon daemon(name, {});
  EXPECT_TRUE(daemon.ready);
  if (daemon.ready) {
    const ProcessResult served = run({TEST_CLIENT_PATH, name, "hi", "3"});
    EXPECT_EQ(served.output, "hih\nids 3\nfinish length\n");
  }
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, daemon.ready ? 0 : 1) << stopped.errors;
  ::close(hold_pipe[1]);
  ::close(ready_pipe[0]);
  ::waitpid(holder, nullptr, 0);
  ::unlink(old_lock.c_str());
}

TEST(ClientSafety, LockDirIsCreatedPrivateAndExcludesASecondDaemon) {
  const fs::path dir = fs::path("/tmp") / unique_name("ringserve-lockdir");
  const std::string name = unique_name("lockdir");
  HandDaemon first(name, {"--set", "daemon.lock_dir=" + dir.string()});
  ASSERT_TRUE(first.ready);
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  const fs::path lock = dir / ("ringserve." + name + ".lock");
  EXPECT_TRUE(fs::exists(lock));
  const ProcessResult second = run({RINGSERVED_PATH, "--name", name, "--set", "model.backend=echo",
                                    "--set", "daemon.lock_dir=" + dir.string()});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.errors.find("already running"), std::string::npos) << second.errors;
  EXPECT_EQ(first.stop().exit_code, 0);
  EXPECT_FALSE(fs::exists(lock));
  fs::remove_all(dir);
}

TEST(ClientSafety, LockDirOthersCanWriteOrThatIsNotOursIsRefused) {
  const fs::path base = fs::path("/tmp") / unique_name("ringserve-lockdirs");
  fs::create_directory(base);
  const auto start = [](const fs::path& dir) {
    return run({RINGSERVED_PATH, "--name", unique_name("lockdir"), "--set", "model.backend=echo",
                "--set", "daemon.lock_dir=" + dir.string()});
  };
  const fs::path loose = base / "loose";
  ASSERT_EQ(::mkdir(loose.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(loose.c_str(), 0777), 0);
  ProcessResult r = start(loose);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("has mode 0777"), std::string::npos) << r.errors;
  const fs::path link = base / "link";
  const fs::path target = base / "target";
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  r = start(link);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.errors.find("not a symlink"), std::string::npos) << r.errors;
  r = start("relative/dir");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.errors.find("daemon.lock_dir"), std::string::npos) << r.errors;
  if (::geteuid() == 0) {
    const uid_t other = unused_id(63500);
    const fs::path theirs = base / "theirs";
    ASSERT_EQ(::mkdir(theirs.c_str(), 0700), 0);
    ASSERT_EQ(::chown(theirs.c_str(), other, other), 0);
    r = start(theirs);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.errors.find("belongs to uid " + std::to_string(other)), std::string::npos)
        << r.errors;
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace ringserve::testing
