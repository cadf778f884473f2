#include "tests/deploy/haproxy_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "tests/daemon_process.h"
#include "tests/gateway/gateway_harness.h"

namespace ringserve::testing {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void replace_all(std::string* text, const std::string& from, const std::string& to) {
  for (size_t at = text->find(from); at != std::string::npos; at = text->find(from, at)) {
    text->replace(at, from.size(), to);
    at += to.size();
  }
}

bool executable(const std::string& path) {
  std::error_code ignored;
  return std::filesystem::is_regular_file(path, ignored) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string haproxy_path() {
  if (const char* env = std::getenv("RINGSERVE_HAPROXY"); env != nullptr && *env != '\0') {
    return executable(env) ? env : "";
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::istringstream parts(path);
    for (std::string dir; std::getline(parts, dir, ':');) dirs.push_back(dir);
  }
  // Debian installs it in /usr/sbin, which a user's PATH often lacks.
  dirs.insert(dirs.end(), {"/usr/sbin", "/usr/bin"});
  for (const std::string& dir : dirs) {
    if (!dir.empty() && executable(dir + "/haproxy")) return dir + "/haproxy";
  }
  return "";
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

HaProxy::HaProxy(const std::string& config_template, int port_a, int port_b) {
  std::string dir = "/tmp/ringserve-haproxy-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return;
  dir_ = dir;
  port_ = free_port();
  std::string config = read_file(config_template);
  replace_all(&config, "@DIR@", dir_);
  replace_all(&config, "@PORT@", std::to_string(port_));
  replace_all(&config, "@PORT_A@", std::to_string(port_a));
  replace_all(&config, "@PORT_B@", std::to_string(port_b));
  std::ofstream(dir_ + "/haproxy.cfg") << config;

  const std::string binary = haproxy_path();
  const std::string config_path = dir_ + "/haproxy.cfg";
  const std::string log_path = dir_ + "/haproxy.log";
  // Built before fork(), like every argument the child uses.
  const std::vector<std::string> argv = {binary, "-db", "-f", config_path};
  pid_ = ::fork();
  if (pid_ == 0) {
    // Dies with the test, even if the test is killed before its destructors run.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    exec_logging_to(log_path, /*append=*/false, argv);
  }
  ready_ = eventually(
      [&] {
        const int fd = connect_to(port_);
        if (fd < 0) return false;
        ::close(fd);
        return true;
      },
      std::chrono::milliseconds(10000));
}

HaProxy::~HaProxy() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string HaProxy::log() const { return read_file(dir_ + "/haproxy.log"); }

std::string HaProxy::admin(const std::string& command) const {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = dir_ + "/admin.sock";
  if (path.size() >= sizeof(addr.sun_path)) return "";
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  std::string answer;
  if (send_all(fd, command + "\n")) {
    // haproxy closes the socket after one command.
    answer = read_until(fd, std::string(1, '\0'), std::chrono::milliseconds(2000));
  }
  ::close(fd);
  return answer;
}

std::string HaProxy::server_status(const std::string& backend, const std::string& server) const {
  // `show stat` is CSV; the status is the 18th column.
  constexpr int kStatusColumn = 17;
  std::string prefix = backend;
  prefix += ',';
  prefix += server;
  prefix += ',';
  std::istringstream lines(admin("show stat"));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i <= kStatusColumn; ++i) {
      if (!std::getline(fields, field, ',')) return "";
    }
    return field;
  }
  return "";
}

}  // namespace ringserve::testing
