// ringctl metrics: the daemon's model and memory, its KV cache, counters, gauges and latency
// histograms in the Prometheus text exposition format (version 0.0.4), read from the segment; the
// daemon runs no HTTP server.
//
// Every sample carries name="<daemon name>", so one node_exporter can collect several
// daemons. The histograms keep the daemon's power-of-two microsecond buckets, converted to
// seconds; _sum is the exact total the daemon keeps beside the buckets.
//
// --textfile DIR writes DIR/ringserve_<name>.prom for node_exporter's textfile collector,
// through a temporary file in DIR renamed over it, so the collector never reads half a file;
// the temporary name starts with '.' and does not end in .prom, so the collector skips it. A
// daemon that cannot be read gives a file with only `ringserve_up 0` (a one-shot run still
// writes it, so a cron job replaces the numbers of a dead daemon, then exits non-zero). With
// --interval-ms the file is rewritten every MS milliseconds until SIGINT or SIGTERM, and a
// daemon that stops or restarts is reconnected to; the file is left in place at exit.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ringserve/client.h"
#include "tools/prometheus_text.h"
#include "tools/ringctl.h"

namespace ringctl {
namespace {

using ringserve::prometheus::render;
using ringserve::prometheus::render_down;

// One reading of the segment. Connects when *client is empty and drops the connection when it
// fails, so the next reading finds a restarted daemon.
ringserve::Status scrape(const std::string& name, std::unique_ptr<ringserve::Client>* client,
                         std::string* text) {
  ringserve::Status s;
  if (!*client) s = ringserve::Client::connect(name, client);
  ringserve::DaemonStatus st;
  ringserve::DaemonMetrics m;
  if (s.ok()) s = (*client)->status(&st);
  if (s.ok()) s = (*client)->metrics(&m);
  if (!s.ok()) {
    client->reset();
    return s;
  }
  *text = render(name, st, m);
  return s;
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Replaces dir/file with text atomically: readers see the old file or the new one, whole.
bool write_textfile(const std::string& dir, const std::string& file, const std::string& text) {
  std::string temp = dir + "/." + file + ".XXXXXX";
  const int fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "ringctl: cannot create a file in %s: %s\n", dir.c_str(),
                 std::strerror(errno));
    return false;
  }
  // mkostemp makes the file 0600; the collector often runs as another user, so give it the
  // mode a plain create would have.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  bool ok = ::fchmod(fd, 0666 & ~mask) == 0 && write_all(fd, text);
  ok = ::close(fd) == 0 && ok;
  const std::string path = dir + "/" + file;
  if (ok) ok = ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) {
    std::fprintf(stderr, "ringctl: cannot write %s: %s\n", path.c_str(), std::strerror(errno));
    ::unlink(temp.c_str());
  }
  return ok;
}

// Starts with the reading metrics() took first (status s, text).
int textfile_loop(const std::string& name, const std::string& dir, const std::string& file,
                  std::chrono::milliseconds interval, std::unique_ptr<ringserve::Client> client,
                  ringserve::Status s, std::string text) {
  catch_signals({SIGINT, SIGTERM});
  bool down = false;  // an outage is reported once, not every interval
  auto next = std::chrono::steady_clock::now();
  for (;;) {
    if (!s.ok()) {
      text = render_down(name);
      if (!down) fail(s);
    }
    down = !s.ok();
    if (!write_textfile(dir, file, text)) return 1;
    // Fixed rate: the next write is due one interval after the last one was due, unless that
    // time already passed.
    next = std::max(next + interval, std::chrono::steady_clock::now());
    for (;;) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(next - std::chrono::steady_clock::now());
      pollfd fd = {signal_fd(), POLLIN, 0};
      const int r = ::poll(&fd, 1, static_cast<int>(std::max<int64_t>(left.count(), 0)));
      if (r > 0 && take_signal() != 0) return 0;
      if (r == 0) break;
    }
    s = scrape(name, &client, &text);
  }
}

}  // namespace

int metrics(const std::string& name, const std::vector<std::string>& args) {
  std::string dir;
  uint32_t interval_ms = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i] == "--textfile") {
      if (!flag_value(args, &i, &dir)) return 2;
    } else if (args[i] == "--interval-ms") {
      if (!flag_value(args, &i, &value)) return 2;
      const std::string error =
          parse_integer("--interval-ms", value, IntRange{1, 86'400'000}, &interval_ms);
      if (!error.empty()) {
        std::fprintf(stderr, "ringctl: %s\n", error.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "ringctl: unknown metrics argument '%s'\n", args[i].c_str());
      return usage(2);
    }
  }
  if (interval_ms != 0 && dir.empty()) {
    std::fprintf(stderr, "ringctl: --interval-ms needs --textfile\n");
    return 2;
  }
  std::unique_ptr<ringserve::Client> client;
  std::string text;
  const ringserve::Status s = scrape(name, &client, &text);
  // A name the library refuses names no file either (it could hold a '/').
  if (s.code() == ringserve::ErrorCode::kInvalidArgument) return fail(s);
  const std::string file = "ringserve_" + name + ".prom";
  if (interval_ms != 0) {
    return textfile_loop(name, dir, file, std::chrono::milliseconds(interval_ms), std::move(client),
                         s, text);
  }
  if (dir.empty()) {
    if (!s.ok()) return fail(s);
    std::fputs(text.c_str(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  if (!write_textfile(dir, file, s.ok() ? text : render_down(name))) return 1;
  return s.ok() ? 0 : fail(s);
}

}  // namespace ringctl
