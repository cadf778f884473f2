// Where ringserved's log goes (issue 22): with --log-file the file gets every line and stderr
// only warnings and errors; started in a terminal (a pty here) without it, the full log goes
// to $XDG_STATE_HOME/ringserve/NAME.log and the terminal gets the start-up lines, one line
// saying where the log goes, and then no info lines (none in the middle of a client's answers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "ringserve/client.h"
#include "tests/daemon_process.h"

namespace ringserve::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Connects (waiting for the daemon to be ready) and runs one request, which logs an info line.
void one_request(const std::string& name) {
  std::unique_ptr<Client> client;
  ASSERT_TRUE(eventually([&] { return Client::connect(name, &client).ok(); }, 10s));
  std::unique_ptr<Stream> stream;
  GenerateParams params;
  params.max_tokens = 3;
  ASSERT_TRUE(client->generate("abc", params, &stream).ok());
  Token t;
  while (stream->next(&t, 5s).ok()) {
  }
}

TEST(DaemonLog, LogFileGetsEverythingStderrOnlyWarnings) {
  const std::string name = unique_name("logfile");
  const std::string path = "/tmp/ringserve-test-" + name + ".log";
  int out = -1;
  int err = -1;
  const pid_t pid =
      spawn({RINGSERVED_PATH, "--name", name, "--set", "model.backend=echo", "--log-file", path},
            &out, &err);
  ASSERT_GT(pid, 0);
  one_request(name);
  ::kill(pid, SIGTERM);
  const ProcessResult r = collect(pid, out, err);
  EXPECT_EQ(r.exit_code, 0) << r.errors;
  const std::string log = read_file(path);
  EXPECT_NE(log.find("ready"), std::string::npos) << log;
  EXPECT_NE(log.find("request 1:"), std::string::npos) << log;
  EXPECT_EQ(r.errors.find("[info]"), std::string::npos) << r.errors;
  ::unlink(path.c_str());
  // A log file that cannot be opened is an error at start.
  const ProcessResult bad = run({RINGSERVED_PATH, "--name", unique_name("badlog"), "--set",
                                 "model.backend=echo", "--log-file", "/dev/null/x.log"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.errors.find("log file /dev/null/x.log"), std::string::npos) << bad.errors;
}

TEST(DaemonLog, ATerminalGetsNoInfoLinesAfterStartUp) {
  const std::string name = unique_name("tty");
  const fs::path state = fs::temp_directory_path() / ("ringserve-state-" + name);
  int master = -1;
  int slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(slave, STDERR_FILENO);
    ::dup2(slave, STDOUT_FILENO);
    ::close(master);
    ::setenv("XDG_STATE_HOME", state.c_str(), 1);
    ::execl(RINGSERVED_PATH, RINGSERVED_PATH, "--name", name.c_str(), "--set", "model.backend=echo",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(slave);
  ::fcntl(master, F_SETFL, O_NONBLOCK);
  std::string terminal;
  const auto drain = [&] {
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(master, buf, sizeof buf)) > 0) terminal.append(buf, static_cast<size_t>(n));
  };
  one_request(name);
  std::this_thread::sleep_for(100ms);
  drain();
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  drain();
  ::close(master);
  const std::string file = (state / "ringserve" / (name + ".log")).string();
  EXPECT_NE(terminal.find("ready"), std::string::npos) << terminal;
  EXPECT_NE(terminal.find("the full log goes to " + file), std::string::npos) << terminal;
  EXPECT_EQ(terminal.find("request 1:"), std::string::npos) << terminal;
  EXPECT_EQ(terminal.find("stopped"), std::string::npos) << terminal;
  const std::string log = read_file(file);
  EXPECT_NE(log.find("request 1:"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  fs::remove_all(state);
}

}  // namespace
}  // namespace ringserve::testing
