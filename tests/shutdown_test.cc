// SIGTERM as a client sees it: requests running when the daemon is asked to stop finish inside
// the drain (scheduler.drain_timeout_ms) or end with `shutting down` when it runs out -- never
// `daemon gone` -- and anything new, from a client connected before or one connecting now,
// gets `shutting down` at once.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

using namespace std::chrono_literals;

GenerateParams tokens(uint32_t n) {
  GenerateParams p;
  p.max_tokens = n;
  return p;
}

TEST(Shutdown, RunningRequestsFinishInsideTheDrainAndNewOnesAreToldShuttingDown) {
  Daemon daemon({"--set", "model.echo_step_delay_us=20000"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("abcd", tokens(40), &stream).ok());
  Token t;
  ASSERT_TRUE(stream->next(&t).ok());
  std::string got = t.text;
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);

  // A client connecting now is told so at once (once the daemon has seen the signal, at its
  // next step), not `daemon not running` after its ready timeout.
  Status s;
  EXPECT_TRUE(eventually(
      [&] {
        std::unique_ptr<Client> late;
        const auto asked = std::chrono::steady_clock::now();
        s = Client::connect(daemon.name(), &late);
        EXPECT_LT(std::chrono::steady_clock::now() - asked, 500ms) << s.to_string();
        return s.code() == ErrorCode::kShuttingDown;
      },
      2s))
      << s.to_string();
  // One connected before: its new request is refused the same way.
  std::unique_ptr<Stream> refused;
  s = client->generate("new", tokens(3), &refused);
  if (s.ok()) {
    s = refused->next(&t);  // refused by the daemon rather than by the library
  }
  EXPECT_EQ(s.code(), ErrorCode::kShuttingDown) << s.to_string();

  // The running one gets every token and a normal end.
  while ((s = stream->next(&t)).ok()) got += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  EXPECT_EQ(stream->finish_reason(), FinishReason::kLength);
  EXPECT_EQ(got.size(), 40u);
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.errors;
}

TEST(Shutdown, ADrainThatRunsOutEndsRunningRequestsWithShuttingDown) {
  Daemon daemon(
      {"--set", "model.echo_step_delay_us=50000", "--set", "scheduler.drain_timeout_ms=300"});
  ASSERT_TRUE(daemon.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(client->generate("xyz", tokens(1000), &stream).ok());
  Token t;
  ASSERT_TRUE(stream->next(&t).ok());
  ASSERT_EQ(::kill(daemon.pid(), SIGTERM), 0);
  const auto start = std::chrono::steady_clock::now();
  Status s;
  int more = 0;
  while ((s = stream->next(&t)).ok()) ++more;
  EXPECT_EQ(s.code(), ErrorCode::kShuttingDown) << s.to_string();
  EXPECT_NE(s.message().find("drain"), std::string::npos) << s.message();
  EXPECT_TRUE(stream->done());
  EXPECT_GT(more, 0);  // what it made inside the drain came first
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  const ProcessResult stopped = daemon.stop();
  EXPECT_EQ(stopped.exit_code, 0) << stopped.errors;
}

}  // namespace
}  // namespace ringserve::testing
