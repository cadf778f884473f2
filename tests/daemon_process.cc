#include "tests/daemon_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "ringserve/client.h"

namespace ringserve::testing {

pid_t spawn(const std::vector<std::string>& argv, int* stdout_fd, int* stderr_fd, int* stdin_fd) {
  int out[2], err[2], in[2] = {-1, -1};
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      (stdin_fd != nullptr && ::pipe2(in, O_CLOEXEC) != 0)) {
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (stdin_fd != nullptr) ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    exec_program(argv);
  }
  ::close(out[1]);
  ::close(err[1]);
  *stdout_fd = out[0];
  *stderr_fd = err[0];
  if (stdin_fd != nullptr) {
    ::close(in[0]);
    *stdin_fd = in[1];
  }
  return pid;
}

ProcessResult collect(pid_t pid, int stdout_fd, int stderr_fd) {
  ProcessResult r;
  pollfd fds[2] = {{stdout_fd, POLLIN, 0}, {stderr_fd, POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? r.output : r.errors).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ProcessResult run(const std::vector<std::string>& argv) {
  int out = -1, err = -1;
  const pid_t pid = spawn(argv, &out, &err);
  return collect(pid, out, err);
}

void exec_program(const std::vector<std::string>& argv) {
  ::signal(SIGPIPE, SIG_DFL);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  ::_exit(127);
}

void exec_logging_to(const std::string& log_path, bool append,
                     const std::vector<std::string>& argv) {
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  exec_program(argv);
}

std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

Daemon::Daemon(const std::vector<std::string>& extra_args) : name_(unique_name("it")) {
  // The echo backend unless the test asks for another: transport tests need no model.
  argv_ = {RINGSERVED_PATH, "--name", name_, "--set", "model.backend=echo"};
  argv_.insert(argv_.end(), extra_args.begin(), extra_args.end());
  // The daemon's log goes to a file, not a pipe: a pipe nobody drains would block its logging.
  log_path_ = "/tmp/ringserve-" + name_ + ".log";
  start();
}

bool Daemon::restart() {
  if (pid_ > 0) return false;
  ++restarts_;
  start();
  return ready_;
}

void Daemon::start() {
  ready_ = false;
  pid_ = ::fork();
  if (pid_ == 0) {
    // A restart appends (kill_hard() leaves the log): stop() returns one story of all runs.
    exec_logging_to(log_path_, restarts_ != 0, argv_);
  }
  // Ready when a client can connect (the segment is created and marked ready). A deadline, not
  // a count of tries: a try returns at once while the segment does not exist yet, and under
  // ASan the first daemon of a fresh build took over 5 s to start on the CI machine (loading
  // libtorch cold). A daemon that exits is noticed at once below, so only a hang waits it out.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ready_ && std::chrono::steady_clock::now() < deadline) {
    std::unique_ptr<Client> client;
    ConnectOptions options;
    options.ready_timeout = std::chrono::milliseconds(10);
    if (Client::connect(name_, &client, options).ok()) {
      ready_ = true;
    } else {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
}

Daemon::~Daemon() {
  if (pid_ > 0) {
    stop();
  } else {
    ::unlink(log_path_.c_str());  // left by kill_hard() without a restart
  }
}

ProcessResult Daemon::stop() {
  if (pid_ <= 0) return {};
  ::kill(pid_, SIGTERM);
  return reap();
}

void Daemon::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  // The log stays: a restart appends to it, and stop() returns all of it.
}

ProcessResult Daemon::reap() {
  ProcessResult r;
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream log(log_path_);
  r.errors.assign(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>());
  ::unlink(log_path_.c_str());
  return r;
}

}  // namespace ringserve::testing
