#include "benchmarks/daemon_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "ringserve/client.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

constexpr uint64_t kStartTimeoutNs = 5'000'000'000;
constexpr uint64_t kStopTimeoutNs = 5'000'000'000;

// The last `max_lines` lines of a file, for error messages.
std::string tail_of(const std::string& path, size_t max_lines) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
    if (lines.size() > max_lines) lines.erase(lines.begin());
  }
  std::ostringstream out;
  for (const std::string& line : lines) out << "\n    " << line;
  return out.str();
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "stopped";
}

}  // namespace

std::string default_daemon_path() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir(self);
    dir = dir.substr(0, dir.rfind('/'));
    std::string candidate = dir + "/ringserved";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return RINGSERVED_PATH;
}

std::vector<std::string> with_overrides(std::vector<std::string> args,
                                        const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) {
    args.emplace_back("--set");
    args.push_back(o);
  }
  return args;
}

void die_with_parent(int signal) {
  const pid_t parent = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, signal);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl
}

DaemonRunner::DaemonRunner(const std::string& daemon_path, const std::string& name_prefix,
                           const std::vector<std::string>& args) {
  static int counter = 0;
  name_ = name_prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  log_path_ = "/tmp/ringserve-bench-" + name_ + ".log";
  // Everything the child needs is built before fork().
  // Echo unless the caller sets model.backend: the transport benchmarks measure no model.
  std::vector<std::string> argv = {daemon_path, "--name", name_, "--set", "model.backend=echo"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    error_ = "cannot create " + log_path_;
    return;
  }
  pid_ = ::fork();
  if (pid_ == 0) {
    die_with_parent(SIGTERM);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(cargv[0], cargv.data());
    ::dprintf(2, "ringserve-bench: cannot execute %s: %s\n", cargv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  // Ready when a client can connect: the segment exists and is marked ready.
  const uint64_t deadline = shm::monotonic_ns() + kStartTimeoutNs;
  for (;;) {
    std::unique_ptr<Client> client;
    ConnectOptions options;
    options.ready_timeout = std::chrono::milliseconds(20);
    if (Client::connect(name_, &client, options).ok()) {
      ok_ = true;
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      fail(daemon_path + " " + describe(status) + " before it was ready");
      return;
    }
    if (shm::monotonic_ns() >= deadline) {
      stop();
      fail(daemon_path + " was not ready within 5 s");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

DaemonRunner::~DaemonRunner() {
  if (pid_ > 0) stop();
  if (error_.empty()) ::unlink(log_path_.c_str());
}

void DaemonRunner::fail(const std::string& why) {
  ok_ = false;
  error_ = why + "; log " + log_path_ + ":" + tail_of(log_path_, 8);
}

bool DaemonRunner::stop() {
  if (pid_ <= 0) return error_.empty();
  ::kill(pid_, SIGTERM);
  int status = 0;
  const uint64_t deadline = shm::monotonic_ns() + kStopTimeoutNs;
  pid_t r = 0;
  while ((r = ::waitpid(pid_, &status, WNOHANG)) == 0 && shm::monotonic_ns() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  bool clean = r == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (r == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    if (error_.empty()) fail("ringserved did not stop within 5 s of SIGTERM (killed)");
  } else if (!clean && error_.empty()) {
    fail("ringserved " + describe(status) + " on SIGTERM");
  }
  pid_ = -1;
  return clean;
}

}  // namespace ringserve::bench
