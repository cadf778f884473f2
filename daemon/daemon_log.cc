#include "daemon/daemon_log.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <system_error>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace ringserve::daemon {
namespace {

constexpr const char* kPattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";

// $XDG_STATE_HOME/ringserve, ~/.local/state/ringserve, or /tmp/ringserve-UID: the first that
// is absolute and can be made.
std::string default_log_dir() {
  std::vector<std::filesystem::path> candidates;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && state[0] == '/') {
    candidates.emplace_back(std::filesystem::path(state) / "ringserve");
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    candidates.emplace_back(std::filesystem::path(home) / ".local/state/ringserve");
  }
  candidates.emplace_back("/tmp/ringserve-" + std::to_string(::getuid()));
  for (const auto& dir : candidates) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!ec && ::access(dir.c_str(), W_OK) == 0) return dir.string();
  }
  return {};
}

}  // namespace

bool DaemonLog::open(const std::string& daemon_name, const std::string& log_file,
                     const std::string& level, std::string* error) {
  auto terminal = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  std::vector<spdlog::sink_ptr> sinks{terminal};
  file_ = log_file;
  if (file_.empty() && ::isatty(STDERR_FILENO) == 1) {
    const std::string dir = default_log_dir();
    if (!dir.empty()) {
      file_ = dir + "/" + daemon_name + ".log";
      quiet_terminal_after_start_ = true;
    }
  } else if (!file_.empty()) {
    terminal->set_level(spdlog::level::warn);
  }
  if (!file_.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file_));
    } catch (const spdlog::spdlog_ex& e) {
      *error = "log file " + file_ + ": " + e.what();
      return false;
    }
  }
  auto logger = std::make_shared<spdlog::logger>("ringserved", sinks.begin(), sinks.end());
  logger->set_pattern(kPattern);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (!file_.empty()) spdlog::flush_on(spdlog::level::info);
  return true;
}

void DaemonLog::started() {
  if (!quiet_terminal_after_start_) return;
  spdlog::info("the full log goes to {}; only warnings and errors are shown here from now on",
               file_);
  spdlog::default_logger()->sinks().front()->set_level(spdlog::level::warn);
}

}  // namespace ringserve::daemon
