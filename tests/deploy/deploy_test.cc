// Two daemons, two gateways and HAProxy in front of them on loopback, as docs/DEPLOY.md deploys
// them: clients stream completions through HAProxy while one daemon is killed (SIGKILL). The
// requests in flight on it may fail; every request that starts once HAProxy's health checks
// had time to mark its gateway down (interval x fall count, plus a margin) must succeed
// through the other. Skips (exit 77, ctest's SKIP_RETURN_CODE) only when haproxy is not
// installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/daemon_process.h"
#include "tests/deploy/haproxy_process.h"
#include "tests/gateway/gateway_harness.h"

namespace ringserve::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// As in haproxy.cfg.in: `inter 200ms fall 2`.
constexpr milliseconds kCheckInterval{200};
constexpr int kFall = 2;
// Health checks are not aligned with the kill, and the machine running the test is busy.
constexpr milliseconds kMargin{1000};
constexpr int kClients = 4;
constexpr int kMaxTokens = 24;
// An echo step of 10 ms: a request takes about a quarter of a second, like a short answer.
constexpr const char* kStepDelay = "model.echo_step_delay_us=10000";

struct Outcome {
  Clock::time_point start;
  Clock::time_point end;
  bool ok = false;
  int status = 0;
  std::string server;  // X-Ringserve-Server: the gateway HAProxy chose
  std::string problem;
};

