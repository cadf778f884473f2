// The official OpenAI SDK for Node.js (npm `openai`) against a real ringserved (the built-in
// model) and ringserve-http: tests/gateway/sdk/openai_sdk.js streams a chat with usage, makes a
// non-streaming completion and checks an unsupported field is the SDK's 400 APIError. The
// package is test-only, pinned in tests/gateway/sdk/package-lock.json and installed by
// scripts/install-deps (`npm ci`); without it the test skips (CI fails to install instead).
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "tests/daemon_process.h"
#include "tests/gateway/gateway_harness.h"

namespace ringserve::testing {
namespace {

TEST(OpenAiSdk, StreamsChatReadsUsageAndSeesErrors) {
  const std::string dir = std::string(RINGSERVE_SOURCE_DIR) + "/tests/gateway/sdk";
  if (::access((dir + "/node_modules/openai/package.json").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "the openai npm package is not installed: run 'npm ci' in " << dir
                 << " (scripts/install-deps does)";
  }
  Daemon daemon({"--set", "model.backend=torch"});
  ASSERT_TRUE(daemon.ready());
  Gateway gw(daemon.name());
  ASSERT_TRUE(gw.ready()) << gw.log();
  const ProcessResult r = run({"/usr/bin/env", "node", dir + "/openai_sdk.js", gw.url("/v1")});
  EXPECT_EQ(r.exit_code, 0) << r.output << r.errors << "\n" << gw.log();
  std::printf("%s", r.output.c_str());
}

}  // namespace
}  // namespace ringserve::testing
