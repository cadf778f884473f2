// Starting and stopping a ringserved for a benchmark run.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ringserve::bench {

// The ringserved next to this executable (or RINGSERVED_PATH from the build).
std::string default_daemon_path();

class DaemonRunner {
 public:
  // Starts `daemon_path --name <unique> args...`, logging to a temp file; waits until a client
  // can connect (up to 10 s). ok() tells whether it came up.
  DaemonRunner(const std::string& daemon_path, const std::string& name_prefix,
               const std::vector<std::string>& args);
  ~DaemonRunner();  // SIGTERM and wait
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  bool ok_ = false;
};

}  // namespace ringserve::bench