// The body of a chunked response; a truncated one yields what arrived.
std::string dechunk(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    const size_t line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    const size_t size = std::strtoul(body.c_str() + at, nullptr, 16);
    if (size == 0) break;
    out += body.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

std::string expected_text(const std::string& prompt, int tokens) {
  std::string text;
  for (int i = 0; i < tokens; ++i) text += prompt[static_cast<size_t>(i) % prompt.size()];
  return text;
}

// One streaming completion through HAProxy on its own connection.
Outcome stream_completion(int port, const std::string& prompt) {
  Outcome o;
  o.start = Clock::now();
  const int fd = connect_to(port);
  if (fd < 0) {
    o.problem = "connect failed";
    o.end = Clock::now();
    return o;
  }
  const std::string body =
      nlohmann::json{{"prompt", prompt}, {"max_tokens", kMaxTokens}, {"stream", true}}.dump();
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
      "Content-Type: application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  std::string raw;
  if (send_all(fd, request)) {
    // Connection: close, so the whole response ends with the connection.
    raw = read_until(fd, std::string(1, '\0'), milliseconds(20000));
  }
  ::close(fd);
  o.end = Clock::now();
  const HttpResult r = parse_http(raw);
  o.status = r.status;
  o.server = r.header("X-Ringserve-Server");
  bool done = false;
  const std::vector<nlohmann::json> events = sse_events(dechunk(r.body), &done);
  const std::string text = sse_text(events);
  if (r.status != 200) {
    o.problem = "status " + std::to_string(r.status);
  } else if (!done) {
    o.problem = "stream ended without [DONE] after " + std::to_string(text.size()) + " tokens";
    for (const nlohmann::json& e : events) {
      if (e.contains("error")) o.problem += ", error event: " + e["error"]["message"].dump();
    }
  } else if (text != expected_text(prompt, kMaxTokens)) {
    o.problem = "wrong text: " + text;
  } else {
    o.ok = true;
  }
  return o;
}

TEST(DeployTest, RequestsAfterTheHealthChecksAllSucceedThroughTheSurvivingDaemon) {
  Daemon daemon_a({"--set", kStepDelay});
  Daemon daemon_b({"--set", kStepDelay});
  // A daemon killed with SIGKILL leaves its segment behind; removed at the end, even on failure.
  struct SegmentRemover {
    std::string path;
    ~SegmentRemover() { ::unlink(path.c_str()); }
  } remove_segment{"/dev/shm/ringserve." + daemon_a.name()};
  ASSERT_TRUE(daemon_a.ready() && daemon_b.ready());
  Gateway gateway_a(daemon_a.name());
  Gateway gateway_b(daemon_b.name());
  ASSERT_TRUE(gateway_a.ready()) << gateway_a.log();
  ASSERT_TRUE(gateway_b.ready()) << gateway_b.log();
  HaProxy haproxy(HAPROXY_CONFIG_TEMPLATE, gateway_a.port(), gateway_b.port());
  ASSERT_TRUE(haproxy.ready()) << haproxy.log();
  ASSERT_TRUE(eventually(
      [&] {
        return haproxy.server_status("gateways", "a") == "UP" &&
               haproxy.server_status("gateways", "b") == "UP";
      },
      milliseconds(5000)))
      << haproxy.admin("show stat") << haproxy.log();

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Outcome> outcomes;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; !stop.load(); ++i) {
        const Outcome o = stream_completion(
            haproxy.port(), "c" + std::to_string(c) + "r" + std::to_string(i) + " ");
        const std::lock_guard<std::mutex> lock(mu);
        outcomes.push_back(o);
      }
    });
  }
  // Joined even when an assertion below fails.
  struct Joiner {
    std::atomic<bool>* stop;
    std::vector<std::thread>* threads;
    ~Joiner() {
      stop->store(true);
      for (std::thread& t : *threads) t.join();
    }
  } joiner{&stop, &clients};

  std::this_thread::sleep_for(milliseconds(1500));
  const Clock::time_point killed = Clock::now();
  daemon_a.kill_hard();
  const bool marked_down =
      eventually([&] { return haproxy.server_status("gateways", "a").rfind("DOWN", 0) == 0; },
                 milliseconds(5000));
  const auto detection = std::chrono::duration_cast<milliseconds>(Clock::now() - killed);
  const Clock::time_point settled = killed + kCheckInterval * (kFall + 1) + kMargin;
  std::this_thread::sleep_until(settled + milliseconds(2500));
  stop.store(true);
  for (std::thread& t : clients) t.join();
  clients.clear();

  EXPECT_TRUE(marked_down) << haproxy.admin("show stat") << haproxy.log();
  EXPECT_EQ(haproxy.server_status("gateways", "b"), "UP");
  std::map<std::string, int> served_before;  // gateway -> requests finished before the kill
  std::map<std::string, int> failures;       // problem -> count, for requests before `settled`
  int after = 0;
  for (const Outcome& o : outcomes) {
    if (o.end < killed && o.ok) ++served_before[o.server];
    if (o.start < settled) {
      if (!o.ok) ++failures[o.server + ": " + o.problem];
      continue;
    }
    ++after;
    EXPECT_TRUE(o.ok) << "a request started "
                      << std::chrono::duration_cast<milliseconds>(o.start - killed).count()
                      << " ms after the kill failed: " << o.problem;
    EXPECT_EQ(o.server, "b");
  }
  // leastconn spread the load over both before the kill.
  EXPECT_GT(served_before["a"], 0);
  EXPECT_GT(served_before["b"], 0);
  EXPECT_GE(after, kClients * 4) << "too few requests after the health checks to judge";

  std::printf(
      "%zu requests; gateway a marked DOWN %lld ms after the kill; before the kill a "
      "served %d, b %d; %d started after kill + %lld ms, all through b\n",
      outcomes.size(), static_cast<long long>(detection.count()), served_before["a"],
      served_before["b"], after,
      static_cast<long long>(std::chrono::duration_cast<milliseconds>(settled - killed).count()));
  for (const auto& [problem, count] : failures) {
    std::printf("  failed before settling: %d x %s\n", count, problem.c_str());
  }
}

}  // namespace
}  // namespace ringserve::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (ringserve::testing::haproxy_path().empty()) {
    std::printf(
        "SKIP: haproxy is not installed (Debian: apt-get install haproxy; "
        "scripts/install-deps installs it)\n");
    return 77;
  }
  return RUN_ALL_TESTS();
}
