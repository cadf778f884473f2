// `ringctl list`: every ringserve daemon on this machine, from the segments in /dev/shm.
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringserve/client.h"
#include "shm/layout.h"
#include "tools/ringctl.h"

namespace ringctl {
namespace {

// One daemon segment found in /dev/shm, as `ringctl list` shows it.
struct Listed {
  std::string name;
  std::string owner;   // the segment's owner, a user name or uid
  int32_t pid = 0;     // 0: unknown
  std::string state;   // ready, not responding, stopping, stale, starting, no access, ...
  std::string detail;  // why it could not be asked, if it could not
  bool have_status = false;
  ringserve::DaemonStatus status;
};

std::string user_name(uid_t uid) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

// The pid a segment names (SegmentHeader::daemon_pid), read without connecting: a stale
// segment's daemon is gone, and connect() refuses it. 0 when unreadable or not ours.
int32_t recorded_pid(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return 0;
  unsigned char header[offsetof(ringserve::shm::SegmentHeader, daemon_pid) + sizeof(int32_t)] = {};
  const ssize_t n = ::pread(fd, header, sizeof header, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(sizeof header)) return 0;
  uint64_t magic = 0;
  int32_t pid = 0;
  std::memcpy(&magic, header + offsetof(ringserve::shm::SegmentHeader, magic), sizeof magic);
  std::memcpy(&pid, header + offsetof(ringserve::shm::SegmentHeader, daemon_pid), sizeof pid);
  return magic == ringserve::shm::kMagic && pid > 0 ? pid : 0;
}

Listed inspect(const std::filesystem::directory_entry& entry, const std::string& name) {
  Listed d;
  d.name = name;
  struct stat st {};
  if (::stat(entry.path().c_str(), &st) == 0) d.owner = user_name(st.st_uid);
  d.pid = recorded_pid(entry.path());
  ringserve::ConnectOptions options;
  options.ready_timeout = std::chrono::milliseconds(100);
  std::unique_ptr<ringserve::Client> client;
  const ringserve::Status s = ringserve::Client::connect(name, &client, options);
  if (s.ok() && client->status(&d.status).ok()) {
    d.have_status = true;
    d.pid = d.status.pid;
    d.state = d.status.heartbeat_age_ns > 3'000'000'000ULL ? "not responding" : "ready";
    return d;
  }
  switch (s.code()) {
    case ringserve::ErrorCode::kDaemonNotRunning:
      // A dead pid: stale (a SIGKILLed daemon's); a live one still starting up.
      d.state = s.message().find("stale") != std::string::npos          ? "stale"
                : d.pid != 0 && ::kill(d.pid, 0) != 0 && errno == ESRCH ? "stale"
                                                                        : "starting";
      break;
    case ringserve::ErrorCode::kShuttingDown:
      d.state = "stopping";
      break;
    case ringserve::ErrorCode::kPermissionDenied:
      d.state = "no access";
      break;
    case ringserve::ErrorCode::kVersionMismatch:
      d.state = "other version";
      break;
    default:
      d.state = "unreadable";
      break;
  }
  d.detail = s.message();
  return d;
}

}  // namespace

// Every ringserve daemon segment in /dev/shm, by name: those this user may open with their
// status and model, the others marked (no access, stale, another layout version, ...).
int list(const std::vector<std::string>& args) {
  bool json = false;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "ringctl: unknown list argument '%s'\n", a.c_str());
      return usage(2);
    }
  }
  std::vector<Listed> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec)) {
    const std::string file = entry.path().filename().string();
    constexpr std::string_view kPrefix = "ringserve.";
    if (!file.starts_with(kPrefix) || file.size() == kPrefix.size()) continue;
    found.push_back(inspect(entry, file.substr(kPrefix.size())));
  }
  if (ec) {
    std::fprintf(stderr, "ringctl: cannot list /dev/shm: %s\n", ec.message().c_str());
    return 1;
  }
  std::sort(found.begin(), found.end(),
            [](const Listed& a, const Listed& b) { return a.name < b.name; });
  if (json) {
    nlohmann::json j = nlohmann::json::array();
    for (const Listed& d : found) {
      nlohmann::json o = {{"name", d.name}, {"owner", d.owner}, {"pid", d.pid}, {"state", d.state}};
      if (d.have_status) {
        const ringserve::ModelInfo& m = d.status.model;
        o["model"] = {{"path", m.path},
                      {"architecture", m.architecture},
                      {"format", m.format},
                      {"device", m.device},
                      {"context_length", m.context_length}};
        o["running"] = d.status.running;
        o["waiting"] = d.status.waiting;
        o["max_concurrent"] = d.status.max_concurrent;
      } else {
        o["detail"] = d.detail;
      }
      j.push_back(o);
    }
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (found.empty()) {
    std::printf("no ringserve daemons on this machine (no /dev/shm/ringserve.* segments)\n");
    return 0;
  }
  std::printf("%-20s %8s %-10s %-14s %9s %8s  %s\n", "NAME", "PID", "OWNER", "STATE", "RUNNING",
              "WAITING", "MODEL");
  for (const Listed& d : found) {
    const std::string pid = d.pid != 0 ? std::to_string(d.pid) : "-";
    if (!d.have_status) {
      std::printf("%-20s %8s %-10s %-14s %9s %8s  -\n", d.name.c_str(), pid.c_str(),
                  d.owner.c_str(), d.state.c_str(), "-", "-");
      continue;
    }
    const ringserve::ModelInfo& m = d.status.model;
    const std::string running =
        std::to_string(d.status.running) + "/" + std::to_string(d.status.max_concurrent);
    std::string model = m.path;
    if (m.format != "none") {
      model += " (" + m.architecture + ", " + m.format + ", context " +
               std::to_string(m.context_length) + ")";
    }
    std::printf("%-20s %8s %-10s %-14s %9s %8u  %s\n", d.name.c_str(), pid.c_str(), d.owner.c_str(),
                d.state.c_str(), running.c_str(), d.status.waiting, model.c_str());
  }
  return 0;
}

}  // namespace ringctl
