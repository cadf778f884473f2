#include "benchmarks/daemon_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <memory>
#include <thread>

#include "ringserve/client.h"

namespace ringserve::bench {

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

DaemonRunner::DaemonRunner(const std::string& daemon_path, const std::string& name_prefix,
                           const std::vector<std::string>& args)
    : name_(name_prefix + "-" + std::to_string(::getpid())),
      log_path_("/tmp/ringserve-bench-" + name_ + ".log") {
  pid_ = ::fork();
  if (pid_ == 0) {
    const int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> argv = {daemon_path, "--name", name_};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    std::unique_ptr<Client> client;
    ConnectOptions options;
    options.ready_timeout = std::chrono::milliseconds(10);
    if (Client::connect(name_, &client, options).ok()) {
      ok_ = true;
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

DaemonRunner::~DaemonRunner() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ::unlink(log_path_.c_str());
}

}  // namespace ringserve::bench
