#include "benchmarks/uds_baseline.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "benchmarks/daemon_runner.h"
#include "shm/clock.h"

namespace ringserve::bench {
namespace {

struct Request {
  uint64_t submit_ns;
  uint32_t max_tokens;
  uint32_t prompt_length;
  char prompt[64];
};
struct Frame {  // one token, the same 64 bytes as a shm TokenEntry
  int32_t token_id;
  uint16_t flags;
  uint16_t text_length;
  uint64_t published_ns;
  uint64_t received_ns;  // first frame: when the server read the request
  char text[40];
};
static_assert(sizeof(Frame) == 64);

bool read_full(int fd, void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool write_full(int fd, const void* buf, size_t n) {
  const auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t r = ::write(fd, p, n);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void sleep_us(uint32_t us) {
  if (us == 0) return;
  timespec ts{static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
  nanosleep(&ts, nullptr);
}

// Echo server: one connection, requests until EOF; mirrors the echo backend's step loop.
[[noreturn]] void serve(int listen_fd, uint32_t step_delay_us) {
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) ::_exit(1);
  Request req{};
  while (read_full(fd, &req, sizeof(req))) {
    const uint64_t received = shm::monotonic_ns();
    const uint32_t len = req.prompt_length == 0 || req.prompt_length > 64 ? 1 : req.prompt_length;
    for (uint32_t k = 0; k < req.max_tokens; ++k) {
      sleep_us(step_delay_us);
      Frame f{};
      f.token_id = static_cast<unsigned char>(req.prompt[k % len]);
      f.text_length = 1;
      f.text[0] = req.prompt[k % len];
      f.received_ns = received;
      f.flags = k + 1 == req.max_tokens ? 2 : 0;
      f.published_ns = shm::monotonic_ns();
      if (!write_full(fd, &f, sizeof(f))) ::_exit(1);
    }
  }
  ::_exit(0);
}

}  // namespace

bool run_uds_baseline(uint32_t requests, uint32_t warmup, uint32_t tokens, uint32_t step_delay_us,
                      ExchangeSamples* out, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Abstract namespace: nothing to clean up in the file system.
  const std::string name = "ringserve-bench-uds-" + std::to_string(::getpid());
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t addr_len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  const int listen_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 || ::bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0 ||
      ::listen(listen_fd, 1) != 0) {
    *error = std::string("uds: ") + std::strerror(errno);
    return false;
  }
  const pid_t server = ::fork();
  if (server == 0) {
    die_with_parent(SIGKILL);
    serve(listen_fd, step_delay_us);
  }
  ::close(listen_fd);
  if (server < 0) {
    *error = "uds: fork failed";
    return false;
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) == 0;
  if (!ok) *error = std::string("uds: connect: ") + std::strerror(errno);
  for (uint32_t r = 0; ok && r < requests + warmup; ++r) {
    Request req{};
    req.max_tokens = tokens;
    req.prompt_length = 8;
    std::memcpy(req.prompt, "abcdefgh", 8);
    req.submit_ns = shm::monotonic_ns();
    ok = write_full(fd, &req, sizeof(req));
    for (uint32_t k = 0; ok && k < tokens; ++k) {
      Frame f{};
      ok = read_full(fd, &f, sizeof(f));
      const uint64_t now = shm::monotonic_ns();
      if (!ok || r < warmup) continue;
      if (k == 0) out->submit_ns.push_back(f.received_ns - req.submit_ns);
      out->token_ns.push_back(now - f.published_ns);
    }
  }
  if (fd >= 0) ::close(fd);          // the server reads EOF and exits
  if (!ok) ::kill(server, SIGKILL);  // it may still wait in accept() or write()
  int status = 0;
  ::waitpid(server, &status, 0);
  if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    ok = false;
    *error = "uds: the server process failed";
  }
  if (!ok && error->empty()) *error = "uds: exchange failed (short read or write)";
  return ok;
}

}  // namespace ringserve::bench
