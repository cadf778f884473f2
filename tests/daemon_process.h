// Running real processes from integration tests: a ringserved with arguments, and client
// programs whose output is captured.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace ringserve::testing {

// Waits until cond() or the timeout, trying every 5 ms; returns cond(). For what a daemon
// publishes a moment after a client sees it (counters, slot states).
template <class F>
bool eventually(F cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

struct ProcessResult {
  int exit_code = -1;  // 128 + signal if killed
  std::string output;  // stdout
  std::string errors;  // stderr
};

// Starts a program (argv[0] = path) with stdout/stderr captured, and with stdin a pipe whose
// write end goes to *stdin_fd when that is given; returns its pid (-1 if no pipe could be made).
pid_t spawn(const std::vector<std::string>& argv, int* stdout_fd, int* stderr_fd,
            int* stdin_fd = nullptr);
// Reads both pipes to the end and reaps the process.
ProcessResult collect(pid_t pid, int stdout_fd, int stderr_fd);
// spawn + collect.
ProcessResult run(const std::vector<std::string>& argv);

// A ringserved of a unique name, started in the constructor and stopped (SIGTERM) in stop()
// or the destructor.
class Daemon {
 public:
  explicit Daemon(const std::vector<std::string>& extra_args = {});
  ~Daemon();
  const std::string& name() const { return name_; }
  pid_t pid() const { return pid_; }
  bool ready() const { return ready_; }
  // SIGTERM, wait; returns the exit code and the daemon's stderr.
  ProcessResult stop();
  void kill_hard();  // SIGKILL, reaped
  // After stop() or kill_hard(): starts it again, same name and arguments; true when ready.
  bool restart();

 private:
  void start();
  ProcessResult reap();
  std::vector<std::string> argv_;
  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  int restarts_ = 0;
  bool ready_ = false;
};

std::string unique_name(const std::string& prefix);

// In a forked child: SIGPIPE back to its default (a test that ignores it must not hand that
// on), then execv(argv[0], argv). Never returns (exit 127 when the exec fails).
[[noreturn]] void exec_program(const std::vector<std::string>& argv);
// In a forked child: stdout and stderr into `log_path` (truncated, or appended to), then
// exec_program(argv). A file, not a pipe: a pipe nobody drains would block the program.
[[noreturn]] void exec_logging_to(const std::string& log_path, bool append,
                                  const std::vector<std::string>& argv);

}  // namespace ringserve::testing
