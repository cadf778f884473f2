// `ringctl list` (issue 22): the daemons on this machine, found by their /dev/shm segments --
// a live one with its pid, state, model and load, and a SIGKILLed one's leftover as stale.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

nlohmann::json find(const nlohmann::json& list, const std::string& name) {
  for (const auto& d : list) {
    if (d.value("name", "") == name) return d;
  }
  return nullptr;
}

TEST(RingctlList, ShowsLiveAndStaleDaemons) {
  Daemon live({"--set", "scheduler.max_concurrent=3"});
  Daemon dead;
  ASSERT_TRUE(live.ready());
  ASSERT_TRUE(dead.ready());
  const pid_t dead_pid = dead.pid();
  dead.kill_hard();  // leaves its segment behind

  ProcessResult r = run({RINGCTL_PATH, "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  const nlohmann::json list = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_TRUE(list.is_array()) << r.output;
  const nlohmann::json a = find(list, live.name());
  ASSERT_TRUE(a.is_object()) << r.output;
  EXPECT_EQ(a["state"], "ready");
  EXPECT_EQ(a["pid"], live.pid());
  EXPECT_EQ(a["model"]["path"], "echo");
  EXPECT_EQ(a["model"]["format"], "none");
  EXPECT_EQ(a["running"], 0);
  EXPECT_EQ(a["waiting"], 0);
  EXPECT_EQ(a["max_concurrent"], 3);
  const nlohmann::json b = find(list, dead.name());
  ASSERT_TRUE(b.is_object()) << r.output;
  EXPECT_EQ(b["state"], "stale");
  EXPECT_EQ(b["pid"], dead_pid);
  EXPECT_FALSE(b.contains("model"));

  r = run({RINGCTL_PATH, "list"});
  ASSERT_EQ(r.exit_code, 0) << r.errors;
  EXPECT_NE(r.output.find("NAME"), std::string::npos) << r.output;
  const size_t line = r.output.find(live.name() + " ");
  ASSERT_NE(line, std::string::npos) << r.output;
  const std::string row = r.output.substr(line, r.output.find('\n', line) - line);
  EXPECT_NE(row.find("ready"), std::string::npos) << row;
  EXPECT_NE(row.find("0/3"), std::string::npos) << row;
  EXPECT_NE(row.find("echo"), std::string::npos) << row;
  EXPECT_NE(r.output.find(dead.name()), std::string::npos) << r.output;
  EXPECT_EQ(run({RINGCTL_PATH, "list", "--bogus"}).exit_code, 2);
}

}  // namespace
}  // namespace ringserve::testing
