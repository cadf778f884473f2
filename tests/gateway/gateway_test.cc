// ringserve-http end to end: a real ringserved (echo backend, or the built-in model for chat),
// a real ringserve-http on a free port, curl and raw sockets as clients.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "ringserve/client.h"
#include "tests/daemon_process.h"
#include "tests/gateway/gateway_harness.h"

namespace ringserve::testing {
namespace {

using nlohmann::json;

std::string completion_body(const std::string& prompt, int max_tokens, bool stream,
                            bool usage = false) {
  json j = {{"prompt", prompt}, {"max_tokens", max_tokens}, {"stream", stream}};
  if (usage) j["stream_options"] = {{"include_usage", true}};
  return j.dump();
}

// What the daemon streams for a prompt, read directly through the client library.
std::string direct_text(const std::string& daemon, const std::string& prompt, uint32_t max_tokens,
                        const std::vector<ChatMessage>& chat = {}) {
  std::unique_ptr<Client> client;
  EXPECT_TRUE(Client::connect(daemon, &client).ok());
  GenerateParams p;
  p.max_tokens = max_tokens;
  p.temperature = 0;
  std::unique_ptr<Stream> stream;
  Status s = chat.empty() ? client->generate(prompt, p, &stream) : client->chat(chat, p, &stream);
  std::string text;
  Token t;
  while (s.ok() && (s = stream->next(&t)).ok()) text += t.text;
  EXPECT_TRUE(s.end_of_stream()) << s.to_string();
  return text;
}

TEST(Gateway, CompletionsNonStreamingAndStreaming) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready()) << gw.log();

  HttpResult r = curl(gw.url("/v1/completions"), completion_body("abc", 7, false));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "abcabca");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 7);
  EXPECT_EQ(j["usage"]["total_tokens"], 10);
  EXPECT_EQ(j["model"], "echo");

  r = curl(gw.url("/v1/completions"), completion_body("xyz", 11, true, true));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/event-stream");
  bool done = false;
  const std::vector<json> events = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(sse_text(events), "xyzxyzxyzxy");
  const json& last_choice = events[events.size() - 2]["choices"][0];
  EXPECT_EQ(last_choice["finish_reason"], "length");
  const json& usage = events.back();
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 11);  // the tokens the stream carried
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 3);
  for (size_t i = 0; i + 1 < events.size(); ++i) EXPECT_TRUE(events[i]["usage"].is_null());

  // The other endpoints, wrong paths and methods.
  r = curl(gw.url("/v1/models"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["data"][0]["id"], "echo");
  EXPECT_EQ(r.json()["data"][0]["owned_by"], "ringserve");
  EXPECT_EQ(curl(gw.url("/health")).status, 200);
  EXPECT_EQ(curl(gw.url("/nope")).status, 404);
  r = curl(gw.url("/v1/completions"));
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "POST");
  r = curl(gw.url("/v1/completions"), R"({"prompt":"a","n":2})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "n");
  r = curl(gw.url("/v1/completions"), R"({"prompt":"a","max_tokens":100000000})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("max_tokens"), std::string::npos);
}

TEST(Gateway, MetricsAreRingctlsText) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  const HttpResult r = curl(gw.url("/metrics"));
  ASSERT_EQ(r.status, 200);
  const ProcessResult ringctl = run({RINGCTL_PATH, "--name", daemon.name(), "metrics"});
  ASSERT_EQ(ringctl.exit_code, 0);
  // Line by line, but for the two gauges that move between two readings.
  auto stable = [](const std::string& text) {
    std::istringstream lines(text);
    std::string line, out;
    while (std::getline(lines, line)) {
      if (line.rfind("ringserve_heartbeat_age_seconds{", 0) == 0) continue;
      if (line.rfind("ringserve_resident_memory_bytes{", 0) == 0) continue;
      out += line + "\n";
    }
    return out;
  };
  EXPECT_EQ(stable(r.body), stable(ringctl.output));
  EXPECT_NE(r.body.find("ringserve_up{name=\"" + daemon.name() + "\"} 1"), std::string::npos);
}

