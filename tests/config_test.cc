// Config loading: defaults, the example file, every key reaching its field, and an exact error
// (naming source, line and key) for every kind of mistake.
#include "config/config.h"

#include <gtest/gtest.h>

namespace ringserve::config {
namespace {

// The error from parsing `toml` as "test.toml" (then `overrides`); the config must not change.
std::string error_of(std::string_view toml, const std::vector<std::string>& overrides = {}) {
  Config c;
  c.transport.slots = 7;
  const LoadResult r = parse_config(toml, "test.toml", overrides, &c);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(c.transport.slots, 7u) << "config changed by a failed load";
  return r.error;
}

std::string set_error(const std::string& override_text) { return error_of("", {override_text}); }

TEST(Config, DefaultsWithoutAFile) {
  Config c;
  c.transport.slots = 1;
  c.daemon.name = "other";
  const LoadResult r = load_config("", {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c, Config{});
  EXPECT_EQ(c.daemon.name, "default");
  EXPECT_EQ(c.daemon.log_level, "info");
  EXPECT_EQ(c.transport.slots, 64u);
  EXPECT_EQ(c.transport.prompt_bytes, 16384u);
  EXPECT_EQ(c.transport.token_ring_entries, 256u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kHybrid);
  EXPECT_EQ(c.transport.spin_us, 20u);
  EXPECT_EQ(c.transport.permissions, 0600u);
  EXPECT_EQ(c.transport.unpublished_timeout_ms, 50u);
  EXPECT_EQ(c.scheduler.max_concurrent, 16u);
  EXPECT_EQ(c.scheduler.max_queue, 64u);
  EXPECT_EQ(c.scheduler.max_tokens_limit, 4096u);
  EXPECT_EQ(c.scheduler.max_batch_tokens, 512u);
  EXPECT_EQ(c.scheduler.mode, SchedulerMode::kBatch);
  EXPECT_EQ(c.scheduler.aging_ms, 100u);
  EXPECT_EQ(c.scheduler.max_priority, 10u);
  EXPECT_EQ(c.scheduler.drain_timeout_ms, 10000u);
  EXPECT_EQ(c.model.backend, Backend::kTorch);
  EXPECT_EQ(c.model.path, "");
  EXPECT_EQ(c.model.device, "cpu");
  EXPECT_EQ(c.model.dtype, "float32");
  EXPECT_EQ(c.model.threads, 0u);
  EXPECT_EQ(c.model.chat_template, "auto");
  EXPECT_EQ(c.model.max_seq_len, 0u);
  EXPECT_EQ(c.model.echo_step_delay_us, 0u);
}

// With aging, a request of priority p is overtaken only by requests arriving within
// (max_priority - p) x aging_ms after it (daemon/scheduler.h). For the lowest priority against
// the highest that must be seconds by default, not minutes.
TEST(Config, DefaultPriorityBoundIsAFewSeconds) {
  const SchedulerSection s;
  EXPECT_NE(s.aging_ms, 0u) << "strict priority has no bound";
  EXPECT_LE(uint64_t{2} * s.max_priority * s.aging_ms, 5000u);
}

TEST(Config, EmptyDocumentGivesTheDefaults) {
  Config c;
  c.model.backend = Backend::kEcho;
  ASSERT_TRUE(parse_config("# nothing\n", "empty.toml", {}, &c).ok);
  EXPECT_EQ(c, Config{});
}

TEST(Config, ExampleFileLoadsAndEqualsTheDefaults) {
  Config c;
  c.scheduler.max_queue = 1;
  const LoadResult r =
      load_config(std::string(RINGSERVE_SOURCE_DIR) + "/config/ringserve.example.toml", {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c, Config{});
}

TEST(Config, EveryKeyReachesItsField) {
  Config c;
  const LoadResult r = parse_config(R"([daemon]
name = "lab-2.gpu_a"
log_level = "debug"
lock_dir = "/run/ringserve-lab"
[transport]
slots = 8
prompt_bytes = 100
token_ring_entries = 4
wait_mode = "spin"
spin_us = 0
permissions = 0o640
group = "root"
unpublished_timeout_ms = 60000
[scheduler]
max_concurrent = 3
max_queue = 0
max_tokens_limit = 1000000
max_batch_tokens = 65536
mode = "interleave"
aging_ms = 0
max_priority = 1000000
drain_timeout_ms = 3600000
[model]
backend = "echo"
path = "/models/llama"
device = "cuda:1"
dtype = "bfloat16"
threads = 1024
template = "llama3"
max_seq_len = 1048576
echo_step_delay_us = 10000000
)",
                                    "x.toml", {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.daemon.name, "lab-2.gpu_a");
  EXPECT_EQ(c.daemon.log_level, "debug");
  EXPECT_EQ(c.daemon.lock_dir, "/run/ringserve-lab");
  EXPECT_EQ(c.transport.slots, 8u);
  EXPECT_EQ(c.transport.prompt_bytes, 100u);
  EXPECT_EQ(c.transport.token_ring_entries, 4u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kSpin);
  EXPECT_EQ(c.transport.spin_us, 0u);
  EXPECT_EQ(c.transport.permissions, 0640u);
  EXPECT_EQ(c.transport.group, "root");
  EXPECT_EQ(c.transport.unpublished_timeout_ms, 60000u);
  EXPECT_EQ(c.scheduler.max_concurrent, 3u);
  EXPECT_EQ(c.scheduler.max_queue, 0u);
  EXPECT_EQ(c.scheduler.max_tokens_limit, 1000000u);
  EXPECT_EQ(c.scheduler.max_batch_tokens, 65536u);
  EXPECT_EQ(c.scheduler.mode, SchedulerMode::kInterleave);
  EXPECT_EQ(c.scheduler.aging_ms, 0u);
  EXPECT_EQ(c.scheduler.max_priority, 1000000u);
  EXPECT_EQ(c.scheduler.drain_timeout_ms, 3600000u);
  EXPECT_EQ(c.model.backend, Backend::kEcho);
  EXPECT_EQ(c.model.path, "/models/llama");
  EXPECT_EQ(c.model.device, "cuda:1");
  EXPECT_EQ(c.model.dtype, "bfloat16");
  EXPECT_EQ(c.model.threads, 1024u);
  EXPECT_EQ(c.model.chat_template, "llama3");
  EXPECT_EQ(c.model.max_seq_len, 1048576u);
  EXPECT_EQ(c.model.echo_step_delay_us, 10000000u);
}

TEST(Config, DottedKeysAndInlineTablesWork) {
  Config c;
  const LoadResult r = parse_config(
      "transport.slots = 9\nscheduler = { max_queue = 5 }\n[model]\nbackend = \"echo\"\n", "x.toml",
      {}, &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.transport.slots, 9u);
  EXPECT_EQ(c.scheduler.max_queue, 5u);
}

TEST(Config, MissingFileNamesThePathAndTheReason) {
  Config c;
  const LoadResult r = load_config("/nonexistent/ringserve.toml", {}, &c);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "/nonexistent/ringserve.toml: cannot open config file: No such file or directory");
}

TEST(Config, UnreadableFileNamesThePath) {
  Config c;
  const std::string dir = std::string(RINGSERVE_SOURCE_DIR) + "/config";
  const LoadResult r = load_config(dir, {}, &c);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind(dir + ": cannot ", 0), 0u) << r.error;
}

TEST(Config, SyntaxErrorHasFileLineAndColumn) {
  const std::string e = error_of("[transport]\nslots = = 3\n");
  const std::string prefix = "test.toml:2:9: syntax error: ";
  ASSERT_EQ(e.rfind(prefix, 0), 0u) << e;
  EXPECT_GT(e.size(), prefix.size()) << "no description: " << e;

  EXPECT_EQ(error_of("[transport]\nslots = 1\nslots = 2\n").rfind("test.toml:3:", 0), 0u);
  EXPECT_EQ(error_of("\n\n[transport\n").rfind("test.toml:3:", 0), 0u);
}

TEST(Config, UnknownKeyNamesTheFullDottedKey) {
  EXPECT_EQ(error_of("[transport]\nslots = 3\nslotz = 4\n"),
            "test.toml:3: unknown key 'transport.slotz'");
  EXPECT_EQ(error_of("top = 1\n"), "test.toml:1: unknown key 'top'");
  EXPECT_EQ(error_of("\ntransport.slotz = 1\n"), "test.toml:2: unknown key 'transport.slotz'");
  EXPECT_EQ(error_of("transport = { slotz = 1 }\n"), "test.toml:1: unknown key 'transport.slotz'");
}

TEST(Config, UnknownSectionNamesTheTable) {
  EXPECT_EQ(error_of("\n[nonsense]\nx = 1\n"), "test.toml:2: unknown key 'nonsense'");
  EXPECT_EQ(error_of("\n[nonsense]\n"), "test.toml:2: unknown key 'nonsense'");
  EXPECT_EQ(error_of("\n\n[nonsense.sub]\nx = 1\n"), "test.toml:3: unknown key 'nonsense'");
  EXPECT_EQ(error_of("[transport.deeper]\nx = 1\n"), "test.toml:1: unknown key 'transport.deeper'");
}

TEST(Config, FirstMistakeInTheFileIsReported) {
  // toml++ keeps keys sorted; the loader reports in file order, not key order.
  EXPECT_EQ(error_of("[transport]\nzzz = 1\n\n[daemon]\nbogus = 2\n"),
            "test.toml:2: unknown key 'transport.zzz'");
  EXPECT_EQ(error_of("[transport]\nspin_us = -1\nslots = 0\n"),
            "test.toml:2: key 'transport.spin_us': -1 is out of range 0..100000");
}

TEST(Config, WrongTypeNamesBothTypes) {
  EXPECT_EQ(error_of("[transport]\n\nslots = \"many\"\n"),
            "test.toml:3: key 'transport.slots': expected an integer, got a string");
  EXPECT_EQ(error_of("[transport]\nslots = 1.5\n"),
            "test.toml:2: key 'transport.slots': expected an integer, got a float");
  EXPECT_EQ(error_of("[transport]\nslots = true\n"),
            "test.toml:2: key 'transport.slots': expected an integer, got a boolean");
  EXPECT_EQ(error_of("[transport]\nslots = [1]\n"),
            "test.toml:2: key 'transport.slots': expected an integer, got an array");
  EXPECT_EQ(error_of("[transport]\nslots.x = 1\n"),
            "test.toml:2: key 'transport.slots': expected an integer, got a table");
  EXPECT_EQ(error_of("[model]\nbackend = 3\n"),
            "test.toml:2: key 'model.backend': expected a string, got an integer");
  EXPECT_EQ(error_of("[daemon]\nname = false\n"),
            "test.toml:2: key 'daemon.name': expected a string, got a boolean");
  EXPECT_EQ(error_of("[daemon]\nlog_level = 1\n"),
            "test.toml:2: key 'daemon.log_level': expected a string, got an integer");
  EXPECT_EQ(error_of("transport = 5\n"),
            "test.toml:1: key 'transport': expected a table, got an integer");
  EXPECT_EQ(error_of("[[transport]]\nslots = 1\n"),
            "test.toml:1: key 'transport': expected a table, got an array");
}

TEST(Config, OutOfRange) {
  EXPECT_EQ(error_of("[transport]\nslots = 0\n"),
            "test.toml:2: key 'transport.slots': 0 is out of range 1..4096");
  EXPECT_EQ(error_of("[transport]\nslots = 4097\n"),
            "test.toml:2: key 'transport.slots': 4097 is out of range 1..4096");
  EXPECT_EQ(error_of("[scheduler]\nmax_queue = -1\n"),
            "test.toml:2: key 'scheduler.max_queue': -1 is out of range 0..65536");
  EXPECT_EQ(error_of("[scheduler]\nmax_priority = 1000001\n"),
            "test.toml:2: key 'scheduler.max_priority': 1000001 is out of range 0..1000000");
  EXPECT_EQ(error_of("[scheduler]\nmax_priority = -1\n"),
            "test.toml:2: key 'scheduler.max_priority': -1 is out of range 0..1000000");
  EXPECT_EQ(set_error("scheduler.max_priority=2147483647"),
            "--set scheduler.max_priority: 2147483647 is out of range 0..1000000");
  EXPECT_EQ(error_of("[transport]\ntoken_ring_entries = 131072\n"),
            "test.toml:2: key 'transport.token_ring_entries': 131072 is out of range 4..65536");
  EXPECT_EQ(error_of("[transport]\ngroup = \"no-such-group-ringserve\"\n"),
            "test.toml:2: key 'transport.group': no such group 'no-such-group-ringserve'");
  EXPECT_EQ(error_of("[transport]\ngroup = \"4294967295\"\n"),
            "test.toml:2: key 'transport.group': no such group '4294967295'");
  EXPECT_EQ(error_of("[transport]\ngroup = -5\n"),
            "test.toml:2: key 'transport.group': no such group '-5'");
  EXPECT_EQ(error_of("[transport]\ngroup = 1.5\n"),
            "test.toml:2: key 'transport.group': expected a string or an integer, got a float");
  EXPECT_EQ(error_of("[transport]\npermissions = 0o1000\n"),
            "test.toml:2: key 'transport.permissions': 0o1000 is out of range 0o0..0o777");
  EXPECT_EQ(error_of("[transport]\npermissions = -9223372036854775808\n"),
            "test.toml:2: key 'transport.permissions': -0o1000000000000000000000 is out of range "
            "0o0..0o777");
}

TEST(Config, TokenRingEntriesMustBeAPowerOfTwo) {
  EXPECT_EQ(error_of("[transport]\ntoken_ring_entries = 100\n"),
            "test.toml:2: key 'transport.token_ring_entries': 100 is not a power of two");
}

TEST(Config, BadEnumValueListsTheChoices) {
  EXPECT_EQ(error_of("[transport]\nwait_mode = \"sleepy\"\n"),
            "test.toml:2: key 'transport.wait_mode': unknown value 'sleepy' (expected spin, "
            "futex or hybrid)");
  EXPECT_EQ(error_of("[model]\nbackend = \"Echo\"\n"),
            "test.toml:2: key 'model.backend': unknown value 'Echo' (expected echo or torch)");
  EXPECT_EQ(error_of("[daemon]\nlog_level = \"loud\"\n"),
            "test.toml:2: key 'daemon.log_level': unknown value 'loud' (expected trace, debug, "
            "info, warn, error or off)");
}

TEST(Config, BadDaemonName) {
  const std::string rule = "(1-64 characters of [A-Za-z0-9_.-], not starting with '.')";
  EXPECT_EQ(error_of("[daemon]\nname = \"my daemon\"\n"),
            "test.toml:2: key 'daemon.name': 'my daemon' is not a valid name " + rule);
  EXPECT_EQ(error_of("[daemon]\nname = \"\"\n"),
            "test.toml:2: key 'daemon.name': '' is not a valid name " + rule);
  EXPECT_EQ(error_of("[daemon]\nname = \".hidden\"\n"),
            "test.toml:2: key 'daemon.name': '.hidden' is not a valid name " + rule);
  EXPECT_EQ(
      error_of("[daemon]\nname = \"" + std::string(65, 'a') + "\"\n"),
      "test.toml:2: key 'daemon.name': '" + std::string(65, 'a') + "' is not a valid name " + rule);
}

TEST(Config, LockDirIsAnAbsolutePathOrAutomatic) {
  EXPECT_EQ(error_of("[daemon]\nlock_dir = \"run/ringserve\"\n"),
            "test.toml:2: key 'daemon.lock_dir': 'run/ringserve' is not an absolute path");
  EXPECT_EQ(set_error("daemon.lock_dir=3"),
            "--set daemon.lock_dir: expected a string, got an integer");
  Config c;
  ASSERT_TRUE(load_config("", {"daemon.lock_dir=''"}, &c).ok);
  EXPECT_EQ(c.daemon.lock_dir, "");
}

TEST(Config, OverridesApplyAfterTheFileInOrder) {
  Config c;
  const LoadResult r = parse_config(
      "[model]\nbackend = \"torch\"\n[transport]\nslots = 3\n", "x.toml",
      {"model.backend=echo", "transport.slots=9", "transport.wait_mode=\"futex\"",
       "transport.permissions=0o644", "scheduler.max_queue=1", "scheduler.max_queue=2"},
      &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.model.backend, Backend::kEcho);
  EXPECT_EQ(c.transport.slots, 9u);
  EXPECT_EQ(c.transport.wait_mode, WaitMode::kFutex);
  EXPECT_EQ(c.transport.permissions, 0644u);
  EXPECT_EQ(c.scheduler.max_queue, 2u);
}

TEST(Config, OverrideValuesAreTomlOrBareStrings) {
  Config c;
  const LoadResult r = load_config("",
                                   {"daemon.name=bare", "daemon.log_level='warn'",
                                    " transport.spin_us = 7 ", "model.backend=torch"},
                                   &c);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(c.daemon.name, "bare");
  EXPECT_EQ(c.daemon.log_level, "warn");
  EXPECT_EQ(c.transport.spin_us, 7u);
  EXPECT_EQ(c.model.backend, Backend::kTorch);
}

TEST(Config, ModelKeysAreChecked) {
  EXPECT_EQ(error_of("[model]\ndevice = \"gpu\"\n"),
            "test.toml:2: key 'model.device': unknown value 'gpu' (expected cpu, cuda or cuda:N)");
  EXPECT_EQ(error_of("[model]\ndtype = \"fp8\"\n"),
            "test.toml:2: key 'model.dtype': unknown value 'fp8' (expected float32, bfloat16, "
            "float16, int8 or int4)");
  EXPECT_EQ(error_of("[model]\ntemplate = \"jinja\"\n"),
            "test.toml:2: key 'model.template': unknown value 'jinja' (expected auto, chatml, "
            "llama2, llama3, plain or zephyr)");
  EXPECT_EQ(error_of("\n[scheduler]\nmax_batch_tokens = 0\n"),
            "test.toml:3: key 'scheduler.max_batch_tokens': 0 is out of range 1..65536");
}

TEST(Config, OverrideErrorsNameTheKey) {
  EXPECT_EQ(set_error("transport.slots=0"), "--set transport.slots: 0 is out of range 1..4096");
  EXPECT_EQ(set_error("transport.token_ring_entries=2"),
            "--set transport.token_ring_entries: 2 is out of range 4..65536");
  EXPECT_EQ(set_error("transport.token_ring_entries=12"),
            "--set transport.token_ring_entries: 12 is not a power of two");
  EXPECT_EQ(set_error("foo.bar=1"), "--set foo.bar: unknown key 'foo.bar'");
  EXPECT_EQ(set_error("transport=1"), "--set transport: unknown key 'transport'");
  EXPECT_EQ(set_error("transport.slots=many"),
            "--set transport.slots: expected an integer, got a string");
  EXPECT_EQ(set_error("transport.slots=1.5"),
            "--set transport.slots: expected an integer, got a float");
  EXPECT_EQ(set_error("transport.wait_mode=sleepy"),
            "--set transport.wait_mode: unknown value 'sleepy' (expected spin, futex or hybrid)");
  EXPECT_EQ(set_error("daemon.name=1234"), "--set daemon.name: expected a string, got an integer");
  // More than one TOML value is not a value: it is taken as a string.
  EXPECT_EQ(set_error("transport.slots=1\nfoo = 2"),
            "--set transport.slots: expected an integer, got a string");
}

TEST(Config, MalformedOverride) {
  EXPECT_EQ(set_error("noequals"), "--set 'noequals': expected KEY=VALUE");
  EXPECT_EQ(set_error("=3"), "--set '=3': expected KEY=VALUE");
  EXPECT_EQ(set_error(" =3"), "--set ' =3': expected KEY=VALUE");
  EXPECT_EQ(set_error(""), "--set '': expected KEY=VALUE");
}

TEST(Config, FileErrorsComeBeforeOverrides) {
  EXPECT_EQ(error_of("[transport]\nslots = 0\n", {"transport.slots=5"}),
            "test.toml:2: key 'transport.slots': 0 is out of range 1..4096");
}

TEST(Config, GroupIsANameOrANumber) {
  EXPECT_EQ(group_id("root"), std::optional<uint32_t>(0));
  EXPECT_EQ(group_id("0"), std::optional<uint32_t>(0));
  EXPECT_EQ(group_id("61234"), std::optional<uint32_t>(61234));  // need not exist
  EXPECT_EQ(group_id("4294967294"), std::optional<uint32_t>(4294967294u));
  EXPECT_EQ(group_id("4294967295"), std::nullopt);  // chown's "unchanged"
  EXPECT_EQ(group_id("99999999999"), std::nullopt);
  EXPECT_EQ(group_id(""), std::nullopt);
  EXPECT_EQ(group_id("no-such-group-ringserve"), std::nullopt);
  Config c;
  ASSERT_TRUE(load_config("", {"transport.group=61234"}, &c).ok);
  EXPECT_EQ(c.transport.group, "61234");
  ASSERT_TRUE(load_config("", {"transport.group=root"}, &c).ok);
  EXPECT_EQ(c.transport.group, "root");
}

TEST(Config, ToStringUsesTheConfigSpelling) {
  EXPECT_STREQ(to_string(WaitMode::kSpin), "spin");
  EXPECT_STREQ(to_string(WaitMode::kFutex), "futex");
  EXPECT_STREQ(to_string(WaitMode::kHybrid), "hybrid");
  EXPECT_STREQ(to_string(Backend::kEcho), "echo");
  EXPECT_STREQ(to_string(Backend::kTorch), "torch");
}

}  // namespace
}  // namespace ringserve::config
