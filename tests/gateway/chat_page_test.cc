// The chat page at `/` (docs/HTTP.md "The chat page"): its headers, and the page itself driven
// in headless Chromium (tests/gateway/web/chat_page.js) against a real ringserved (the built-in
// model, greedy) and ringserve-http with an API key. Skips only when Chromium is not installed
// (scripts/install-deps installs it); a screenshot is kept in the build directory.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ringserve/client.h"
#include "tests/daemon_process.h"
#include "tests/gateway/gateway_harness.h"

namespace ringserve::testing {
namespace {

using nlohmann::json;

// $RINGSERVE_CHROMIUM, else chromium (or chromium-browser) on the PATH; "" when none.
std::string find_chromium() {
  if (const char* env = std::getenv("RINGSERVE_CHROMIUM"); env != nullptr && *env != '\0') {
    return env;
  }
  const char* path_env = std::getenv("PATH");
  std::istringstream dirs(path_env != nullptr ? path_env : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    for (const char* name : {"chromium", "chromium-browser"}) {
      std::string candidate = dir + "/" + name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  }
  return "";
}

TEST(ChatPage, ServedWithAStrictSecurityPolicy) {
  Daemon daemon;
  ASSERT_TRUE(daemon.ready());
  const std::string config = write_temp("page-keys", "api_key = sk-page\n");
  Gateway gw(daemon.name(), {"--config", config});
  ASSERT_TRUE(gw.ready()) << gw.log();

  // The page's files need no key (the page sends it with its requests).
  HttpResult r = curl(gw.url("/?q=ignored"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
  const std::string csp = r.header("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(r.body.find("<script src=\"/app.js\""), std::string::npos);
  EXPECT_EQ(r.body.find("<script>"), std::string::npos) << "inline script: the CSP forbids it";
  EXPECT_EQ(r.body.find("http://"), std::string::npos) << "nothing fetched from elsewhere";
  EXPECT_EQ(r.body.find("https://"), std::string::npos) << "nothing fetched from elsewhere";

  r = curl(gw.url("/app.js"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.body.find("innerHTML"), std::string::npos) << "model text is set as text only";
  EXPECT_NE(r.body.find("/v1/chat/completions"), std::string::npos);
  r = curl(gw.url("/style.css"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/css; charset=utf-8");

  r = curl(gw.url("/"), "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("Allow"), "GET");
  EXPECT_EQ(curl(gw.url("/index.html")).status, 404);
  // The API still needs the key.
  EXPECT_EQ(curl(gw.url("/v1/models")).status, 401);
  ::unlink(config.c_str());
}

TEST(ChatPage, StreamsAConversationInHeadlessChromium) {
  const std::string chromium = find_chromium();
  if (chromium.empty()) {
    GTEST_SKIP() << "chromium is not installed (scripts/install-deps installs it; or set "
                    "RINGSERVE_CHROMIUM)";
  }
  Daemon daemon({"--set", "model.backend=torch", "--set", "scheduler.max_tokens_limit=1000000"});
  ASSERT_TRUE(daemon.ready());
  const std::string key = "sk-page-test";
  const std::string keys = write_temp("page-keys", "api_key = " + key + "\n");
  Gateway gw(daemon.name(), {"--config", keys});
  ASSERT_TRUE(gw.ready()) << gw.log();

  // What the page must show: the gateway's non-streaming greedy replies to the same history.
  constexpr int kMaxTokens = 24;
  json messages = json::array();
  json turns = json::array();
  // The first prompt's greedy reply from the built-in model is words, not only spaces.
  for (const char* prompt : {"Tell me a story about a cat.", "What happened next?"}) {
    messages.push_back({{"role", "user"}, {"content", prompt}});
    const json body = {{"messages", messages}, {"max_tokens", kMaxTokens}, {"temperature", 0}};
    const HttpResult r =
        curl(gw.url("/v1/chat/completions"), body.dump(), {"-H", "Authorization: Bearer " + key});
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string reply = r.json()["choices"][0]["message"]["content"];
    ASSERT_FALSE(reply.empty());
    messages.push_back({{"role", "assistant"}, {"content", reply}});
    turns.push_back({{"prompt", prompt}, {"expected", reply}});
  }

  ASSERT_NE(turns[0]["expected"].get<std::string>().find_first_not_of(" \n"), std::string::npos)
      << "the check below would compare only spaces";

  const std::string artifacts = RINGSERVE_ARTIFACT_DIR;
  const std::string screenshot = artifacts + "/chat-page.png";
  ::mkdir(artifacts.c_str(), 0755);
  ::unlink(screenshot.c_str());
  const json config = {{"chromium", chromium},
                       {"url", gw.url("/")},
                       {"api_key", key},
                       {"screenshot", screenshot},
                       {"max_tokens", kMaxTokens},
                       {"turns", turns},
                       {"stop_prompt", "Tell me a very long story."},
                       {"stop_max_tokens", 100000}};
  const std::string config_path = write_temp("chat-page", config.dump());
  const ProcessResult driver =
      run({"/usr/bin/env", "node",
           std::string(RINGSERVE_SOURCE_DIR) + "/tests/gateway/web/chat_page.js", config_path});
  ::unlink(config_path.c_str());
  ::unlink(keys.c_str());
  EXPECT_EQ(driver.exit_code, 0) << driver.output << driver.errors << "\n" << gw.log();
  std::printf("%s", driver.output.c_str());

  std::ifstream png(screenshot, std::ios::binary);
  char magic[8] = {};
  png.read(magic, sizeof(magic));
  EXPECT_EQ(std::string(magic + 1, 3), "PNG") << "screenshot " << screenshot;
  // Stop closed the page's connection: the gateway cancelled it and the daemon let it go.
  EXPECT_TRUE(eventually([&] { return requests_held(daemon.name()) == 0; },
                         std::chrono::milliseconds(5000)));
}

}  // namespace
}  // namespace ringserve::testing