// /tokenize and /detokenize are the daemon's tokenizer: the same ids as a shared-memory client
// gets, pieces that join to the text, ids back to the text, and errors naming the field.
TEST(Gateway, TokenizeAndDetokenizeAreTheDaemons) {
  Daemon daemon({"--set", "model.backend=torch"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  std::unique_ptr<Client> client;
  ASSERT_TRUE(Client::connect(daemon.name(), &client).ok());
  const std::string text = "Hello, world: \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80!";
  std::vector<int32_t> ids;
  ASSERT_TRUE(client->tokenize(text, {}, &ids).ok());
  ASSERT_FALSE(ids.empty());

  HttpResult r = curl(gw.url("/tokenize"), json{{"content", text}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["tokens"].get<std::vector<int32_t>>(), ids);

  r = curl(gw.url("/tokenize"), json{{"content", text}, {"with_pieces", true}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  std::string joined;
  std::vector<int32_t> piece_ids;
  const json with_pieces = r.json();
  for (const json& t : with_pieces["tokens"]) {
    piece_ids.push_back(t["id"].get<int32_t>());
    joined += t["piece"].get<std::string>();
  }
  EXPECT_EQ(piece_ids, ids);
  EXPECT_NE(joined.find(text), std::string::npos) << joined;  // a leading space at most

  r = curl(gw.url("/detokenize"), json{{"tokens", ids}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.json()["content"].get<std::string>().find(text), std::string::npos) << r.body;

  r = curl(gw.url("/tokenize"), json{{"content", ""}}.dump());
  EXPECT_EQ(r.body, R"({"tokens":[]})");
  r = curl(gw.url("/detokenize"), json{{"tokens", {1, 10000000}}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["error"]["param"], "tokens");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("10000000"), std::string::npos)
      << r.body;
  r = curl(gw.url("/tokenize"), json{{"text", "a"}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["param"], "content");
  EXPECT_EQ(curl(gw.url("/tokenize")).status, 405);
}

TEST(Gateway, ChatAgainstTheBuiltInModel) {
  Daemon daemon({"--set", "model.backend=torch"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  const std::vector<ChatMessage> chat = {{"user", "Once upon a time"}};
  const std::string expected = direct_text(daemon.name(), "", 8, chat);
  const json body = {{"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
                     {"max_tokens", 8},
                     {"temperature", 0}};
  HttpResult r = curl(gw.url("/v1/chat/completions"), body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], expected);
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_EQ(j["model"], "built-in");

  json streaming = body;
  streaming["stream"] = true;
  streaming["stream_options"] = {{"include_usage", true}};
  r = curl(gw.url("/v1/chat/completions"), streaming.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  bool done = false;
  const std::vector<json> events = sse_events(r.body, &done);
  EXPECT_TRUE(done);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0]["object"], "chat.completion.chunk");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(sse_text(events), expected);
  EXPECT_EQ(events.back()["usage"], j["usage"]);
}

TEST(Gateway, SixteenConcurrentStreamsGetTheirOwnTokens) {
  Daemon daemon({"--set", "model.echo_step_delay_us=2000"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  constexpr int kStreams = 16;
  std::vector<std::string> prompts, expected;
  for (int i = 0; i < kStreams; ++i) {
    prompts.push_back("stream " + std::to_string(i) + ": ");
    expected.push_back(direct_text(daemon.name(), prompts.back(), 40));
  }
  std::vector<pid_t> pids(kStreams);
  std::vector<int> outs(kStreams), errs(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    pids[i] = spawn(curl_argv(gw.url("/v1/completions"), completion_body(prompts[i], 40, true), {}),
                    &outs[i], &errs[i]);
  }
  for (int i = 0; i < kStreams; ++i) {
    const HttpResult r = parse_http(collect(pids[i], outs[i], errs[i]).output);
    ASSERT_EQ(r.status, 200) << i;
    bool done = false;
    EXPECT_EQ(sse_text(sse_events(r.body, &done)), expected[i]) << i;
    EXPECT_TRUE(done);
  }
}

TEST(Gateway, ClientThatDisconnectsFreesItsSlot) {
  Daemon daemon(
      {"--set", "model.echo_step_delay_us=5000", "--set", "scheduler.max_tokens_limit=1000000"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  for (const bool stream : {true, false}) {
    const int fd = connect_to(gw.port());
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(
        send_all(fd, post_request("/v1/completions", completion_body("abc", 900000, stream))));
    if (stream) {
      EXPECT_NE(read_until(fd, "data: ", std::chrono::seconds(5)).find("data: "),
                std::string::npos);
    }
    ASSERT_TRUE(eventually([&] { return requests_held(daemon.name()) == 1; }));
    ::close(fd);
    // Within a step or two (5 ms each) of the gateway seeing the close.
    EXPECT_TRUE(eventually([&] { return requests_held(daemon.name()) == 0; },
                           std::chrono::milliseconds(500)))
        << (stream ? "streaming" : "non-streaming");
  }
}

TEST(Gateway, QueueFullIs429WithRetryAfter) {
  Daemon daemon({"--set", "scheduler.max_concurrent=1", "--set", "scheduler.max_queue=0", "--set",
                 "model.echo_step_delay_us=5000", "--set", "scheduler.max_tokens_limit=1000000"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  const int busy = connect_to(gw.port());
  ASSERT_TRUE(
      send_all(busy, post_request("/v1/completions", completion_body("abc", 900000, true))));
  ASSERT_NE(read_until(busy, "data: ", std::chrono::seconds(5)).find("data: "), std::string::npos);
  for (const bool stream : {false, true}) {
    const HttpResult r = curl(gw.url("/v1/completions"), completion_body("x", 5, stream));
    EXPECT_EQ(r.status, 429) << r.body;
    EXPECT_EQ(r.header("Retry-After"), "1");
    EXPECT_EQ(r.json()["error"]["code"], "queue_full");
  }
  ::close(busy);
}

TEST(Gateway, DaemonGoneIs503AndComesBack) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  ASSERT_EQ(curl(gw.url("/v1/completions"), completion_body("a", 2, false)).status, 200);
  daemon.kill_hard();
  HttpResult r = curl(gw.url("/v1/completions"), completion_body("a", 2, false));
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["error"]["type"], "service_unavailable");
  EXPECT_EQ(curl(gw.url("/v1/completions"), completion_body("a", 2, true)).status, 503);
  r = curl(gw.url("/health"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["status"], "unavailable");
  ASSERT_TRUE(daemon.restart());
  EXPECT_EQ(curl(gw.url("/health")).status, 200);
  r = curl(gw.url("/v1/completions"), completion_body("ab", 3, false));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["choices"][0]["text"], "aba");
}

TEST(Gateway, ApiKeys) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const std::string config =
      write_temp("gw-keys", "# two keys\napi_key = \"sk-one\"\napi_key = sk-two\n");
  Gateway gw(daemon.name(), {"--config", config});
  ASSERT_TRUE(gw.ready()) << gw.log();
  const std::string body = completion_body("a", 2, false);
  HttpResult r = curl(gw.url("/v1/completions"), body);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["error"]["code"], "invalid_api_key");
  EXPECT_EQ(curl(gw.url("/v1/completions"), body, {"-H", "Authorization: Bearer sk-nope"}).status,
            401);
  EXPECT_EQ(curl(gw.url("/v1/models"), "", {"-H", "Authorization: Bearer sk-on"}).status, 401);
  EXPECT_EQ(curl(gw.url("/v1/completions"), body, {"-H", "Authorization: Bearer sk-two"}).status,
            200);
  EXPECT_EQ(curl(gw.url("/metrics"), "", {"-H", "Authorization: Bearer sk-one"}).status, 200);
  EXPECT_EQ(curl(gw.url("/health")).status, 200);  // load balancers probe without a key
  ::unlink(config.c_str());
}

TEST(Gateway, BadHttpIsAnsweredOrClosedWhileOthersAreServed) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const std::string config =
      write_temp("gw-limits", "max_body_bytes = 1000\nheader_timeout_ms = 2000\n");
  Gateway gw(daemon.name(), {"--config", config});
  ASSERT_TRUE(gw.ready()) << gw.log();
  const std::string ok_body = completion_body("ok", 2, false);
  auto normal_request_works = [&] {
    return curl(gw.url("/v1/completions"), ok_body).status == 200;
  };

  // The slowloris first, one header byte a second, alongside everything below.
  const int slow = connect_to(gw.port());
  ASSERT_GE(slow, 0);
  std::thread slowloris([slow] {
    const std::string head = "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    for (size_t i = 0; i < 10; ++i) {
      if (!send_all(slow, head.substr(i, 1))) return;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });
  const auto slow_start = std::chrono::steady_clock::now();

  bool closed = false;
  int fd = connect_to(gw.port());
  send_all(fd, std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 16));
  std::string got = read_until(fd, "\r\n\r\n", std::chrono::seconds(3), &closed);
  EXPECT_TRUE(got.rfind("HTTP/1.1 400", 0) == 0 || closed) << got;
  ::close(fd);
  EXPECT_TRUE(normal_request_works());

  fd = connect_to(gw.port());
  send_all(fd, "GET /health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  got = read_until(fd, "\r\n\r\n", std::chrono::seconds(3), &closed);
  EXPECT_TRUE(got.rfind("HTTP/1.1 431", 0) == 0 || closed) << got.substr(0, 100);
  ::close(fd);

  const HttpResult big = curl(gw.url("/v1/completions"), std::string(2000, ' ') + ok_body);
  EXPECT_EQ(big.status, 413) << big.headers;
  EXPECT_TRUE(normal_request_works());

  // The slowloris is cut off at the header timeout (2 s), long before it finishes its head.
  got = read_until(slow, "\r\n\r\n", std::chrono::seconds(6), &closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - slow_start, std::chrono::seconds(5));
  slowloris.join();
  ::close(slow);
  EXPECT_TRUE(normal_request_works());
  ::unlink(config.c_str());
}

size_t open_descriptors(pid_t pid) {
  const std::filesystem::path dir = "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir, ec),
                                           std::filesystem::directory_iterator()));
}

// A client that stops reading mid-stream must not hold a connection -- and with it the
// request's slot and KV rows -- for ever: the daemon's pause timeout ends the request, and a
// gateway write that makes no progress for write_timeout_ms closes the connection.
TEST(Gateway, AClientThatStopsReadingIsCutOffAndItsRequestFreed) {
  Daemon daemon({"--set", "scheduler.max_tokens_limit=1000000"});
  ASSERT_TRUE(daemon.ready());
  const std::string config = write_temp("gw-write", "write_timeout_ms = 1000\n");
  Gateway gw(daemon.name(), {"--config", config});
  ASSERT_TRUE(gw.ready()) << gw.log();
  const size_t descriptors_idle = open_descriptors(gw.pid());
  const int fd = connect_to(gw.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, post_request("/v1/completions", completion_body("xy", 900000, true))));
  // Never read: the socket buffers fill, the gateway's write stalls.
  ASSERT_TRUE(eventually([&] { return requests_held(daemon.name()) == 1; }));
  EXPECT_TRUE(
      eventually([&] { return requests_held(daemon.name()) == 0; }, std::chrono::seconds(15)))
      << requests_held(daemon.name()) << " requests still held";
  // The daemon has made every token (it holds what its ring cannot take); the gateway sends
  // until the socket's buffers are full (a few seconds), then its write stalls: it must not
  // keep the connection for ever, without the client reading another byte.
  EXPECT_TRUE(eventually([&] { return open_descriptors(gw.pid()) == descriptors_idle; },
                         std::chrono::seconds(30)))
      << open_descriptors(gw.pid()) << " descriptors open, " << descriptors_idle << " idle";
  // The connection was closed: reading drains what was buffered, then the end.
  bool closed = false;
  read_until(fd, "never sent", std::chrono::seconds(10), &closed);
  EXPECT_TRUE(closed);
  ::close(fd);
  EXPECT_EQ(curl(gw.url("/v1/completions"), completion_body("ok", 2, false)).status, 200);
  ::unlink(config.c_str());
}

TEST(Gateway, HundredsOfOpenStreamsWithoutAThreadEach) {
  constexpr int kStreams = 256;
  Daemon daemon({"--set", "transport.slots=320", "--set", "scheduler.max_concurrent=300", "--set",
                 "model.echo_step_delay_us=20000", "--set", "scheduler.max_tokens_limit=1000000"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready());
  const int threads_idle = gw.threads();
  std::vector<int> fds;
  for (int i = 0; i < kStreams; ++i) {
    fds.push_back(connect_to(gw.port()));
    ASSERT_GE(fds.back(), 0);
    ASSERT_TRUE(send_all(
        fds.back(), post_request("/v1/completions",
                                 completion_body("s" + std::to_string(i) + " ", 900000, true))));
  }
  int streaming = 0;
  for (const int fd : fds) {
    if (read_until(fd, "data: ", std::chrono::seconds(10)).find("data: ") != std::string::npos) {
      ++streaming;
    }
  }
  EXPECT_EQ(streaming, kStreams);
  EXPECT_EQ(requests_held(daemon.name()), static_cast<size_t>(kStreams));
  const int threads_busy = gw.threads();
  EXPECT_EQ(threads_busy, threads_idle);
  EXPECT_LE(threads_busy, 4);
  for (const int fd : fds) ::close(fd);
  EXPECT_TRUE(eventually([&] { return requests_held(daemon.name()) == 0; },
                         std::chrono::milliseconds(3000)));
}

}  // namespace
}  // namespace ringserve::testing
