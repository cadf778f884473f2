// Starting and stopping a ringserved for a benchmark run.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ringserve::bench {

// The ringserved next to this executable when there is one, else RINGSERVED_PATH (the build's).
std::string default_daemon_path();

// args followed by `--set KEY=VALUE` for each of `overrides` (later --set wins in ringserved).
std::vector<std::string> with_overrides(std::vector<std::string> args,
                                        const std::vector<std::string>& overrides);

// Makes the calling child process receive `signal` when its parent dies, so that nothing a
// benchmark started outlives it (Ctrl-C, crash). Call right after fork(), in the child.
void die_with_parent(int signal);

// A ringserved of a unique name (`<prefix>-<pid>-<n>`), started in the constructor with its
// stdout and stderr going to a log file, and stopped (SIGTERM, then SIGKILL after 5 s) by
// stop() or the destructor. The log is removed after a clean run and kept otherwise.
class DaemonRunner {
 public:
  // Starts `daemon_path --name <unique> args...` and waits (up to ~5 s) until a client can
  // connect. ok() tells whether it came up; error() says why not.
  DaemonRunner(const std::string& daemon_path, const std::string& name_prefix,
               const std::vector<std::string>& args);
  ~DaemonRunner();
  DaemonRunner(const DaemonRunner&) = delete;
  DaemonRunner& operator=(const DaemonRunner&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }

  // Stops and reaps the daemon; true if it exited with status 0 on SIGTERM.
  bool stop();

 private:
  void fail(const std::string& why);

  std::string name_;
  std::string log_path_;
  std::string error_;
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace ringserve::bench
