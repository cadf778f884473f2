// Config loading: defaults, the example file, and an error naming source, line and key for
// every kind of mistake.
#include "config/config.h"

#include <gtest/gtest.h>

namespace ringserve::config {
namespace {

std::string error_of(std::string_view toml, const std::vector<std::string>& overrides = {}) {
  Config c;
  const LoadResult r = parse_config(toml, "test.toml", overrides, &c);
  EXPECT_FALSE(r.ok);
  return r.error;
}

TEST(Config, DefaultsWithoutAFile) {
  Config c;
  c.transport.slots = 1;
  ASSERT_TRUE(load_config("", {}, &c).ok);
  EXPECT_EQ(c.daemon.name, "default");
  EXPECT_EQ(c.transport.slots, 64u);
  EXPECT_EQ(c.transport.permissions, 0600u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kHybrid);
  EXPECT_EQ(c.model.backend, Backend::kEcho);
}

TEST(Config, ExampleFileLoadsAndEqualsTheDefaults) {
  Config c;
  const LoadResult r =
      load_config(std::string(RINGSERVE_SOURCE_DIR) + "/config/ringserve.example.toml", {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  const Config d;
  EXPECT_EQ(c.transport.slots, d.transport.slots);
  EXPECT_EQ(c.transport.permissions, d.transport.permissions);
  EXPECT_EQ(c.scheduler.max_queue, d.scheduler.max_queue);
  EXPECT_EQ(c.daemon.log_level, d.daemon.log_level);
}

TEST(Config, ValuesFromAFile) {
  Config c;
  const LoadResult r = parse_config(
      "[transport]\nslots = 8\nwait_mode = \"spin\"\npermissions = 0o640\n[model]\nbackend = "
      "\"torch\"\n",
      "x.toml", {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.transport.slots, 8u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kSpin);
  EXPECT_EQ(c.transport.permissions, 0640u);
  EXPECT_EQ(c.model.backend, Backend::kTorch);
}

TEST(Config, MissingFileNamesThePath) {
  Config c;
  const LoadResult r = load_config("/nonexistent/ringserve.toml", {}, &c);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("/nonexistent/ringserve.toml: cannot open config file", 0), 0u)
      << r.error;
}

TEST(Config, SyntaxErrorHasLineAndColumn) {
  const std::string e = error_of("[transport]\nslots = = 3\n");
  EXPECT_EQ(e.rfind("test.toml:2:", 0), 0u) << e;
  EXPECT_NE(e.find("syntax error"), std::string::npos) << e;
}

TEST(Config, UnknownKeyAndSection) {
  EXPECT_EQ(error_of("[transport]\nslots = 3\nslotz = 4\n"),
            "test.toml:3: unknown key 'transport.slotz'");
  EXPECT_EQ(error_of("\n[nonsense]\nx = 1\n"), "test.toml:2: unknown key 'nonsense'");
  EXPECT_EQ(error_of("top = 1\n"), "test.toml:1: unknown key 'top'");
}

TEST(Config, WrongType) {
  EXPECT_EQ(error_of("[transport]\n\nslots = \"many\"\n"),
            "test.toml:3: key 'transport.slots': expected an integer, got a string");
  EXPECT_EQ(error_of("[model]\nbackend = 3\n"),
            "test.toml:2: key 'model.backend': expected a string, got an integer");
  EXPECT_EQ(error_of("transport = 5\n"),
            "test.toml:1: key 'transport': expected a table, got an integer");
}

TEST(Config, OutOfRangeAndBadEnum) {
  EXPECT_EQ(error_of("[transport]\nslots = 0\n"),
            "test.toml:2: key 'transport.slots': 0 is out of range 1..4096");
  EXPECT_EQ(error_of("[transport]\ntoken_ring_entries = 100\n"),
            "test.toml:2: key 'transport.token_ring_entries': 100 is not a power of two");
  EXPECT_EQ(error_of("[transport]\nwait_mode = \"sleepy\"\n"),
            "test.toml:2: key 'transport.wait_mode': unknown value 'sleepy' (expected spin, "
            "futex or hybrid)");
  EXPECT_EQ(
      error_of("[daemon]\nlog_level = \"loud\"\n").rfind("test.toml:2: key 'daemon.log_level'", 0),
      0u);
}

TEST(Config, OverridesApplyAfterTheFileAndAcceptBareStrings) {
  Config c;
  const LoadResult r =
      parse_config("[model]\nbackend = \"torch\"\n", "x.toml",
                   {"model.backend=echo", "transport.slots=9", "transport.wait_mode=\"futex\"",
                    "transport.permissions=0o644"},
                   &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.model.backend, Backend::kEcho);
  EXPECT_EQ(c.transport.slots, 9u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kFutex);
  EXPECT_EQ(c.transport.permissions, 0644u);
}

TEST(Config, OverrideErrorsNameTheKey) {
  EXPECT_EQ(error_of("", {"transport.slots=0"}),
            "--set transport.slots: key 'transport.slots': 0 is out of range 1..4096");
  EXPECT_EQ(error_of("", {"foo.bar=1"}), "--set foo.bar: unknown key 'foo.bar'");
  EXPECT_EQ(error_of("", {"noequals"}), "--set 'noequals': expected KEY=VALUE");
  EXPECT_EQ(error_of("", {"=3"}), "--set '=3': expected KEY=VALUE");
  EXPECT_EQ(error_of("", {"transport.slots=many"}),
            "--set transport.slots: key 'transport.slots': expected an integer, got a string");
}

}  // namespace
}  // namespace ringserve::config
